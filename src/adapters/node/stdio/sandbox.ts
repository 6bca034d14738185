import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * How a stdio server's process is started: under bubblewrap (`bwrap`, Debian's `bubblewrap`), or,
 * with `STDIO_SANDBOX=off` (development only), as a plain child process.
 *
 * The sandbox, flag by flag (bwrap(1)):
 * - `--unshare-all --share-net`: its own user, PID, IPC, UTS and cgroup namespaces; the network is
 *   kept, since servers call their APIs. In its own PID namespace, with `--proc /proc`, the process
 *   sees only its own sandbox's processes: another person's process, its environment and its
 *   command line do not exist for it.
 * - `--uid 65534 --gid 65534`: it runs as nobody inside its user namespace, never as root.
 * - `--ro-bind / /`: the system read-only; `--tmpfs /tmp` a private, empty /tmp (also its HOME);
 *   `--dev /dev` a minimal /dev; `--tmpfs <DATA_DIR>` hides the deployment's data directory
 *   (the SQLite store and the secret file) behind an empty one.
 * - `--die-with-parent`: the sandbox dies with the server, even on SIGKILL; `--new-session`: no
 *   access to the server's terminal (TIOCSTI).
 * The environment is the spawn's own (the clean one built in child.ts): nothing is passed with
 * `--setenv`, which would put a value on bwrap's command line, readable in /proc/PID/cmdline.
 *
 * Tried on Debian with bubblewrap 0.8, as root and as a plain user: every flag above
 * works; as root, `--unshare-user` is needed for `--uid` (it is part of `--unshare-all`).
 */

export type SandboxMode = 'required' | 'off';

export function sandboxedCommand(mode: SandboxMode, hidden: string[], command: string, args: string[]): { file: string; args: string[] } {
  if (mode === 'off') return { file: command, args };
  const hide = hidden
    .map((dir) => resolve(dir))
    // A directory under /tmp is already hidden by the private /tmp.
    .filter((dir) => dir !== '/' && dir !== '/tmp' && !dir.startsWith('/tmp/'))
    .flatMap((dir) => ['--tmpfs', dir]);
  return {
    file: 'bwrap',
    args: [
      '--unshare-all',
      '--share-net',
      '--die-with-parent',
      '--new-session',
      '--uid',
      '65534',
      '--gid',
      '65534',
      '--ro-bind',
      '/',
      '/',
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--tmpfs',
      '/tmp',
      ...hide,
      '--chdir',
      '/tmp',
      '--',
      command,
      ...args,
    ],
  };
}

/**
 * Whether bubblewrap runs here with the flags above, tried once at start-up with `true` inside:
 * a missing package, or a kernel or container that forbids user namespaces, is found before the
 * first person's request. Returns the problem, or undefined.
 */
export function sandboxProblem(hidden: string[]): string | undefined {
  const { file, args } = sandboxedCommand('required', hidden, 'true', []);
  const result = spawnSync(file, args, { encoding: 'utf8', timeout: 10_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  if (result.error) {
    return (result.error as NodeJS.ErrnoException).code === 'ENOENT'
      ? 'bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)'
      : `bwrap could not be started: ${result.error.message}`;
  }
  if (result.status !== 0) return `bwrap failed: ${(result.stderr || `exit code ${result.status}`).trim().slice(0, 300)}`;
  return undefined;
}
