import path from 'node:path';
import Type, { type TSchema } from 'typebox';
import Value from 'typebox/value';
import { errors } from './errors.js';
import { parseDuration, DURATION_HINT } from './duration.js';

/**
 * The process environment, parsed and validated once at start into `Config`. Every variable is
 * described by a TypeBox schema whose `description` says what is expected, so an invalid value
 * ends the command with exit code 2 and a message naming the variable, what it should be and
 * what it was.
 */
interface Variable {
  readonly schema: TSchema;
  /** What a valid value looks like, for errors and `--help`. */
  readonly expected: string;
}

const variable = (schema: TSchema, expected: string): Variable => ({ schema, expected });
const port = (what: string) => variable(Type.String({ pattern: '^(0|[1-9][0-9]{0,4})$' }), `${what} (a TCP port, 0-65535)`);

const ENV = {
  DATABASE_URL: variable(Type.String({ pattern: '^postgres(ql)?://' }), 'a postgres:// URL'),
  DB_SCHEMA: variable(Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$' }), 'a lower-case SQL identifier such as flet_montrg'),
  PLANT_DATA_DIR: variable(Type.String({ minLength: 1 }), 'a directory path'),
  PLANT_TIMEZONE: variable(Type.String({ minLength: 1 }), 'an IANA time zone such as UTC or Europe/Berlin'),
  LOG_LEVEL: variable(
    Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((level) => Type.Literal(level))),
    'one of fatal, error, warn, info, debug, trace, silent',
  ),
  HOST: variable(Type.String({ minLength: 1 }), 'a host name or IP address to listen on'),
  PORT: port('the API port'),
  API_KEYS: variable(
    Type.String({ pattern: '^\\s*$|^[A-Za-z0-9._~+/=-]{16,}(:(read|write))?(\\s*,\\s*[A-Za-z0-9._~+/=-]{16,}(:(read|write))?)*$' }),
    'a comma-separated list of keys of at least 16 characters, each optionally suffixed :read or :write (default read)',
  ),
  API_RATE_LIMIT: variable(Type.String({ pattern: '^[0-9]+$' }), 'requests per minute per key or client (0 turns limiting off)'),
  API_CORS_ORIGINS: variable(Type.String(), "a comma-separated list of origins allowed by CORS, or '*'"),
  API_CURSOR_SECRET: variable(Type.String({ minLength: 16 }), 'a secret of at least 16 characters signing page cursors (shared by every API instance; default: random per process)'),
  COLLECTOR_DB_PASSWORD: variable(Type.String({ minLength: 8 }), 'the password `plant-climate roles` sets for the collector role (8+ characters)'),
  AGGREGATOR_DB_PASSWORD: variable(Type.String({ minLength: 8 }), 'the password `plant-climate roles` sets for the aggregator role (8+ characters)'),
  API_DB_PASSWORD: variable(Type.String({ minLength: 8 }), 'the password `plant-climate roles` sets for the API role (8+ characters)'),
  AGGREGATOR_CRON: variable(Type.String({ minLength: 9 }), "a cron expression such as '5 * * * *'"),
  AGGREGATOR_METRICS_PORT: port('the aggregator metrics port'),
  COLLECTOR_METRICS_PORT: port('the collector metrics port'),
  RAW_RETENTION: variable(Type.String(), `${DURATION_HINT} of at least 2d, or 'off'`),
  HISTORY_RETENTION: variable(Type.String(), `${DURATION_HINT} of at least 1d, or 'off' (keep every superseded hourly version and tombstone)`),
  START_HISTORY: variable(Type.String({ pattern: '^(off|0|[0-9]+(\\.[0-9]+)?(ms|s|m|h|d))$' }), `simulated history seeded by the first \`plant-climate start\`: ${DURATION_HINT}, or 'off'`),
} satisfies Record<string, Variable>;

export type EnvName = keyof typeof ENV;

