/**
 * Failures on MCP routes are answered as JSON-RPC errors, so every MCP client can show the
 * message; the HTTP status still says what happened (502 upstream unreachable, 504 timeout).
 */
export function jsonRpcError(status: number, message: string, code = -32000): Response {
  return Response.json(
    { jsonrpc: '2.0', id: null, error: { code, message } },
    { status, headers: { 'cache-control': 'no-store' } },
  );
}
