import pino, { type Logger, type DestinationStream } from 'pino';
import { prettyFactory } from 'pino-pretty';

export type { Logger } from 'pino';

/**
 * The one pino logger of a process; every component logs through a child carrying its name.
 * Logs go to stderr so that a command's stdout stays its output (a verify report, a URL).
 */
export function createLogger(level: string, destination: DestinationStream = defaultDestination()): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Keys and passwords travel in headers and URLs; they are never logged.
      redact: { paths: ['req.headers.authorization', 'headers.authorization', 'password', '*.password', 'databaseUrl'], censor: '[redacted]' },
    },
    destination,
  );
}

export function componentLogger(root: Logger, component: string): Logger {
  return root.child({ component });
}

/**
 * On a terminal, log lines are printed readably (pino-pretty, synchronously, on stderr); piped
 * or redirected they stay one JSON object per line, for log shippers. `LOG_FORMAT=json` keeps
 * JSON on a terminal too.
 */
export const prettyLine: ((line: string) => string) | undefined =
  process.stderr.isTTY && process.env.LOG_FORMAT !== 'json' ? prettyFactory({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }) : undefined;

function defaultDestination(): DestinationStream {
  const pretty = prettyLine;
  if (!pretty) return pino.destination({ fd: 2, sync: true });
  return { write: (line: string) => void process.stderr.write(pretty(line)) };
}
