// Audit (keep up to date when adding stackalloc or reading locals before writing them): the line-protocol reader has no
// stackalloc (lines straddling segments are copied to pooled arrays, see LineProtocolReader.ProcessCopiedLine); the
// MessagePack code has three, all written before they are read (MsgPackReader.Skip pushes a count before popping it,
// MsgPackDecoder.ReadRow copies "field_" and formats digits before slicing what was written, MsgPackDecoder.WriteValues
// hands on only the doubles ReadFloat64Run wrote); every local is definitely
// assigned by the C# rules, so no code relies on zero-initialised stack memory.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
