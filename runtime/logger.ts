import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/**
 * The one pino logger of a process; every component logs through a child carrying its name.
 * Logs go to stderr so that a command's stdout stays its output (a verify report, a URL).
 */
export function createLogger(level: string, destination: DestinationStream = pino.destination({ fd: 2, sync: true })): Logger {
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
