using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;

namespace Arc.Engine.Tests;

/// <summary>
/// The folders (namespaces) of Arc.Engine form layers, and a folder uses only the layers below it: the order documented
/// in docs/architecture.md ("Folder layering"). Two sources of references are checked. The compiled assembly: base types,
/// interfaces, fields, signatures and every token in the method bodies (closures and state machines count as the type
/// that declares them), so whatever the compiler emitted is seen. And the sources: <c>Arc.Engine.X</c> (usings, full
/// names) and <c>X.Y</c> from a sibling namespace, which also covers what leaves no trace in the IL (constants,
/// <c>nameof</c>, <c>cref</c>s).
/// </summary>
public sealed class EngineLayeringTests
{
    /// <summary>
    /// Bottom first; the folders of one layer do not use each other. A sub-folder belongs to its folder unless listed
    /// itself (Storage/Remote is listed, Export/Targets is part of Export). "" is the root namespace.
    /// </summary>
    private static readonly string[][] Layers =
    [
        ["Errors", "Scheduling"],
        ["DuckDb", "Buffers", "Metrics"],
        ["Storage"],
        ["Storage.Remote", "Wal", "Auth"],
        ["Ingest", "Query", "Compaction"],
        ["Export", "Retention", "ContinuousQueries"],
        [""],
    ];

    [Fact]
    public void EachFolderUsesOnlyTheLayersBelowIt()
    {
        var violations = CompiledReferences().Concat(SourceReferences())
            .Where(r => Layer(r.From) <= Layer(r.To))
            .Select(r => $"{Show(r.From)} -> {Show(r.To)}: {r.Example}")
            .Distinct()
            .Order()
            .ToList();
        Assert.True(violations.Count == 0, "A folder of Arc.Engine uses one at or above its own layer:\n" + string.Join("\n", violations));
    }

    private static int Layer(string folder)
    {
        var layer = Array.FindIndex(Layers, l => l.Contains(folder));
        Assert.True(layer >= 0, $"Arc.Engine.{folder} is in no layer: add it to EngineLayeringTests.Layers and docs/architecture.md");
        return layer;
    }

    private static string Show(string folder) => folder.Length == 0 ? "(root)" : folder;

    /// <summary>The folder a namespace of Arc.Engine belongs to ("" for the root), or null outside Arc.Engine.</summary>
    private static string? Folder(string ns)
    {
        if (ns == "Arc.Engine")
        {
            return "";
        }

        if (!ns.StartsWith("Arc.Engine.", StringComparison.Ordinal))
        {
            return null;
        }

        var folder = ns["Arc.Engine.".Length..];
        return Layers.Any(l => l.Contains(folder)) ? folder : folder.Split('.')[0];
    }

    /// <summary>Every use, in the compiled assembly, of a type of another folder.</summary>
    private static List<(string From, string To, string Example)> CompiledReferences()
    {
        using var pe = new PEReader(File.OpenRead(typeof(ArcEngine).Assembly.Location));
        var md = pe.GetMetadataReader();
        var found = new List<(string, string, string)>();
        foreach (var handle in md.TypeDefinitions)
        {
            var type = md.GetTypeDefinition(handle);
            var uses = new TypeUses(md);
            uses.Add(type.BaseType);
            foreach (var i in type.GetInterfaceImplementations())
            {
                uses.Add(md.GetInterfaceImplementation(i).Interface);
            }

            foreach (var f in type.GetFields())
            {
                md.GetFieldDefinition(f).DecodeSignature(uses, null);
            }

            foreach (var p in type.GetProperties())
            {
                md.GetPropertyDefinition(p).DecodeSignature(uses, null);
            }

            foreach (var m in type.GetMethods())
            {
                var method = md.GetMethodDefinition(m);
                method.DecodeSignature(uses, null);
                if (method.RelativeVirtualAddress != 0)
                {
                    uses.AddBody(pe.GetMethodBody(method.RelativeVirtualAddress));
                }
            }

            var (from, fromName) = Owner(md, handle);
            foreach (var used in uses.Types)
            {
                var (to, toName) = Owner(md, used);
                if (from is not null && to is not null && from != to)
                {
                    found.Add((from, to, $"{fromName} uses {toName}"));
                }
            }
        }

        return found;
    }

    /// <summary>The folder and name of the outermost type declaring a type (closures and state machines are nested).</summary>
    private static (string? Folder, string Name) Owner(MetadataReader md, TypeDefinitionHandle handle)
    {
        var type = md.GetTypeDefinition(handle);
        while (type.IsNested)
        {
            type = md.GetTypeDefinition(type.GetDeclaringType());
        }

        return (Folder(md.GetString(type.Namespace)), md.GetString(type.Name));
    }

