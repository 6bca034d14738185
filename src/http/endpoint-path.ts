/** Paths under an endpoint (`/{slug}/…`): MCP traffic, streamed to the upstream and relayed back. */
export const ENDPOINT_PATH = /^\/[A-Za-z0-9]{12}\//;
