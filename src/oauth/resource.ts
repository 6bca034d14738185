/**
 * Each endpoint is its own OAuth protected resource, `{PUBLIC_URL}/{slug}/mcp`, and every grant
 * and token is bound to exactly one of them.
 *
 * The legacy URL `{PUBLIC_URL}/{slug}/sse` is a second identifier of the same resource: SDK-based
 * clients (mcp-remote, the Inspector) connected to it require the metadata's `resource` to be a
 * prefix of that URL, so it has metadata of its own naming it. The authorization server maps it
 * to the endpoint (`slugFromResource`), so every grant and token is still for `/mcp`, and the
 * resource server on `/sse` accepts those tokens as its own.
 *
 * The URLs themselves are endpoint-urls.ts's grammar; these are their names in OAuth's terms.
 */
export {
  type EndpointKind as ResourcePath,
  endpointUrl as resourceUrl,
  resourceMetadataUrl,
  slugOfEndpointUrl as slugFromResource,
} from '../endpoint-urls.ts';
