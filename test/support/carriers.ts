import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNodePlatform } from '../../src/adapters/node/platform.ts';
import { nodeRequestListener } from '../../src/adapters/node/server.ts';
import { createLogger } from '../../src/log.ts';
import { removeOnExit } from './exit-cleanup.ts';
import { freePort } from './server-process.ts';
import { type Running, workerTarget } from './targets.ts';

/**
 * The three carriers of a proxied MCP exchange: the Node server's own (raw node:http and undici,
 * src/adapters/node/fast-path.ts), the app on Node (web Request and Response through
 * @hono/node-server), and the app on the Worker (workerd under `wrangler dev`). The Node ones are
 * built here by the server's own `nodeRequestListener`, with and without its fast path, on a real
 * socket and the real SQLite or Redis store.
 */
export interface Carrier {
  name: string;
  /** Node only: the store can be taken away (a Redis outage). */
  node: boolean;
  start(env: Record<string, string>): Promise<Running>;
}

function nodeCarrier(name: string, fastPath: boolean): Carrier {
  return {
    name,
    node: true,
    async start(env) {
      const port = await freePort();
      let output = '';
      const built = await createNodePlatform(
        {
          PORT: String(port),
          HOST: '127.0.0.1',
          PUBLIC_URL: `http://localhost:${port}`,
          DATA_DIR: removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-carrier-'))),
          ALLOW_PRIVATE_UPSTREAMS: 'true',
          ...env,
        },
        { log: createLogger('debug', (line) => (output += `${line}\n`)) },
      );
      const server = createServer(nodeRequestListener(built, { fastPath }));
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      return {
        url: `http://localhost:${port}`,
        output: () => output,
        async stop() {
          server.closeAllConnections();
          await new Promise((resolve) => server.close(resolve));
          await built.close();
        },
      };
    },
  };
}

export function carriers(): Carrier[] {
  return [
    nodeCarrier('node, fast path', true),
    nodeCarrier('node, app', false),
    { name: 'workers', node: false, start: (env) => workerTarget.start(env) },
  ];
}
