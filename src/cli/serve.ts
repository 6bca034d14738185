import { startFromEnvironment } from '../adapters/node/server.ts';
import { runWithYoungGenerationCap } from '../adapters/node/young-generation.ts';
import type { Command } from './command.ts';

export const command: Command = {
  help: `Usage: key2oauth serve

Runs the self-hosted server on its embedded SQLite store, or on Redis when REDIS_URL is set (several
replicas). Every setting comes from the environment (PORT, HOST, PUBLIC_URL, DATA_DIR, REDIS_URL, …;
docs/configuration.md lists every one).`,
  async run(args) {
    if (args.length > 0) {
      process.stderr.write(`key2oauth serve takes no arguments (got ${args.join(' ')}); settings come from the environment\n`);
      return 2;
    }
    runWithYoungGenerationCap();
    await startFromEnvironment(process.env);
    return 0;
  },
};
