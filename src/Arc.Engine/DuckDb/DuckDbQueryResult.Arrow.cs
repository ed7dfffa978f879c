using System.Runtime.InteropServices;
using Apache.Arrow;
using Apache.Arrow.C;
using DuckDB.NET.Native;

namespace Arc.Engine.DuckDb;

public sealed partial class DuckDbQueryResult
{
    /// <summary>
    /// The result's Arrow schema, from DuckDB's own type mapping (<c>duckdb_to_arrow_schema</c> with the connection's
    /// Arrow options: plain utf8 strings, not string views; TIMESTAMP_NS as timestamp[ns]). Returns null and the reason
    /// when a column has no Arrow type.
    /// </summary>
    internal unsafe Schema? ArrowSchema(DuckDBArrowOptions options, out string? error)
    {
        var count = ColumnCount;
        var types = new IntPtr[count];
        var names = new IntPtr[count];
        var schema = CArrowSchema.Create();
        try
        {
            for (var i = 0; i < count; i++)
            {
                types[i] = _types[i].DangerousGetHandle();
                names[i] = Marshal.StringToCoTaskMemUTF8(_names[i]);
            }

            fixed (IntPtr* typesPointer = types)
            fixed (IntPtr* namesPointer = names)
            {
                using var failure = NativeMethods.Arrow.DuckDBToArrowSchema(options, (IntPtr)typesPointer, (IntPtr)namesPointer, (ulong)count, (IntPtr)schema);
                if (!failure.IsInvalid && NativeMethods.ErrorData.DuckDBErrorDataHasError(failure))
                {
                    error = NativeMethods.ErrorData.DuckDBErrorDataMessage(failure);
                    return null;
                }
            }

            error = null;
            return CArrowSchemaImporter.ImportSchema(schema);
        }
        finally
        {
            foreach (var name in names)
            {
                Marshal.FreeCoTaskMem(name);
            }

            CArrowSchema.Free(schema);
        }
    }

    /// <summary>The Arrow options DuckDB derives from the result's connection (its arrow_* settings).</summary>
    internal DuckDBArrowOptions ArrowOptions()
    {
        if (_builtOn is null)
        {
            return NativeMethods.Arrow.DuckDBResultGetArrowOptions(ref _result);
        }

        DuckDbExtra.ConnectionGetArrowOptions(_builtOn.Handle.DangerousGetHandle(), out var options);
        return options;
    }
}
