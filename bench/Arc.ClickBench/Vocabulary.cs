using System.Text;

namespace Arc.ClickBench;

/// <summary>
/// Deterministic text material: pseudo-Russian words (Cyrillic UTF-8, 2 bytes a letter, as the obfuscated data mostly
/// is), some Latin words, host names and path pieces. Built once from fixed syllables, so no external word list is needed.
/// </summary>
internal static class Vocabulary
{
    private static readonly string[] Syllables =
    [
        "ка", "ре", "лки", "по", "ва", "ни", "ст", "ра", "ко", "ми", "ло", "да", "те", "ны", "бо", "ру", "ла", "ро", "жи", "ше",
        "ть", "ий", "ые", "ов", "ан", "ен", "ор", "ус", "эл", "юр", "ям", "це", "чи", "фо", "хо", "зд", "ск", "пр", "гр", "сл",
    ];

    private static readonly string[] LatinWords =
    [
        "galaxy", "samsung", "online", "kino", "2013", "iphone", "download", "free", "hd", "torrent", "s4", "zoom", "mp3",
        "minecraft", "windows", "google", "nokia", "sony", "lg", "video", "table", "photo", "map", "lada", "bmw",
    ];

    private static readonly string[] Tlds = [".ru", ".ru", ".ru", ".com", ".net", ".ua", ".info", ".org", ".su", ".by"];

    private static readonly string[] PathWords =
    [
        "catalog", "index", "news", "item", "search", "page", "view", "album", "forum", "topic", "cars", "real-estate", "board",
        "user", "profile", "goods", "detail", "list", "photo", "video", "articles", "cat", "shop", "products", "showtopic",
        "login", "register", "cart", "order", "category", "region", "sale", "rent", "jobs", "auto", "moto", "dom", "kvartiry",
    ];

    public static readonly string[] Words = BuildWords(4000);

    public static readonly string[] Hosts = BuildHosts(6000);

    private static string[] BuildWords(int count)
    {
        var random = new Random64(0xC11C4BE7);
        var words = new string[count];
        var text = new StringBuilder();
        for (var i = 0; i < count; i++)
        {
            if (i % 13 == 7)
            {
                words[i] = LatinWords[i % LatinWords.Length];
                continue;
            }

            text.Clear();
            var syllables = 2 + random.Below(3);
            for (var s = 0; s < syllables; s++)
            {
                text.Append(Syllables[random.Below(Syllables.Length)]);
            }

            words[i] = text.ToString();
        }

        return words;
    }

    private static string[] BuildHosts(int count)
    {
        var random = new Random64(0x4057);
        var hosts = new string[count];
        var text = new StringBuilder();
        const string letters = "abcdefghijklmnopqrstuvwxyz";
        for (var i = 0; i < count; i++)
        {
            text.Clear();
            var length = 3 + random.Below(10);
            for (var c = 0; c < length; c++)
            {
                text.Append(letters[random.Below(letters.Length)]);
                if (c > 1 && c < length - 2 && random.Chance(0.08))
                {
                    text.Append('-');
                }
            }

            text.Append(Tlds[random.Below(Tlds.Length)]);
            hosts[i] = text.ToString();
        }

        return hosts;
    }

    public static string PathWord(ulong h) => PathWords[(int)(h % (ulong)PathWords.Length)];

    /// <summary>A Zipf-like word pick: frequent words are frequent.</summary>
    public static string Word(ulong h)
    {
        var x = (h >> 11) * (1.0 / (1UL << 53));
        return Words[(int)(Words.Length * Math.Pow(x, 1.6))];
    }
}
