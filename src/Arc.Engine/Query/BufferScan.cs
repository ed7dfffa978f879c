using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Arc.Engine.Buffers;
using Arc.Engine.DuckDb;
using Arc.Engine.Storage;
using DuckDB.NET.Native;

namespace Arc.Engine.Query;

/// <summary>
/// The DuckDB table function <c>arc_buffer(database, measurement)</c>: the rows a measurement holds in memory (accepted,
/// not yet visible in Parquet), so queries read their writes. At bind time it takes a private copy of the buffer (the
/// copy and DuckDB's expansion of the Parquet glob happen under one lock, so each row is seen exactly once), then emits
/// it as DuckDB vectors: fixed-width columns are block copies, strings are assigned per value. Projection pushdown is
/// supported, so only the columns a query uses are emitted.
/// </summary>
internal static unsafe class BufferScan
{
    public static void Register(DuckDbConnection connection, IBufferSnapshotSource source)
    {
        var function = NativeMethods.TableFunction.DuckDBCreateTableFunction();
        try
        {
            NativeMethods.TableFunction.DuckDBTableFunctionSetName(function, Catalog.BufferFunction);
            using (var varchar = NativeMethods.LogicalType.DuckDBCreateLogicalType(DuckDBType.Varchar))
            {
                NativeMethods.TableFunction.DuckDBTableFunctionAddParameter(function, varchar);
                NativeMethods.TableFunction.DuckDBTableFunctionAddParameter(function, varchar);
            }

            NativeMethods.TableFunction.DuckDBTableFunctionSetExtraInfo(function, GCHandle.ToIntPtr(GCHandle.Alloc(source)), &FreeHandle);
            NativeMethods.TableFunction.DuckDBTableFunctionSetBind(function, &Bind);
            NativeMethods.TableFunction.DuckDBTableFunctionSetInit(function, &Init);
            NativeMethods.TableFunction.DuckDBTableFunctionSetFunction(function, &Scan);
            NativeMethods.TableFunction.DuckDBTableFunctionSupportsProjectionPushdown(function, true);
            if (NativeMethods.TableFunction.DuckDBRegisterTableFunction(connection.Handle, function) != DuckDBState.Success)
            {
                throw new DuckDbException($"could not register the {Catalog.BufferFunction} table function");
            }
        }
        finally
        {
            NativeMethods.TableFunction.DuckDBDestroyTableFunction(ref function);
        }
    }

