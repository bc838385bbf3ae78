import { sql } from 'kysely';
import { buildApp, type ApiApp, type BuildAppOptions } from '../../api/index.js';
import { loadConfig, type ApiKey } from '../../runtime/config.js';
import { createLogger } from '../../runtime/logger.js';
import type { TestDatabase } from './database.js';

export interface RunningApi {
  readonly app: ApiApp;
  /** http://127.0.0.1:PORT of the listening server. */
  readonly url: string;
  close(): Promise<void>;
}

export interface ApiTestOptions {
  readonly keys?: readonly ApiKey[];
  readonly rateLimitPerMinute?: number;
  readonly corsOrigins?: readonly string[];
  readonly timezone?: string;
  readonly now?: () => Date;
  /** Connections other than the test database's own pool (a small pool, session limits). */
  readonly connections?: Pick<BuildAppOptions['database'], 'db' | 'pool'>;
  readonly streams?: BuildAppOptions['streams'];
}

/** Builds the API on a test database and listens on a free loopback port. */
export async function startApi(database: TestDatabase, options: ApiTestOptions = {}): Promise<RunningApi> {
  const base = loadConfig({});
  const config: BuildAppOptions['config'] = {
    timezone: options.timezone ?? 'UTC',
    api: { ...base.api, keys: options.keys ?? [], rateLimitPerMinute: options.rateLimitPerMinute ?? 0, corsOrigins: options.corsOrigins ?? [] },
  };
  const app = await buildApp({
    config,
    log: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    database: { db: options.connections?.db ?? database.db, pool: options.connections?.pool ?? database.pool, schema: database.schema },
    now: options.now,
    streams: options.streams,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('the API did not listen on TCP');
  return { app, url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}

export interface HourlySeed {
  readonly locId: string;
  readonly bucket: Date;
  readonly temperature: number | null;
  readonly humidity: number | null;
  readonly sampleCount?: number;
  readonly expectedCount?: number;
  readonly timezone?: string;
}

/** Writes hourly rows straight into `temperature` (the API reads tables, not aggregator code). */
export async function insertHourly(database: TestDatabase, rows: readonly HourlySeed[]): Promise<void> {
  for (let start = 0; start < rows.length; start += 1000) {
    const chunk = rows.slice(start, start + 1000);
    await database.db
      .insertInto('temperature')
      .values(
        chunk.map((row) => ({
          loc_id: row.locId,
          bucket: row.bucket,
          ymd: sql<string>`to_char(${row.bucket}::timestamptz AT TIME ZONE ${row.timezone ?? 'UTC'}, 'YYYYMMDD')`,
          hh: sql<string>`to_char(${row.bucket}::timestamptz AT TIME ZONE ${row.timezone ?? 'UTC'}, 'HH24')`,
          temperature_min: row.temperature === null ? null : row.temperature - 1,
          temperature_max: row.temperature === null ? null : row.temperature + 1,
          temperature_count: row.temperature === null ? 0 : (row.sampleCount ?? 60),
          temperature_avg: row.temperature,
          humidity_min: row.humidity === null ? null : row.humidity - 2,
          humidity_max: row.humidity === null ? null : row.humidity + 2,
          humidity_count: row.humidity === null ? 0 : (row.sampleCount ?? 60),
          humidity_avg: row.humidity,
          pcv_temperature_max: null,
          pcv_temperature_avg: null,
          pcv_temperature_min: null,
          pcv_temperature_count: 0,
          sample_count: row.sampleCount ?? 60,
          expected_count: row.expectedCount ?? null,
        })),
      )
      .execute();
  }
}

/** `count` consecutive hours of one location from `start`, values rising by 0.1 °C an hour. */
export function hoursOf(locId: string, start: Date, count: number, base = 20): HourlySeed[] {
  return Array.from({ length: count }, (_, index) => ({
    locId,
    bucket: new Date(start.getTime() + index * 3_600_000),
    temperature: Math.round((base + index * 0.1) * 10) / 10,
    humidity: 40 + (index % 10),
  }));
}
