/**
 * Every process-wide error plant-climate raises, in one catalogue, after fastify's `lib/errors.js`:
 * a stable code, a message template and the exit code a command ends with when the error reaches
 * the top. Components add their own catalogues (the API's maps to HTTP statuses) but reuse
 * `PlantError` so that `runMain` knows how to end the process.
 */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export class PlantError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, exitCode: number, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PlantError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

type Formatter<A extends unknown[]> = (...args: A) => string;

export interface ErrorFactory<A extends unknown[]> {
  (...args: [...A]): PlantError;
  readonly code: string;
  is(error: unknown): error is PlantError;
}

function defineError<A extends unknown[]>(code: string, exitCode: number, format: Formatter<A>): ErrorFactory<A> {
  const factory = (...args: A): PlantError => new PlantError(code, format(...args), exitCode);
  return Object.assign(factory, {
    code,
    is: (error: unknown): error is PlantError => error instanceof PlantError && error.code === code,
  });
}

export const errors = {
  /** A command line that cannot be run: unknown flag, missing argument, bad value. */
  usage: defineError(`PC_USAGE`, EXIT_USAGE, (message: string) => message),
  /** An environment variable or file that does not hold what is expected. */
  config: defineError(`PC_CONFIG`, EXIT_USAGE, (where: string, message: string) => `${where}: ${message}`),
  /** The database schema is older (or newer) than this build. */
  schemaOutOfDate: defineError(`PC_SCHEMA_OUT_OF_DATE`, EXIT_FAILED, (detail: string) => detail),
  /** The embedded PostgreSQL could not be started or reached. */
  embedded: defineError(`PC_EMBEDDED_POSTGRES`, EXIT_FAILED, (message: string) => message),
  /** A publication or subscription that cannot be set up as asked (db/replication.ts says how to fix). */
  replication: defineError(`PC_REPLICATION`, EXIT_FAILED, (message: string) => message),
  /** A TCP port someone asked us to listen on is taken. */
  portInUse: defineError(
    `PC_PORT_IN_USE`,
    EXIT_USAGE,
    (what: string, address: string, hint: string) => `${what} cannot listen on ${address}: the port is already in use. ${hint}`,
  ),
};