    /// <summary>
    /// <c>Arc.Engine.X</c> anywhere in a source file, and <c>X.Name</c> (X a folder, not after a dot) as a sibling namespace
    /// names it, comments included: <c>cref</c>s must not point up either.
    /// </summary>
    private static IEnumerable<(string From, string To, string Example)> SourceReferences()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "arc-native.sln")))
        {
            root = root.Parent ?? throw new InvalidOperationException("arc-native.sln not found above " + AppContext.BaseDirectory);
        }

        var source = Path.Combine(root.FullName, "src", "Arc.Engine");
        var folders = string.Join('|', Layers.SelectMany(l => l).Where(f => f.Length > 0).Select(f => f.Split('.')[0]).Distinct());
        var reference = new Regex($@"\bArc\.Engine\.((?:{folders})(?:\.[A-Z]\w*)?)|(?<![\w.])((?:{folders})\.[A-Z]\w*)");
        foreach (var file in Directory.EnumerateFiles(source, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(source, file);
            if (relative.Split(Path.DirectorySeparatorChar)[0] is "obj" or "bin")
            {
                continue;
            }

            var text = File.ReadAllText(file);
            var from = Folder(Regex.Match(text, @"^namespace ([\w.]+);", RegexOptions.Multiline).Groups[1].Value)!;
            foreach (Match match in reference.Matches(text))
            {
                var name = match.Groups[1].Success ? match.Groups[1].Value : match.Groups[2].Value;
                var to = Folder("Arc.Engine." + name)!;
                if (to != from)
                {
                    var line = text[..match.Index].Count(c => c == '\n') + 1;
                    yield return (from, to, $"{relative}:{line} {match.Value}");
                }
            }
        }
    }

    /// <summary>
    /// Collects the type definitions of this assembly that signatures and IL tokens refer to. As a signature provider it
    /// records each type definition it meets; the decoded types themselves are not needed (<c>bool</c>, always false).
    /// </summary>
    private sealed class TypeUses(MetadataReader md) : ISignatureTypeProvider<bool, object?>
    {
        private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
            .GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => (OpCode)f.GetValue(null)!)
            .ToDictionary(o => o.Value);

        public HashSet<TypeDefinitionHandle> Types { get; } = [];

        public void Add(EntityHandle handle)
        {
            if (handle.IsNil)
            {
                return;
            }

            switch (handle.Kind)
            {
                case HandleKind.TypeDefinition:
                    Types.Add((TypeDefinitionHandle)handle);
                    break;
                case HandleKind.TypeSpecification:
                    md.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(this, null);
                    break;
                case HandleKind.MethodDefinition:
                    Add(md.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType());
                    break;
                case HandleKind.FieldDefinition:
                    Add(md.GetFieldDefinition((FieldDefinitionHandle)handle).GetDeclaringType());
                    break;
                case HandleKind.MemberReference:
                    Add(md.GetMemberReference((MemberReferenceHandle)handle).Parent);
                    break;
                case HandleKind.MethodSpecification:
                    var spec = md.GetMethodSpecification((MethodSpecificationHandle)handle);
                    Add(spec.Method);
                    spec.DecodeSignature(this, null);
                    break;
                case HandleKind.StandaloneSignature:
                    var signature = md.GetStandaloneSignature((StandaloneSignatureHandle)handle);
                    if (signature.GetKind() == StandaloneSignatureKind.Method)
                    {
                        signature.DecodeMethodSignature(this, null);
                    }
                    else
                    {
                        signature.DecodeLocalSignature(this, null);
                    }

                    break;
            }
        }

        /// <summary>The locals, the caught exception types and every token operand of a method body.</summary>
        public void AddBody(MethodBodyBlock body)
        {
            if (!body.LocalSignature.IsNil)
            {
                Add(body.LocalSignature);
            }

            foreach (var region in body.ExceptionRegions)
            {
                Add(region.CatchType);
            }

            var il = body.GetILReader();
            while (il.RemainingBytes > 0)
            {
                var first = il.ReadByte();
                var op = OpCodesByValue[first == 0xFE ? unchecked((short)(0xFE00 | il.ReadByte())) : first];
                switch (op.OperandType)
                {
                    case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineType
                        or OperandType.InlineTok or OperandType.InlineSig:
                        Add(MetadataTokens.EntityHandle(il.ReadInt32()));
                        break;
                    case OperandType.InlineSwitch:
                        var targets = il.ReadInt32(); // read before the offset it moves
                        il.Offset += 4 * targets;
                        break;
                    default:
                        il.Offset += op.OperandType switch
                        {
                            OperandType.InlineNone => 0,
                            OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                            OperandType.InlineVar => 2,
                            OperandType.InlineI8 or OperandType.InlineR => 8,
                            _ => 4,
                        };
                        break;
                }
            }
        }

        public bool GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind)
        {
            Types.Add(handle);
            return false;
        }

        public bool GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => false;
        public bool GetTypeFromSpecification(MetadataReader reader, object? context, TypeSpecificationHandle handle, byte rawTypeKind)
        {
            Add(handle);
            return false;
        }

        public bool GetPrimitiveType(PrimitiveTypeCode typeCode) => false;
        public bool GetSZArrayType(bool elementType) => false;
        public bool GetArrayType(bool elementType, ArrayShape shape) => false;
        public bool GetByReferenceType(bool elementType) => false;
        public bool GetPointerType(bool elementType) => false;
        public bool GetPinnedType(bool elementType) => false;
        public bool GetModifiedType(bool modifier, bool unmodifiedType, bool isRequired) => false;
        public bool GetFunctionPointerType(MethodSignature<bool> signature) => false;
        public bool GetGenericInstantiation(bool genericType, ImmutableArray<bool> typeArguments) => false;
        public bool GetGenericMethodParameter(object? genericContext, int index) => false;
        public bool GetGenericTypeParameter(object? genericContext, int index) => false;
    }
}
