// Audit (keep up to date when adding stackalloc or reading locals before writing them): Arc.Protocol has no
// stackalloc (lines straddling segments are copied to pooled arrays, see LineProtocolReader.ProcessCopiedLine), and
// every local is definitely assigned by the C# rules, so no code relies on zero-initialised stack memory.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
