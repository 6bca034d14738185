import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, type ServerConfig } from '../../../config.ts';
import type { Endpoint } from '../../../endpoints/endpoint.ts';
import { parseStdioServers, type StdioServer, StdioServersError } from '../../../endpoints/stdio-servers.ts';
import { createEndpointStore } from '../../../endpoints/store.ts';
import { deleteEndpoint } from '../../../manage/change.ts';
import { grantExists } from '../../../oauth/engine.ts';
import type { Platform } from '../../../platform.ts';
import { sandboxProblem } from './sandbox.ts';

/** The slugs declared by the last start, so a server taken out of the file is deleted with its grants. */
const DECLARED_KEY = 'k2o:stdio-declared';

/**
 * Start-up of the stdio servers named by STDIO_SERVERS: the file is read and checked (a bad one
 * stops start-up with its line and reason), the sandbox is tried, and each server becomes an
 * endpoint record, so discovery, registration, consent, tokens and `key2oauth endpoints list` treat
 * it as any endpoint. A declared slug that an endpoint created on the web already holds stops
 * start-up. Returns the host that runs the processes, or undefined when no file is named.
 */
export async function startStdio(server: ServerConfig, platform: Platform) {
  if (!server.stdioServers) return undefined;
  const file = resolve(server.stdioServers);
  let servers: StdioServer[];
  try {
    servers = parseStdioServers(readFileSync(file, 'utf8'), server.stdioServers);
  } catch (error) {
    if (error instanceof StdioServersError) throw new ConfigError(`STDIO_SERVERS ${error.message}`);
    throw new ConfigError(`STDIO_SERVERS names ${file}, which cannot be read: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const hidden = server.redisUrl ? [] : [server.dataDir];
  if (server.stdioSandbox === 'required') {
    const problem = sandboxProblem(hidden);
    if (problem) {
      throw new ConfigError(
        `STDIO_SANDBOX=required, but the sandbox does not work here: ${problem}. Install bubblewrap, or set STDIO_SANDBOX=off for development only`,
      );
    }
  } else {
    platform.log.warn('STDIO_SANDBOX=off: stdio servers run as plain child processes, without a sandbox; for development only');
  }
  await declareEndpoints(platform, servers);
  // Loaded only here: a deployment without stdio servers never loads the MCP SDK's transports.
  const { createStdioHost } = await import('./processes.ts');
  return createStdioHost(servers, {
    sandbox: server.stdioSandbox,
    hidden,
    log: platform.log,
    maxProcesses: server.stdioMaxProcesses,
    maxPerEndpoint: server.stdioMaxPerEndpoint,
    memoryMb: server.stdioMemoryMb,
    grantExists: (slug, grantId) => grantExists(platform, slug, grantId),
  });
}

async function declareEndpoints(platform: Platform, servers: StdioServer[]): Promise<void> {
  const store = createEndpointStore(platform.kv);
  for (const stdio of servers) {
    const existing = await store.get(stdio.slug);
    if (existing && existing.transport !== 'stdio') {
      throw new ConfigError(
        `STDIO_SERVERS declares the slug "${stdio.slug}", which an endpoint created on this server already has: choose another`,
      );
    }
    const record: Endpoint = {
      slug: stdio.slug,
      upstreamUrl: `stdio:${stdio.slug}`,
      displayName: stdio.name,
      // Each value the person pastes, by its label, for the variable the server reads it from
      // (child.ts sets them in order); a template like any endpoint's, so consent reads it alike.
      credentials: stdio.credentials.map((credential) => ({
        label: credential.label,
        in: 'header' as const,
        name: credential.env,
        prefix: '',
      })),
      transport: 'stdio',
      createdAt: existing?.createdAt ?? Math.floor(Date.now() / 1000),
    };
    if (JSON.stringify(existing) !== JSON.stringify(record)) await store.put(record);
  }
  const before = ((await platform.kv.get(DECLARED_KEY, 'json')) as string[] | null) ?? [];
  const now = servers.map((s) => s.slug);
  for (const slug of before) {
    const record = now.includes(slug) ? null : await store.get(slug);
    if (record?.transport === 'stdio') await deleteEndpoint(platform, slug);
  }
  await platform.kv.put(DECLARED_KEY, JSON.stringify(now));
}
