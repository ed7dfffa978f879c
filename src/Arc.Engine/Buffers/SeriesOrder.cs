using System.Buffers;
using System.IO.Hashing;
using System.Numerics;

namespace Arc.Engine.Buffers;

/// <summary>
/// The order of a flush's rows by series, as compaction's merges order them: UTC hour (a flush writes one file per hour),
/// then each tag column in column order (values byte by byte, nulls last: DuckDB's <c>ORDER BY</c> and the sorted merge),
/// then time, rows with equal keys in arrival order. Each tag column's distinct values are ranked once (a hash table over
/// the column's bytes), so the sort is a radix sort of one 64-bit key per row: the hour, the ranks and the row's place in
/// time order, side by side.
/// </summary>
internal static class SeriesOrder
{
    /// <summary>An hour in nanoseconds: the span of a partition.</summary>
    public const long NanosPerHour = 3_600_000_000_000;

    /// <summary>
    /// Fills <paramref name="order"/> with the row numbers of <paramref name="set"/> in series order, given
    /// <paramref name="timeOrder"/> (its rows in time order, arrival order among equal times). The key is the hour, each tag
    /// column's rank and the row's place, side by side; when the tags' ranks do not fit in it (five tags of over 500
    /// distinct values each in a flush of 250,000 rows), the rank of each row's whole series takes their place (as many bits
    /// as the row number at most). False when even that does not fit (flushes of over two million rows with tags of nearly
    /// as many values), and the caller keeps time order. <paramref name="unique"/>: no two rows share their tags and time.
    /// </summary>
    public static bool TryOrder(ColumnSet set, ReadOnlySpan<int> timeOrder, Span<int> order, out bool unique)
    {
        unique = false;
        var rows = set.RowCount;
        var tags = new List<ColumnBuffer>();
        foreach (var column in set.Columns)
        {
            if (column.Kind == ColumnKind.Tag)
            {
                tags.Add(column);
            }
        }

        var rowBits = BitLength((ulong)rows);
        var firstHour = HourOf(set.MinTime);
        var hourBits = BitLength((ulong)(HourOf(set.MaxTime) - firstHour));
        var rankArrays = new int[]?[tags.Count];
        var rankBits = new int[tags.Count];
        var keysArray = ArrayPool<long>.Shared.Rent(rows);
        try
        {
            var bits = hourBits + rowBits;
            var columns = 0; // rank arrays side by side in the key; once folded, the first holds each row's whole series
            for (var t = 0; t < tags.Count; t++)
            {
                var ranks = rankArrays[t] = ArrayPool<int>.Shared.Rent(rows);
                rankBits[t] = BitLength((ulong)Rank(tags[t], rows, ranks));
                if (columns == t && bits + rankBits[t] <= 63)
                {
                    (bits, columns) = (bits + rankBits[t], columns + 1);
                    continue;
                }

                // The tags' ranks side by side do not fit (many tags of many values): rank whole series instead, of
                // which there are at most as many as rows, folding each further tag in as it comes.
                if (!RankSeries(rankArrays, rankBits, t + 1, rows, rowBits, keysArray))
                {
                    return false;
                }

                (bits, columns) = (hourBits + rankBits[0] + rowBits, 1);
            }

            if (bits > 63)
            {
                return false;
            }

            var keys = keysArray.AsSpan(0, rows);
            var time = set.Time;
            for (var i = 0; i < rows; i++)
            {
                var row = timeOrder[i];
                var key = HourOf(time.GetInt64(row)) - firstHour;
                for (var t = 0; t < columns; t++)
                {
                    key = (key << rankBits[t]) | (uint)rankArrays[t]![row];
                }

                keys[i] = (key << rowBits) | (uint)i;
            }

            ColumnSet.RadixSort(keys, bits);
            var mask = (1L << rowBits) - 1;
            unique = true;
            for (var i = 0; i < rows; i++)
            {
                order[i] = timeOrder[(int)(keys[i] & mask)];
                if (i > 0 && unique && keys[i] >> rowBits == keys[i - 1] >> rowBits && time.GetInt64(order[i]) == time.GetInt64(order[i - 1]))
                {
                    unique = false;
                }
            }

            return true;
        }
        finally
        {
            ArrayPool<long>.Shared.Return(keysArray);
            foreach (var ranks in rankArrays)
            {
                if (ranks is not null)
                {
                    ArrayPool<int>.Shared.Return(ranks);
                }
            }
        }
    }