    internal static DuckDBType TypeOf(ColumnKind kind) => kind switch
    {
        ColumnKind.Time => DuckDBType.TimestampNs,
        ColumnKind.Tag or ColumnKind.String => DuckDBType.Varchar,
        ColumnKind.Float => DuckDBType.Double,
        ColumnKind.Integer => DuckDBType.BigInt,
        ColumnKind.UInteger => DuckDBType.UnsignedBigInt,
        ColumnKind.Boolean => DuckDBType.Boolean,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void Bind(IntPtr info)
    {
        try
        {
            var source = (IBufferSnapshotSource)GCHandle.FromIntPtr(NativeMethods.TableFunction.DuckDBBindGetExtraInfo(info)).Target!;
            string database, measurement;
            using (var value = NativeMethods.TableFunction.DuckDBBindGetParameter(info, 0))
            {
                database = NativeMethods.Value.DuckDBGetVarchar(value);
            }

            using (var value = NativeMethods.TableFunction.DuckDBBindGetParameter(info, 1))
            {
                measurement = NativeMethods.Value.DuckDBGetVarchar(value);
            }

            var snapshot = source.Snapshot(database, measurement) ?? new ColumnSet(database, measurement);
            foreach (var column in snapshot.Columns)
            {
                using var type = NativeMethods.LogicalType.DuckDBCreateLogicalType(TypeOf(column.Kind));
                NativeMethods.TableFunction.DuckDBBindAddResultColumn(info, column.Name, type);
            }

            NativeMethods.TableFunction.DuckDBBindSetCardinality(info, (ulong)snapshot.RowCount, true);
            NativeMethods.TableFunction.DuckDBBindSetBindData(info, GCHandle.ToIntPtr(GCHandle.Alloc(snapshot)), &FreeSnapshot);
        }
        catch (Exception e)
        {
            NativeMethods.TableFunction.DuckDBBindSetError(info, $"{Catalog.BufferFunction}: {e.Message}");
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void Init(IntPtr info)
    {
        try
        {
            var count = (int)NativeMethods.TableFunction.DuckDBInitGetColumnCount(info);
            var state = new ScanState(new int[count]);
            for (var i = 0; i < count; i++)
            {
                state.Columns[i] = (int)NativeMethods.TableFunction.DuckDBInitGetColumnIndex(info, (ulong)i);
            }

            NativeMethods.TableFunction.DuckDBInitSetInitData(info, GCHandle.ToIntPtr(GCHandle.Alloc(state)), &FreeHandle);
        }
        catch (Exception e)
        {
            NativeMethods.TableFunction.DuckDBInitSetError(info, $"{Catalog.BufferFunction}: {e.Message}");
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void Scan(IntPtr info, IntPtr output)
    {
        try
        {
            var snapshot = (ColumnSet)GCHandle.FromIntPtr(NativeMethods.TableFunction.DuckDBFunctionGetBindData(info)).Target!;
            var state = (ScanState)GCHandle.FromIntPtr(NativeMethods.TableFunction.DuckDBFunctionGetInitData(info)).Target!;
            var start = state.Position;
            var rows = (int)Math.Min((ulong)(snapshot.RowCount - start), NativeMethods.Helpers.DuckDBVectorSize());
            for (var i = 0; i < state.Columns.Length; i++)
            {
                var column = state.Columns[i];
                // A query that uses no column (count(*)) still gets one projected index that may be a virtual row id.
                if ((uint)column < (uint)snapshot.Columns.Count)
                {
                    Fill(DuckDbExtra.DataChunkGetVector(output, (ulong)i), snapshot.Columns[column], start, rows);
                }
            }

            state.Position = start + rows;
            DuckDbExtra.DataChunkSetSize(output, (ulong)rows);
        }
        catch (Exception e)
        {
            NativeMethods.TableFunction.DuckDBFunctionSetError(info, $"{Catalog.BufferFunction}: {e.Message}");
        }
    }

    private static void Fill(IntPtr vector, ColumnBuffer column, int start, int rows)
    {
        var data = (byte*)NativeMethods.Vectors.DuckDBVectorGetData(vector);
        if (column.NullCount > 0)
        {
            NativeMethods.Vectors.DuckDBVectorEnsureValidityWritable(vector);
            var validity = NativeMethods.Vectors.DuckDBVectorGetValidity(vector);
            for (var i = 0; i < rows; i++)
            {
                if (!column.IsValid(start + i))
                {
                    validity[i >> 6] &= ~(1UL << (i & 63));
                }
            }
        }

        switch (column.Kind)
        {
            case ColumnKind.Boolean:
                for (var i = 0; i < rows; i++)
                {
                    data[i] = column.GetBoolean(start + i) ? (byte)1 : (byte)0;
                }

                break;
            case ColumnKind.Tag or ColumnKind.String:
                for (var i = 0; i < rows; i++)
                {
                    if (column.IsValid(start + i))
                    {
                        var value = column.GetBytes(start + i);
                        fixed (byte* bytes = value)
                        {
                            NativeMethods.Vectors.DuckDBVectorAssignStringElementLength(vector, (ulong)i, bytes, value.Length);
                        }
                    }
                }

                break;
            default:
                column.ValueBytes.Slice(start * 8, rows * 8).CopyTo(new Span<byte>(data, rows * 8));
                break;
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void FreeHandle(IntPtr handle) => GCHandle.FromIntPtr(handle).Free();

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void FreeSnapshot(IntPtr handle)
    {
        var gc = GCHandle.FromIntPtr(handle);
        ((ColumnSet)gc.Target!).Dispose();
        gc.Free();
    }

    private sealed class ScanState(int[] columns)
    {
        public int[] Columns { get; } = columns;

        public int Position { get; set; }
    }
}
