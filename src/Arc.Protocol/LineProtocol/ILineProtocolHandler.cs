namespace Arc.Protocol.LineProtocol;

/// <summary>
/// Receives the result of <see cref="LineProtocolReader.Read{THandler}(ref THandler)"/>, one call per line.
/// Implement it on a struct (or ref struct) so the calls are devirtualised.
/// </summary>
public interface ILineProtocolHandler
{
    /// <summary>
    /// Called once per valid line, after the whole line was validated (a bad line never reaches <c>OnPoint</c>).
    /// Spans inside <paramref name="point"/> are valid only during the call.
    /// </summary>
    void OnPoint(in LinePoint point);

    /// <summary>Called once per rejected line; the reader then continues with the next line.</summary>
    void OnError(in LineProtocolError error);
}
