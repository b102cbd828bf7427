/**
 * The logger interface: pino-compatible (`logger.info({ ctx }, 'text')`), console by default,
 * and `logger: null` silences everything.
 */

/** Anything with pino's four level methods works, including pino itself. */
export interface Logger {
  debug(context: Record<string, unknown>, message: string): void;
  info(context: Record<string, unknown>, message: string): void;
  warn(context: Record<string, unknown>, message: string): void;
  error(context: Record<string, unknown>, message: string): void;
}

/** Log levels by severity; a logger drops lines below its level, and `silent` drops them all. */
export const LogLevel = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
/** The name of a {@link LogLevel}. */
export type LogLevel = keyof typeof LogLevel;

/**
 * Console logger in FastStream's access-log shape: `time LEVEL - <where> | <message id> - text`.
 * @defaultValue level `info`
 */
export function consoleLogger(level: LogLevel = 'info'): Logger {
  const threshold = LogLevel[level];
  const write = (name: Exclude<LogLevel, 'silent'>) => (context: Record<string, unknown>, message: string) => {
    if (LogLevel[name] < threshold) return;
    const where = typeof context['subscriber'] === 'string' ? context['subscriber'] : 'redstream';
    const id = typeof context['messageId'] === 'string' ? ` | ${context['messageId'].slice(0, 10)}` : '';
    const line = `${new Date().toISOString()} ${name.toUpperCase().padEnd(5)} - ${where}${id} - ${message}`;
    const error = context['err'];
    if (name === 'error' || name === 'warn') console.error(line, ...(error instanceof Error ? [error] : []));
    else console.log(line);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

const noop = (): void => undefined;

/** A logger that drops everything. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/**
 * `undefined` → console (at the level in `REDSTREAM_LOG_LEVEL`, which `redstream run --log-level`
 * sets, else `info`), `null` → silent, else the given logger.
 */
export function resolveLogger(logger: Logger | null | undefined): Logger {
  if (logger === null) return silentLogger;
  return logger ?? consoleLogger(envLevel());
}

function envLevel(): LogLevel {
  const level = process.env['REDSTREAM_LOG_LEVEL'];
  return level !== undefined && level in LogLevel ? (level as LogLevel) : 'info';
}
