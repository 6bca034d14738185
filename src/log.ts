import type { LogLevel } from './config.ts';

/**
 * Structured logs, one JSON object a line. Every field passes through `redact()` first, so a
 * token, code, key or secret can never reach the output even when a caller passes one by mistake.
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** Whether lines at `level` are written: per-request logging checks it before building a line. */
  enabled(level: Exclude<LogLevel, 'silent'>): boolean;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Field names whose values are secrets wherever they appear, at any depth. */
const SECRET_FIELD = /(authorization|cookie|token|secret|password|api[_-]?key|^key$|code|verifier|handle|props)/i;
/** Values that look like credentials even under an innocent name (bearer values, engine tokens). */
const SECRET_VALUE = [/Bearer\s+\S+/gi, /\b[\w-]{1,64}:[\w-]{8,}:[\w-]{16,}\b/g];

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[…]';
  if (typeof value === 'string') {
    return SECRET_VALUE.reduce((text, pattern) => text.replace(pattern, '[redacted]'), value);
  }
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  if (value instanceof Error) return { name: value.name, message: redact(value.message, depth + 1) };
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [name, field] of Object.entries(value)) {
      out[name] = SECRET_FIELD.test(name) ? '[redacted]' : redact(field, depth + 1);
    }
    return out;
  }
  return value;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (line) => console.log(line)): Logger {
  const threshold = ORDER[level];
  const emit = (at: Exclude<LogLevel, 'silent'>, message: string, fields?: Record<string, unknown>) => {
    if (ORDER[at] < threshold) return;
    const entry = { time: new Date().toISOString(), level: at, msg: redact(message), ...(redact(fields ?? {}) as object) };
    write(JSON.stringify(entry));
  };
  return {
    debug: (message, fields) => emit('debug', message, fields),
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    enabled: (at) => ORDER[at] >= threshold,
  };
}
