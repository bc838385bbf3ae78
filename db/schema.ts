import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/**
 * The Kysely view of the schema in `DB_SCHEMA`, kept in step with migrations/. Timestamps are
 * `timestamptz` and come back as `Date`; `bigint` counts are parsed to `number` (db/pool.ts).
 */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type DefaultedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;

/** Master data of a monitored location; readings for a location without a row are kept too. */
export interface LocationTable {
  loc_id: string;
  name: string | null;
  plant: string | null;
  area: string | null;
  temperature_min: number | null;
  temperature_max: number | null;
  humidity_min: number | null;
  humidity_max: number | null;
  active: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: DefaultedTimestamp;
  updated_at: DefaultedTimestamp;
}

/** The measured quantities, each a nullable column of temperature_raw (°C, %RH, °C). */
export const METRICS = ['temperature', 'humidity', 'pcv_temperature'] as const;
export type Metric = (typeof METRICS)[number];

/**
 * The hourly table's aggregates, per metric (the order of the API's fields): MIN, MAX and AVG over the readings
 * where the metric is not NULL, and that number of readings (`*_count`). A count is NULL only on
 * an hour aggregated before the counts existed whose raw rows were already gone (frozen by raw
 * retention when migration 0003 ran): its MIN and count are unknown, not zero.
 */
export const METRIC_AGGREGATE_COLUMNS = [
  'temperature_min',
  'temperature_max',
  'temperature_avg',
  'temperature_count',
  'humidity_min',
  'humidity_max',
  'humidity_avg',
  'humidity_count',
  'pcv_temperature_min',
  'pcv_temperature_max',
  'pcv_temperature_avg',
  'pcv_temperature_count',
] as const satisfies readonly `${Metric}_${'max' | 'avg' | 'min' | 'count'}`[];

/** Metrics with alarm limits (location_threshold), and the two ways out of them. */
export const LIMITED_METRICS = ['temperature', 'humidity'] as const;
export type LimitedMetric = (typeof LIMITED_METRICS)[number];
export const EXCURSION_DIRECTIONS = ['above', 'below'] as const;
export type ExcursionDirection = (typeof EXCURSION_DIRECTIONS)[number];

/**
 * Every limit a reading can be beyond, in one order (the hourly columns, the alarms' and the
 * excursion events' `k`): the metric, the direction, the limit's column in `location` and
 * `location_threshold`, and the hourly columns that count it.
 */
export const EXCURSION_KINDS = LIMITED_METRICS.flatMap((metric) =>
  EXCURSION_DIRECTIONS.map((direction) => ({
    metric,
    direction,
    limit: `${metric}_${direction === 'above' ? 'max' : 'min'}` as const,
    countColumn: `${metric}_${direction}_count` as const,
    maxDeltaColumn: `${metric}_${direction}_max_delta` as const,
  })),
);
export type ExcursionKind = (typeof EXCURSION_KINDS)[number];

/**
 * The climate analytics of an hour (migration 0004; db/hourly-row.ts defines them): dew point
 * (Magnus) over the readings with both temperature and humidity, per limit the readings strictly
 * beyond the threshold version in force at their capture_dt and the largest exceedance, and the
 * Arrhenius sum behind the mean kinetic temperature. NULL on an hour frozen before migration 0004
 * (raw rows gone); an excursion count is also NULL when no version set that limit for any reading.
 */
export const CLIMATE_COLUMNS = [
  'dew_point_avg',
  'dew_point_max',
  'dew_point_count',
  'temperature_above_count',
  'temperature_below_count',
  'humidity_above_count',
  'humidity_below_count',
  'temperature_above_max_delta',
  'temperature_below_max_delta',
  'humidity_above_max_delta',
  'humidity_below_max_delta',
  'temperature_arrhenius_sum',
] as const satisfies readonly (`dew_point_${'avg' | 'max' | 'count'}` | `${LimitedMetric}_${ExcursionDirection}_${'count' | 'max_delta'}` | 'temperature_arrhenius_sum')[];

/** Every aggregate column of an hourly row, in the API's order. */
export const HOURLY_AGGREGATE_COLUMNS = [...METRIC_AGGREGATE_COLUMNS, ...CLIMATE_COLUMNS] as const;
export type HourlyAggregates = { [K in (typeof HOURLY_AGGREGATE_COLUMNS)[number]]: number | null };

/** One reading of one location; the hot table, partitioned by UTC day of capture_dt (migration 0005, db/raw-partitions.ts). Unique on (loc_id, capture_dt). */
export interface TemperatureRawTable {
  loc_id: string;
  capture_dt: Timestamp;
  temperature: number | null;
  humidity: number | null;
  pcv_temperature: number | null;
  gateway_id: string;
  received_at: DefaultedTimestamp;
}