/**
 * The shortest raw retention accepted. Hours before the horizon are frozen: verify cannot check
 * them and late readings for them are lost (counted and logged, never aggregated). Two days keep
 * yesterday's raw rows for the nightly `aggregator verify` in any time zone, and give a gateway
 * a day and more to replay its spool after a network or database outage.
 */
export const RAW_RETENTION_MIN = '2d';
const RAW_RETENTION_MIN_MS = 2 * 86_400_000;

export interface ApiKey {
  readonly key: string;
  readonly canWrite: boolean;
}

export interface Config {
  /** `undefined` selects the embedded PostgreSQL under `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly dbSchema: string;
  readonly dataDir: string;
  readonly timezone: string;
  readonly logLevel: string;
  readonly api: {
    readonly host: string;
    readonly port: number;
    readonly keys: readonly ApiKey[];
    readonly rateLimitPerMinute: number;
    readonly corsOrigins: readonly string[];
    /** HMAC secret of page cursors; `undefined`: random per process. */
    readonly cursorSecret?: string;
  };
  readonly aggregator: {
    readonly cron: string;
    readonly metricsPort: number;
    /** Milliseconds of raw data to keep, or `undefined` when retention is off. */
    readonly rawRetentionMs: number | undefined;
    /** Milliseconds of superseded hourly versions and tombstones to keep (`aggregator prune`), or `undefined`: keep all. */
    readonly historyRetentionMs: number | undefined;
  };
  readonly collector: {
    readonly metricsPort: number;
  };
  readonly start: {
    /** Milliseconds of simulated history the first `plant-climate start` seeds; 0 seeds none. */
    readonly historyMs: number;
  };
  /** Passwords `plant-climate roles` sets on the component roles (unset: left as they are). */
  readonly rolePasswords: { readonly collector?: string; readonly aggregator?: string; readonly api?: string };
}

export const ENV_DEFAULTS = {
  DB_SCHEMA: 'flet_montrg',
  PLANT_DATA_DIR: './data',
  PLANT_TIMEZONE: 'UTC',
  LOG_LEVEL: 'info',
  HOST: '127.0.0.1',
  PORT: '3000',
  API_RATE_LIMIT: '600',
  AGGREGATOR_CRON: '5 * * * *',
  AGGREGATOR_METRICS_PORT: '9465',
  COLLECTOR_METRICS_PORT: '9464',
  RAW_RETENTION: 'off',
  HISTORY_RETENTION: 'off',
  START_HISTORY: '7d',
} as const satisfies Partial<Record<EnvName, string>>;