    /// <summary>
    /// Folds the ranks of the first <paramref name="count"/> tags not folded yet into the first array, returning their
    /// arrays to the pool: each row's rank among the distinct combinations of those tags (in tag order), with its bits in
    /// <c>rankBits[0]</c>. One tag at a time: the series so far and the next tag's rank, side by side above the row number,
    /// radix-sorted and numbered densely. False when one such key does not fit in 63 bits.
    /// </summary>
    private static bool RankSeries(int[]?[] ranks, int[] rankBits, int count, int rows, int rowBits, long[] keysArray)
    {
        var series = ranks[0]!;
        var keys = keysArray.AsSpan(0, rows);
        var mask = (1L << rowBits) - 1;
        for (var t = 1; t < count; t++)
        {
            if (ranks[t] is not { } next)
            {
                continue; // folded already
            }

            var bits = rankBits[0] + rankBits[t] + rowBits;
            if (bits > 63)
            {
                return false;
            }

            for (var row = 0; row < rows; row++)
            {
                keys[row] = ((((long)series[row] << rankBits[t]) | (uint)next[row]) << rowBits) | (uint)row;
            }

            ColumnSet.RadixSort(keys, bits);
            var (id, previous) = (-1, -1L);
            foreach (var key in keys)
            {
                if (key >> rowBits != previous)
                {
                    (id, previous) = (id + 1, key >> rowBits);
                }

                series[(int)(key & mask)] = id;
            }

            rankBits[0] = BitLength((ulong)id);
            ArrayPool<int>.Shared.Return(next);
            ranks[t] = null;
        }

        return true;
    }

    /// <summary>
    /// Writes each row's rank among the column's distinct values (byte order; a null ranks after every value) to
    /// <paramref name="ranks"/> and returns the highest rank.
    /// </summary>
    private static int Rank(ColumnBuffer column, int rows, int[] ranks)
    {
        var slots = ArrayPool<int>.Shared.Rent(64);
        var firstRows = ArrayPool<int>.Shared.Rent(16);
        var capacity = 64;
        slots.AsSpan(0, capacity).Clear();
        var distinct = 0;
        try
        {
            var hasNulls = column.NullCount > 0;
            var (previous, previousId) = (-1, -1);
            for (var row = 0; row < rows; row++)
            {
                if (hasNulls && !column.IsValid(row))
                {
                    ranks[row] = -1;
                    continue;
                }

                var value = column.GetBytes(row);
                if (previous >= 0 && value.SequenceEqual(column.GetBytes(previous)))
                {
                    ranks[row] = previousId; // a tag of few values often repeats from one row to the next
                    continue;
                }

                var slot = (int)XxHash3.HashToUInt64(value) & (capacity - 1);
                while (slots[slot] != 0 && !value.SequenceEqual(column.GetBytes(firstRows[slots[slot] - 1])))
                {
                    slot = (slot + 1) & (capacity - 1);
                }

                int id;
                if (slots[slot] != 0)
                {
                    id = slots[slot] - 1;
                }
                else
                {
                    if (distinct == firstRows.Length)
                    {
                        firstRows = Grow(firstRows, distinct);
                    }

                    id = distinct;
                    firstRows[distinct++] = row;
                    slots[slot] = distinct;
                    if (2 * distinct > capacity)
                    {
                        capacity *= 2;
                        ArrayPool<int>.Shared.Return(slots);
                        slots = Rehash(column, firstRows, distinct, capacity);
                    }
                }

                (ranks[row], previous, previousId) = (id, row, id);
            }

            // Ids are in order of first appearance; each gets its value's place in byte order.
            var byValue = new int[distinct];
            for (var id = 0; id < distinct; id++)
            {
                byValue[id] = id;
            }

            var first = firstRows;
            Array.Sort(byValue, (a, b) => column.GetBytes(first[a]).SequenceCompareTo(column.GetBytes(first[b])));
            var rankOfId = new int[distinct];
            for (var rank = 0; rank < distinct; rank++)
            {
                rankOfId[byValue[rank]] = rank;
            }

            for (var row = 0; row < rows; row++)
            {
                ranks[row] = ranks[row] < 0 ? distinct : rankOfId[ranks[row]];
            }

            return hasNulls ? distinct : Math.Max(0, distinct - 1);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(slots);
            ArrayPool<int>.Shared.Return(firstRows);
        }
    }

    private static int[] Grow(int[] array, int used)
    {
        var larger = ArrayPool<int>.Shared.Rent(array.Length * 2);
        array.AsSpan(0, used).CopyTo(larger);
        ArrayPool<int>.Shared.Return(array);
        return larger;
    }

    private static int[] Rehash(ColumnBuffer column, int[] firstRows, int distinct, int capacity)
    {
        var slots = ArrayPool<int>.Shared.Rent(capacity);
        slots.AsSpan(0, capacity).Clear();
        for (var id = 0; id < distinct; id++)
        {
            var slot = (int)XxHash3.HashToUInt64(column.GetBytes(firstRows[id])) & (capacity - 1);
            while (slots[slot] != 0)
            {
                slot = (slot + 1) & (capacity - 1);
            }

            slots[slot] = id + 1;
        }

        return slots;
    }

    /// <summary>The UTC hour (hours since the Unix epoch) a time in Unix nanoseconds falls in.</summary>
    public static long HourOf(long unixNanos) => Math.DivRem(unixNanos, NanosPerHour) switch
    {
        var (q, r) when r < 0 => q - 1,
        var (q, _) => q,
    };

    private static int BitLength(ulong value) => 64 - BitOperations.LeadingZeroCount(value);
}