/** The hourly rollup of temperature_raw, a pure function of it. Unique on (loc_id, bucket). */
export interface TemperatureHourlyTable extends HourlyAggregates {
  loc_id: string;
  bucket: Timestamp;
  ymd: string;
  hh: string;
  sample_count: number;
  /**
   * Readings the location's devices should have produced in the hour, from their poll intervals
   * (`device.poll_interval_ms`) when the hour was first aggregated; NULL when unknown.
   */
  expected_count: number | null;
  updated_at: DefaultedTimestamp;
  /** Grows whenever the row's values change; set by the revision trigger (migration 0006, db/change-feed.ts). */
  revision: ColumnType<number, never, never>;
  /** What produced this version (db/change-feed.ts CHANGE_CAUSES); set by the trigger. */
  change_cause: ColumnType<string, never, never>;
  /** The audit entry of the backfill or repair that produced this version; set by the trigger. */
  change_audit_id: ColumnType<number | null, never, never>;
}

/** A removed hour (migration 0006): the feed serves it as a deletion; removed again when the hour comes back. */
export interface TemperatureTombstoneTable {
  loc_id: string;
  bucket: Timestamp;
  revision: number;
  deleted_at: DefaultedTimestamp;
  cause: string;
  audit_id: number | null;
}

/**
 * (location, hour) pairs whose raw rows changed since they were last aggregated. Written only by
 * the statement-level triggers on temperature_raw, in the writer's own transaction, so a mark is
 * visible exactly when the rows it stands for are.
 */
export interface RawDirtyHourTable {
  loc_id: string;
  bucket: Timestamp;
  marked_at: DefaultedTimestamp;
}

/** One polled device, kept current by its collector. */
export interface DeviceTable {
  gateway_id: string;
  device_id: string;
  loc_id: string;
  host: string;
  port: number;
  unit_id: number;
  /** How often the collector polls it; NULL for a row written by a collector older than migration 0003. */
  poll_interval_ms: number | null;
  last_ok_at: Date | null;
  last_error: string | null;
  last_error_at: Date | null;
  consecutive_failures: ColumnType<number, number | undefined, number>;
  updated_at: DefaultedTimestamp;
}

/**
 * One version of a location's thresholds (migration 0004): never updated or deleted. In force
 * from `valid_from` (inclusive) until the next version's; of equal `valid_from`, the higher
 * `version` (recorded later) wins.
 */
export interface LocationThresholdTable {
  loc_id: string;
  version: Generated<number>;
  valid_from: Timestamp;
  temperature_min: number | null;
  temperature_max: number | null;
  humidity_min: number | null;
  humidity_max: number | null;
  /** API key id, or `os:<user>` for a command. */
  changed_by: string;
  reason: string;
  recorded_at: DefaultedTimestamp;
}

/** The append-only, hash-chained audit trail (migration 0004); id, at, prev_hash and hash are set by its insert trigger. */
export interface AuditLogTable {
  id: ColumnType<number, never, never>;
  at: ColumnType<Date, never, never>;
  actor: string;
  action: string;
  subject: string | null;
  reason: string | null;
  before: ColumnType<unknown, string | null, never>;
  after: ColumnType<unknown, string | null, never>;
  prev_hash: ColumnType<string | null, never, never>;
  hash: ColumnType<string, never, never>;
}

export interface Database {
  location: LocationTable;
  location_threshold: LocationThresholdTable;
  audit_log: AuditLogTable;
  temperature_raw: TemperatureRawTable;
  temperature: TemperatureHourlyTable;
  temperature_tombstone: TemperatureTombstoneTable;
  raw_dirty_hour: RawDirtyHourTable;
  device: DeviceTable;
  headquarters_plant: HeadquartersPlantTable;
}

/** At a headquarters, the plants it subscribes to (`replication subscribe`); empty at a plant. */
export interface HeadquartersPlantTable {
  plant: string;
  subscription: string;
  /** The plant's database URL without its password. */
  publisher: string;
  subscribed_at: DefaultedTimestamp;
}

export type Location = Selectable<LocationTable>;
export type NewLocation = Insertable<LocationTable>;
export type LocationUpdate = Updateable<LocationTable>;
export type RawReading = Selectable<TemperatureRawTable>;
export type NewRawReading = Insertable<TemperatureRawTable>;
export type HourlyRow = Selectable<TemperatureHourlyTable>;
export type Device = Selectable<DeviceTable>;
export type { Generated };