function read(env: NodeJS.ProcessEnv, name: EnvName): string | undefined {
  const raw = env[name];
  const value = raw === undefined || raw.trim() === '' ? (ENV_DEFAULTS as Partial<Record<EnvName, string>>)[name] : raw.trim();
  if (value === undefined) return undefined;
  const { schema, expected } = ENV[name];
  if (!Value.Check(schema, value)) {
    throw errors.config(name, `expected ${expected}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function parseApiKeys(text: string | undefined): ApiKey[] {
  if (!text) return [];
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const [key = '', scope] = entry.split(':');
      return { key, canWrite: scope === 'write' };
    });
}

/** `off`/`0` is no history; the pattern of START_HISTORY has already excluded anything else. */
function parseHistory(text: string): number | undefined {
  return text === 'off' || text === '0' ? 0 : parseDuration(text);
}

/** Parses and validates the environment; throws a `PC_CONFIG` error (exit 2) naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const timezone = read(env, 'PLANT_TIMEZONE') ?? 'UTC';
  if (!isValidTimeZone(timezone)) {
    throw errors.config('PLANT_TIMEZONE', `expected ${ENV.PLANT_TIMEZONE.expected}, got ${JSON.stringify(timezone)}`);
  }
  const retention = read(env, 'RAW_RETENTION') ?? 'off';
  const rawRetentionMs = retention === 'off' ? undefined : parseDuration(retention);
  if (retention !== 'off' && rawRetentionMs === undefined) {
    throw errors.config('RAW_RETENTION', `expected ${ENV.RAW_RETENTION.expected}, got ${JSON.stringify(retention)}`);
  }
  if (rawRetentionMs !== undefined && rawRetentionMs < RAW_RETENTION_MIN_MS) {
    throw errors.config(
      'RAW_RETENTION',
      `at least ${RAW_RETENTION_MIN} (a nightly verify of yesterday needs yesterday's raw rows, and readings a gateway replays after an outage ` +
        `must still find their hour open), got ${JSON.stringify(retention)}`,
    );
  }
  const history = read(env, 'HISTORY_RETENTION') ?? 'off';
  const historyRetentionMs = history === 'off' ? undefined : parseDuration(history);
  if (history !== 'off' && (historyRetentionMs === undefined || historyRetentionMs < 86_400_000)) {
    throw errors.config('HISTORY_RETENTION', `expected ${ENV.HISTORY_RETENTION.expected}, got ${JSON.stringify(history)}`);
  }
  const cors = read(env, 'API_CORS_ORIGINS');
  return {
    databaseUrl: read(env, 'DATABASE_URL'),
    dbSchema: read(env, 'DB_SCHEMA') ?? ENV_DEFAULTS.DB_SCHEMA,
    dataDir: path.resolve(read(env, 'PLANT_DATA_DIR') ?? ENV_DEFAULTS.PLANT_DATA_DIR),
    timezone,
    logLevel: read(env, 'LOG_LEVEL') ?? ENV_DEFAULTS.LOG_LEVEL,
    api: {
      host: read(env, 'HOST') ?? ENV_DEFAULTS.HOST,
      port: Number(read(env, 'PORT') ?? ENV_DEFAULTS.PORT),
      keys: parseApiKeys(read(env, 'API_KEYS')),
      rateLimitPerMinute: Number(read(env, 'API_RATE_LIMIT') ?? ENV_DEFAULTS.API_RATE_LIMIT),
      corsOrigins: cors ? cors.split(',').map((origin) => origin.trim()).filter((origin) => origin !== '') : [],
      ...(read(env, 'API_CURSOR_SECRET') !== undefined ? { cursorSecret: read(env, 'API_CURSOR_SECRET') } : {}),
    },
    aggregator: {
      cron: read(env, 'AGGREGATOR_CRON') ?? ENV_DEFAULTS.AGGREGATOR_CRON,
      metricsPort: Number(read(env, 'AGGREGATOR_METRICS_PORT') ?? ENV_DEFAULTS.AGGREGATOR_METRICS_PORT),
      rawRetentionMs,
      historyRetentionMs,
    },
    collector: {
      metricsPort: Number(read(env, 'COLLECTOR_METRICS_PORT') ?? ENV_DEFAULTS.COLLECTOR_METRICS_PORT),
    },
    start: { historyMs: parseHistory(read(env, 'START_HISTORY') ?? ENV_DEFAULTS.START_HISTORY) ?? 0 },
    rolePasswords: Object.fromEntries(
      (
        [
          ['collector', read(env, 'COLLECTOR_DB_PASSWORD')],
          ['aggregator', read(env, 'AGGREGATOR_DB_PASSWORD')],
          ['api', read(env, 'API_DB_PASSWORD')],
        ] as const
      ).filter(([, password]) => password !== undefined),
    ),
  };
}

/** One line per variable, for `--help`. */
export function describeEnv(names: readonly EnvName[]): string {
  const defaults = ENV_DEFAULTS as Partial<Record<EnvName, string>>;
  return names
    .map((name) => {
      const fallback = defaults[name];
      return `  ${name.padEnd(24)} ${ENV[name].expected}${fallback === undefined ? '' : ` (default ${fallback})`}`;
    })
    .join('\n');
}
