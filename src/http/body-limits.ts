import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Config } from '../config.ts';
import { isEndpointPath } from '../endpoint-urls.ts';
import { answers, tooLargeSentence } from './errors.ts';

/**
 * Body size limits. MCP traffic (`/{slug}/…`) is streamed to the upstream and must stay
 * streamed: a declared `Content-Length` over MAX_MCP_BODY_BYTES is refused with 413 up front; a
 * declared one within it passes untouched, since the server's HTTP parser (Node's, workerd's)
 * never delivers more bytes than the header declares; a body of undeclared length (chunked) is
 * counted as it flows and cut off past the limit (the upstream request is aborted and the client
 * gets 413). Every other route reads small bodies whole: Hono's bodyLimit caps them at MAX_BODY_BYTES.
 */
export function bodyLimits(config: Pick<Config, 'maxBodyBytes' | 'maxMcpBodyBytes'>): MiddlewareHandler {
  const buffered = bodyLimit({
    maxSize: config.maxBodyBytes,
    onError: (c) => tooLarge(c.req.raw, config.maxBodyBytes),
  });
  return async (c, next) => {
    if (!isEndpointPath(c.req.path)) return buffered(c, next);
    const body = c.req.raw.body;
    if (!body) return next();
    const max = config.maxMcpBodyBytes;
    const plan = bodyPlan(c.req.method, c.req.raw.headers.get('content-length'), max);
    if (plan.kind === 'refuse') return mcpTooLarge(max);
    // Counting costs a JS stream on every message (the largest share on Workers): only a body
    // whose length nobody declared needs it.
    if (plan.kind !== 'count') return next();
    let exceeded = false;
    let size = 0;
    // Past the limit the upstream request is aborted, not just its body ended: workerd would
    // otherwise close the chunked body cleanly, and the upstream would take a prefix for the whole.
    const cutOff = new AbortController();
    const counted = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          size += chunk.byteLength;
          if (size > max) {
            exceeded = true;
            const error = new PayloadTooLargeError(max);
            cutOff.abort(error);
            controller.error(error);
          } else {
            controller.enqueue(chunk);
          }
        },
      }),
    );
    const signal = AbortSignal.any([c.req.raw.signal, cutOff.signal]);
    c.req.raw = new Request(c.req.raw, { body: counted, duplex: 'half', signal } as RequestInit);
    await next();
    if (exceeded) {
      await c.res.body?.cancel().catch(() => {});
      c.res = mcpTooLarge(max);
    }
  };
}

/**
 * What an MCP request's body may be, before anything is sent upstream, on every carrier: none
 * (GET, DELETE), refused up front (a declared length over MAX_MCP_BODY_BYTES), passed as it is (a
 * declared length within it: the server's HTTP parser never delivers more than it declares), or
 * counted as it flows (no declared length: cut off past the limit, and the client gets 413).
 */
export type BodyPlan = { kind: 'none' | 'refuse' | 'declared' | 'count' };

export function bodyPlan(method: string, declaredLength: string | null | undefined, max: number): BodyPlan {
  if (method === 'GET' || method === 'HEAD' || method === 'DELETE') return { kind: 'none' };
  if (declaredLength == null) return { kind: 'count' };
  return { kind: Number(declaredLength) > max ? 'refuse' : 'declared' };
}

export class PayloadTooLargeError extends Error {
  override name = 'PayloadTooLargeError';
  constructor(max: number) {
    super(tooLargeSentence(max));
  }
}

/** The answer to an MCP request whose body is over MAX_MCP_BODY_BYTES, declared or counted, on every carrier. */
export function mcpTooLarge(max: number): Response {
  return answers.mcpBodyTooLarge(max);
}

async function tooLarge(request: Request, max: number): Promise<Response> {
  if ((request.headers.get('accept') ?? '').includes('text/html')) return answers.formTooLarge(max);
  return answers.bodyTooLarge(max);
}
