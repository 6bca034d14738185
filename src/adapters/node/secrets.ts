import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, secretProblem } from '../../config.ts';
import { randomToken } from '../../crypto.ts';

/**
 * The deployment secret, generated on first start into DATA_DIR and reused after, so rate-limit
 * buckets and anything else keyed by it survive restarts. Readable by the owner only.
 *
 * An empty file (a crash between creating and writing it) has never keyed anything, so it is
 * replaced. A weak one stops start-up: it may be an operator's, and silently replacing it would
 * break every replica that shares it; silently using it would let anyone who guesses it forge our
 * MACs (legacy SSE message URLs).
 */
export function loadOrCreateSecret(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'secret.key');
  const existing = read(file);
  if (existing === undefined) {
    const secret = randomToken(32);
    // 'wx' fails if another process created it meanwhile; then theirs wins and we read it.
    try {
      writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
      return secret;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return loadOrCreateSecret(dataDir);
    }
  }
  if (existing === '') {
    // Written whole under another name, then renamed over: never seen half-written.
    const secret = randomToken(32);
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${secret}\n`, { mode: 0o600 });
    renameSync(temporary, file);
    return secret;
  }
  const problem = secretProblem(file, existing);
  if (problem) throw new ConfigError(`${problem}, or delete the file to have a new one generated (endpoints and grants are kept).`);
  return existing;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
