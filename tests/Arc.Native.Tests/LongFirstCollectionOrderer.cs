using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: Xunit.TestCollectionOrderer("Arc.Native.Tests.LongFirstCollectionOrderer", "Arc.Native.Tests")]

namespace Arc.Native.Tests;

/// <summary>
/// Marks a test class (or a collection definition) that takes tens of seconds, mostly waiting on server processes it kills
/// and restarts or on a real object store: <see cref="LongFirstCollectionOrderer"/> starts these first, longest first.
/// </summary>
/// <param name="seconds">About how long the class takes in a full run (its tests' durations in a trx log).</param>
[AttributeUsage(AttributeTargets.Class)]
public sealed class LongRunningAttribute(int seconds) : Attribute
{
    public int Seconds => seconds;
}

/// <summary>
/// Starts the collections marked <see cref="LongRunningAttribute"/> before the others, longest first, then the others in
/// xunit's default order. xunit runs a fixed number of collections at a time and starts the next as one ends; a long collection
/// started last ran alone at the end of the run while the short ones had long finished, and one started first overlaps
/// its waits with the short ones' work.
/// </summary>
public sealed class LongFirstCollectionOrderer : ITestCollectionOrderer
{
    private const string ClassCollectionPrefix = "Test collection for ";

    public IEnumerable<ITestCollection> OrderTestCollections(IEnumerable<ITestCollection> testCollections) =>
        new DefaultTestCollectionOrderer().OrderTestCollections(testCollections).OrderByDescending(Seconds);

    private static int Seconds(ITestCollection collection)
    {
        var type = collection.CollectionDefinition?.ToRuntimeType()
            ?? (collection.DisplayName.StartsWith(ClassCollectionPrefix, StringComparison.Ordinal)
                ? typeof(LongFirstCollectionOrderer).Assembly.GetType(collection.DisplayName[ClassCollectionPrefix.Length..])
                : null);
        return type?.GetCustomAttributes(typeof(LongRunningAttribute), inherit: false) is [LongRunningAttribute attribute] ? attribute.Seconds : 0;
    }
}

public sealed class LongFirstCollectionOrdererTests
{
    /// <summary>A class in a named collection is not a collection of its own: its mark would be ignored without a word.</summary>
    [Fact]
    public void EveryMarkIsOnACollectionOfItsOwnOrOnACollectionDefinition()
    {
        var ignored = typeof(LongRunningAttribute).Assembly.GetTypes()
            .Where(t => t.IsDefined(typeof(LongRunningAttribute), inherit: false)
                        && t.IsDefined(typeof(CollectionAttribute), inherit: false)
                        && !t.IsDefined(typeof(CollectionDefinitionAttribute), inherit: false))
            .Select(t => t.Name);
        Assert.Empty(ignored);
    }
}
