import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { StdioServer } from '../../../endpoints/stdio-servers.ts';
import type { Logger } from '../../../log.ts';
import { watchMemory } from './memory.ts';
import { type SandboxMode, sandboxedCommand } from './sandbox.ts';

/** Time a process gets to exit after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 3000;
/** A stderr line is cut to this many characters in the log. */
const MAX_STDERR_LINE = 2000;

export interface ChildOptions {
  sandbox: SandboxMode;
  /** Directories the process must not see (DATA_DIR): hidden under an empty tmpfs. */
  hidden: string[];
  log: Logger;
  /** The deployment's memory limit in MB (STDIO_MEMORY_MB; 0: none), unless the server declares its own. */
  memoryMb: number;
}

/**
 * One stdio MCP server process as an MCP SDK `Transport`: JSON-RPC over its stdin and stdout,
 * framed by the SDK's own `ReadBuffer` and `serializeMessage` (one message a line). The SDK's
 * `StdioClientTransport` spawns by itself, without a sandbox and with the server's environment
 * merged in, so the spawning is ours.
 *
 * Its environment is built from nothing: a minimal PATH (with this Node's directory, so `node` and
 * `npx` are found), HOME (the private /tmp), LANG, the operator's declared `env`, and each
 * credential in its declared variable. Never the server's own environment (KEY2OAUTH_SECRET,
 * REDIS_URL, ADMIN_TOKEN, …), and never a value on a command line.
 */
export class StdioChild implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  /** How it ended, once it has: an exit code or a signal, or a failure to start. */
  ended: string | undefined;
  /** Whether it was stopped for going over its memory limit (memory.ts). */
  overMemory = false;
  readonly pid: number | undefined;
  private readonly process: ChildProcessWithoutNullStreams;
  private readonly buffer = new ReadBuffer();
  private readonly exited: Promise<void>;

  constructor(server: StdioServer, credentials: string[], options: ChildOptions) {
    const env: Record<string, string> = {
      PATH: `${dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      HOME: '/tmp',
      LANG: 'C.UTF-8',
      ...server.env,
    };
    server.credentials.forEach((credential, index) => {
      env[credential.env] = credentials[index] ?? '';
    });
    const { file, args } = sandboxedCommand(options.sandbox, options.hidden, server.command, server.args);
    this.process = spawn(file, args, {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
      // Its own process group, so stopping it stops whatever it started (npx starts node).
      detached: true,
      cwd: options.sandbox === 'off' ? undefined : '/',
    });
    this.pid = this.process.pid;
    this.exited = new Promise((resolve) => this.process.once('close', () => resolve()));
    this.process.once('error', (error) => {
      this.ended ??= `could not start: ${error.message}`;
      this.onerror?.(error);
    });
    const limitMb = server.memoryMb ?? options.memoryMb;
    const unwatch =
      this.pid && limitMb > 0
        ? watchMemory(this.pid, limitMb, (residentMb, tree) => {
            this.overMemory = true;
            this.ended ??= `was stopped: it went over its memory limit of ${limitMb} MB`;
            options.log.warn('stdio memory limit reached', { slug: server.slug, limit_mb: limitMb, resident_mb: residentMb });
            // The group, and each process of the tree by its pid: one that left the group (setsid)
            // is still stopped. Under bubblewrap, the sandbox's PID namespace goes with its first process.
            signalGroup(this.pid!, 'SIGKILL');
            for (const pid of tree) signalProcess(pid, 'SIGKILL');
          })
        : () => {};
    this.process.once('exit', (code, signal) => {
      unwatch();
      this.ended ??= signal ? `stopped by ${signal}` : `exited with code ${code}`;
    });
    this.process.once('close', () => this.onclose?.());
    this.process.stdout.on('data', (chunk: Buffer) => {
      this.buffer.append(chunk);
      for (;;) {
        let message: JSONRPCMessage | null;
        try {
          message = this.buffer.readMessage();
        } catch (error) {
          // A line that is not JSON-RPC (a server printing to stdout): skipped, as the SDK does.
          this.onerror?.(error as Error);
          continue;
        }
        if (!message) break;
        this.onmessage?.(message);
      }
    });
    // A pipe closed under a write (the process died): the exit is what reports it.
    this.process.stdin.on('error', () => {});
    maskedLines(this.process.stderr, credentials, (line) =>
      options.log.warn('stdio server stderr', { slug: server.slug, line: line.slice(0, MAX_STDERR_LINE) }),
    );
  }

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.ended || !this.process.stdin.writable) throw new Error('the server process has ended');
    const line = serializeMessage(message);
    if (!this.process.stdin.write(line)) await new Promise((resolve) => this.process.stdin.once('drain', resolve));
  }

  /** SIGTERM to its process group, SIGKILL after a grace period; resolves once it has exited. */
  async close(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null && this.pid) {
      signalGroup(this.pid, 'SIGTERM');
      const force = setTimeout(() => signalGroup(this.pid!, 'SIGKILL'), STOP_GRACE_MS);
      await this.exited;
      clearTimeout(force);
    }
    this.buffer.clear();
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  signalProcess(-pid, signal);
}

function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Servers print their own key more often than one would think (a debug line, an error quoting the
 * request): every line of stderr goes to the log with each of the person's credential values
 * replaced by `[redacted]`. Lines are split on newlines, so a value never spans two log lines.
 */
export function maskedLines(stream: NodeJS.ReadableStream, secrets: string[], write: (line: string) => void): void {
  const values = secrets.filter((value) => value.length > 0).sort((a, b) => b.length - a.length);
  let pending = '';
  const emit = (line: string) => {
    let masked = line;
    for (const value of values) masked = masked.split(value).join('[redacted]');
    if (masked.trim()) write(masked);
  };
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    // A line longer than any log line is cut, but only after masking the whole of it.
    if (pending.length > 64 * 1024) {
      emit(pending);
      pending = '';
    }
    for (const line of lines) emit(line);
  });
  stream.on('end', () => emit(pending));
}
