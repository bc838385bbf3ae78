import Type, { type TSchema, type Static } from 'typebox';
import { PROBLEM_BASE } from './problems/api-errors.js';

/**
 * The JSON shapes of the API (docs/interfaces.md: field names are the column names, times ISO 8601
 * UTC), written once in TypeBox: they validate requests, type the handlers, serialise responses
 * and make the OpenAPI document.
 */

// `type: [T, 'null']` rather than anyOf: fast-json-stringify serialises it without trying each
// branch, and OpenAPI 3.1 (the version the document declares) reads it as nullable.
const nullable = <T>(type: 'number' | 'string' | 'integer', options: Record<string, unknown> = {}) =>
  Type.Unsafe<T | null>({ type: [type, 'null'], ...options });
const nullableNumber = (description: string) => nullable<number>('number', { description });
const nullableText = (description: string) => nullable<string>('string', { description });
const timestamp = (description: string) => Type.String({ format: 'date-time', description });
const nullableTimestamp = (description: string) => nullable<string>('string', { format: 'date-time', description });

export const LOC_ID_PATTERN = '^[^\\u0000-\\u001f\\u007f]{1,128}$';
export const LocId = Type.String({ pattern: LOC_ID_PATTERN, description: 'Location id (loc_id), 1-128 printable characters', examples: ['A-01'] });

export const Problem = Type.Object(
  {
    type: Type.String({ description: 'URI naming the kind of problem', examples: [`${PROBLEM_BASE}bad-parameter`] }),
    title: Type.String({ examples: ['Invalid parameter'] }),
    status: Type.Integer({ examples: [400] }),
    detail: Type.String({ examples: ['from: expected a date (YYYY-MM-DD) or an ISO 8601 timestamp with an offset'] }),
    instance: Type.Optional(Type.String({ description: 'The request path' })),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          name: Type.String({ description: 'The parameter or field that was wrong' }),
          in: Type.String({ enum: ['query', 'path', 'header', 'body'] }),
          message: Type.String(),
        }),
      ),
    ),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' },
);

const thresholds = {
  temperature_min: nullableNumber('Alarm when temperature falls below (°C)'),
  temperature_max: nullableNumber('Alarm when temperature rises above (°C)'),
  humidity_min: nullableNumber('Alarm when humidity falls below (%RH)'),
  humidity_max: nullableNumber('Alarm when humidity rises above (%RH)'),
};

export const Location = Type.Object(
  {
    loc_id: Type.String(),
    name: nullableText('Display name'),
    plant: nullableText('Plant'),
    area: nullableText('Area within the plant'),
    ...thresholds,
    active: Type.Boolean(),
    registered: Type.Boolean({ description: 'false for a loc_id seen in readings or devices that has no master row' }),
  },
  {
    examples: [
      { loc_id: 'A-01', name: 'Oven hall', plant: 'A', area: 'North', temperature_min: 15, temperature_max: 30, humidity_min: 20, humidity_max: 60, active: true, registered: true },
    ],
  },
);

export const LocationInput = Type.Object(
  {
    name: Type.Optional(nullable<string>('string', { maxLength: 200 })),
    plant: Type.Optional(nullable<string>('string', { maxLength: 200 })),
    area: Type.Optional(nullable<string>('string', { maxLength: 200 })),
    temperature_min: Type.Optional(nullable<number>('number', { minimum: -1000, maximum: 1000 })),
    temperature_max: Type.Optional(nullable<number>('number', { minimum: -1000, maximum: 1000 })),
    humidity_min: Type.Optional(nullable<number>('number', { minimum: 0, maximum: 100 })),
    humidity_max: Type.Optional(nullable<number>('number', { minimum: 0, maximum: 100 })),
    active: Type.Optional(Type.Boolean({ default: true })),
    reason: Type.Optional(
      Type.String({ maxLength: 1000, description: 'Why: recorded in the audit log; required when the thresholds change (a 400 problem otherwise)' }),
    ),
    valid_from: Type.Optional(
      Type.String({
        format: 'date-time',
        description:
          'When the thresholds given take effect (default: now). A past instant records a correction: a new version in force from then, never an overwrite; the affected hours are recomputed by the next aggregator run. Not in the future.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'The whole master row: omitted fields become null (active: true). Threshold changes are versioned (location_threshold) and audited.',
    examples: [{ name: 'Oven hall', plant: 'A', area: 'North', temperature_min: 15, temperature_max: 30, humidity_min: 20, humidity_max: 60, active: true, reason: 'mapping study 2024-03' }],
  },
);
export type LocationInput = Static<typeof LocationInput>;

/**
 * Per metric: MIN, MAX, AVG and the count of readings where it was not NULL. For an hour the
 * values are over its readings; for a day over the day's readings (AVG weighted by each hour's count).
 */
function aggregateFields(over: string) {
  const unknown = 'NULL when unknown: the hour was aggregated before per-metric counts existed and its raw rows are gone';
  const metric = (unit: string) => ({
    min: nullableNumber(`${unit}; MIN over ${over} (${unknown})`),
    max: nullableNumber(`${unit}; MAX over ${over}`),
    avg: nullableNumber(`${unit}; AVG over ${over}`),
    count: nullable<number>('integer', { description: `Readings of ${over} where this metric was not NULL (${unknown})` }),
  });
  const temperature = metric('°C');
  const humidity = metric('%RH');
  const pcv = metric('°C');
  return {
    temperature_min: temperature.min,
    temperature_max: temperature.max,
    temperature_avg: temperature.avg,
    temperature_count: temperature.count,
    humidity_min: humidity.min,
    humidity_max: humidity.max,
    humidity_avg: humidity.avg,
    humidity_count: humidity.count,
    pcv_temperature_min: pcv.min,
    pcv_temperature_max: pcv.max,
    pcv_temperature_avg: pcv.avg,
    pcv_temperature_count: pcv.count,
    ...climateFields(over),
  };
}

/** Dew point, excursions against the threshold version in force at each reading, and the MKT's Arrhenius sum. */
function climateFields(over: string) {
  const unknown = 'NULL when unknown: aggregated before migration 0004 and its raw rows are gone';
  const count = (metric: string, direction: 'above' | 'below') =>
    nullable<number>('integer', {
      description: `Readings of ${over} with ${metric} strictly ${direction} the ${direction === 'above' ? 'max' : 'min'} limit of the threshold version in force at their capture_dt; NULL when no version set that limit (or ${unknown})`,
    });
  const delta = (metric: string, direction: 'above' | 'below', unit: string) => nullableNumber(`${unit}; the largest distance of ${metric} ${direction} that limit; NULL when no reading was ${direction} it`);
  return {
    dew_point_avg: nullableNumber(`°C; AVG dew point (Magnus, a = 17.625, b = 243.04 °C) over ${over} with temperature and humidity (> 0 %RH) (${unknown})`),
    dew_point_max: nullableNumber(`°C; MAX dew point over ${over}`),
    dew_point_count: nullable<number>('integer', { description: `Readings of ${over} with a dew point (${unknown})` }),
    temperature_above_count: count('temperature', 'above'),
    temperature_below_count: count('temperature', 'below'),
    humidity_above_count: count('humidity', 'above'),
    humidity_below_count: count('humidity', 'below'),
    temperature_above_max_delta: delta('temperature', 'above', '°C'),
    temperature_below_max_delta: delta('temperature', 'below', '°C'),
    humidity_above_max_delta: delta('humidity', 'above', '%RH'),
    humidity_below_max_delta: delta('humidity', 'below', '%RH'),
    temperature_arrhenius_sum: nullableNumber(
      `Σ exp(−ΔH/(R·T)) over ${over} with a temperature, T in K, ΔH = 83.144 kJ/mol, R = 8.314462618 J/(mol·K): MKT of a range = (ΔH/R) / −ln(Σ sums / Σ temperature_count) (${unknown})`,
    ),
  };
}

const coverageFields = (over: string) => ({
  expected_count: nullable<number>('integer', {
    description: `Readings the location’s devices should have produced in ${over}, from their poll intervals; NULL when unknown`,
  }),
  coverage: nullable<number>('number', { description: 'sample_count / expected_count (1 = every expected reading arrived); NULL when expected_count is unknown' }),
});

export const HourlyRow = Type.Object(
  {
    loc_id: Type.String(),
    bucket: timestamp('Start of the hour, UTC'),
    ymd: Type.String({ description: 'Plant-local date of the hour (YYYYMMDD, PLANT_TIMEZONE)' }),
    hh: Type.String({ description: 'Plant-local hour (00-23)' }),
    ...aggregateFields('the hour’s readings'),
    sample_count: Type.Integer({ description: 'Readings in the hour (0 for an empty row of gaps=include)' }),
    ...coverageFields('the hour'),
    partial: Type.Boolean({ description: 'true for the current, not yet complete hour (computed from raw readings)' }),
  },
  {
    examples: [
      {
        loc_id: 'A-01',
        bucket: '2024-01-01T00:00:00.000Z',
        ymd: '20240101',
        hh: '00',
        temperature_min: 21.2,
        temperature_max: 22.5,
        temperature_avg: 21.9,
        temperature_count: 358,
        humidity_min: 39.5,
        humidity_max: 41,
        humidity_avg: 40.2,
        humidity_count: 360,
        pcv_temperature_min: null,
        pcv_temperature_max: null,
        pcv_temperature_avg: null,
        pcv_temperature_count: 0,
        dew_point_avg: 7.8,
        dew_point_max: 8.6,
        dew_point_count: 358,
        temperature_above_count: 0,
        temperature_below_count: 0,
        humidity_above_count: 12,
        humidity_below_count: 0,
        temperature_above_max_delta: null,
        temperature_below_max_delta: null,
        humidity_above_max_delta: 1.0,
        humidity_below_max_delta: null,
        temperature_arrhenius_sum: 1.0e-12,
        sample_count: 360,
        expected_count: 360,
        coverage: 1,
        partial: false,
      },
    ],
  },
);
export type HourlyRow = Static<typeof HourlyRow>;

/** An hourly row as stored (the change feed, the history): HourlyRow without the derived coverage and partial. */
const { coverage: _coverage, partial: _partial, ...storedHourlyFields } = HourlyRow.properties;
const revision = (description: string) => Type.Integer({ minimum: 1, description });

export const ChangeEntry = Type.Union(
  [
    Type.Object(
      { op: Type.Literal('upsert'), revision: revision('The revision of this version of the row'), ...storedHourlyFields },
      { description: 'The hour’s row is now this (insert or update): every column of the hourly table' },
    ),
    Type.Object(
      { op: Type.Literal('delete'), revision: revision('The revision of the deletion'), loc_id: Type.String(), bucket: timestamp('Start of the hour, UTC') },
      { description: 'The hour has no row any more (its raw rows were removed, or the row was deleted)' },
    ),
  ],
  { description: 'One change of the hourly table' },
);

export const ChangePage = Type.Object(
  {
    data: Type.Array(ChangeEntry, { description: 'Changes in revision order' }),
    next_after: Type.Integer({ minimum: 0, description: 'Pass as `after` for the next page: the last revision served, or `after` itself when nothing was' }),
  },
  { description: 'Hourly upserts and deletions after `after`' },
);

export const HourlyVersion = Type.Object({
  revision_from: revision('The revision that produced this version'),
  revision_to: nullable<number>('integer', { description: 'The revision that superseded it (the version was current in [revision_from, revision_to)); null for the current version' }),
  current: Type.Boolean(),
  cause: Type.String({
    description:
      'What produced this version: scheduled-run (first aggregation), late-data (raw rows changed after aggregation), threshold-change, backfill, verify-repair, prune, manual (any other writer), migration',
  }),
  audit_id: nullable<number>('integer', { description: 'The audit entry of the backfill or repair that produced it (GET /v1/audit); null for other causes' }),
  produced_at: timestamp('When this version was written'),
  superseded_at: nullableTimestamp('When it was superseded; null for the current version'),
  superseded_by: nullableText('What superseded it (a cause as above); null for the current version'),
  superseded_audit_id: nullable<number>('integer', { description: 'The audit entry of what superseded it, when there is one' }),
  row: Type.Object(storedHourlyFields, { description: 'The row’s values in this version' }),
});

export const DailyRow = Type.Object({
  loc_id: Type.String(),
  day: Type.String({ format: 'date', description: 'Local date in the requested time zone' }),
  ymd: Type.String({ description: 'The same date as YYYYMMDD' }),
  start: timestamp('Start of the day, UTC'),
  hours: Type.Integer({ description: 'Hours with data (a complete day has 23, 24 or 25 across DST changes)' }),
  ...aggregateFields('the day’s readings (AVG: the hours’ AVGs weighted by their counts)'),
  sample_count: Type.Integer(),
  ...coverageFields('the day’s complete hours, hours without readings included'),
  mkt: nullableNumber('°C; mean kinetic temperature of the day’s readings (ΔH = 83.144 kJ/mol), exact from the hours’ Arrhenius sums; NULL without readings or when an hour lacks its sum'),
});
export type DailyRow = Static<typeof DailyRow>;

export const Latest = Type.Object(
  {
    loc_id: Type.String(),
    capture_dt: timestamp('When the reading was taken'),
    temperature: nullableNumber('°C'),
    humidity: nullableNumber('%RH'),
    pcv_temperature: nullableNumber('°C'),
    gateway_id: Type.String(),
    received_at: timestamp('When the collector stored it'),
  },
  {
    examples: [
      { loc_id: 'A-01', capture_dt: '2024-01-01T10:00:00.000Z', temperature: 21.5, humidity: 40.1, pcv_temperature: null, gateway_id: 'gw-1', received_at: '2024-01-01T10:00:00.120Z' },
    ],
  },
);
export type Latest = Static<typeof Latest>;

export const DeviceStatus = Type.String({
  enum: ['ok', 'failing', 'silent'],
  description: 'silent: no successful poll for the silence threshold (or never); failing: the last polls failed; ok otherwise',
});

export const Device = Type.Object({
  gateway_id: Type.String(),
  device_id: Type.String(),
  loc_id: Type.String(),
  host: Type.String(),
  port: Type.Integer(),
  unit_id: Type.Integer(),
  last_ok_at: nullableTimestamp('Last successful poll'),
  last_error: nullableText('Last error message'),
  last_error_at: nullableTimestamp('Last failed poll'),
  consecutive_failures: Type.Integer(),
  updated_at: timestamp('Last update by the collector'),
  status: DeviceStatus,
});
export type Device = Static<typeof Device>;

export const Alarm = Type.Object(
  {
    loc_id: Type.String(),
    bucket: timestamp('Start of the hour, UTC'),
    ymd: Type.String(),
    hh: Type.String(),
    metric: Type.String({ enum: ['temperature', 'humidity'] }),
    threshold: Type.String({ enum: ['min', 'max'], description: 'max: readings above the max limit; min: readings below the min limit' }),
    readings: Type.Integer({ description: 'Readings of the hour beyond the limit of the threshold version in force at each (the hourly *_above_count / *_below_count)' }),
    minutes: nullableNumber('readings × the hour’s expected interval; NULL when the interval is unknown'),
    excess: Type.Number({ description: 'The largest distance past the limit in the hour (always positive)' }),
  },
  {
    examples: [{ loc_id: 'A-01', bucket: '2024-01-01T13:00:00.000Z', ymd: '20240101', hh: '13', metric: 'temperature', threshold: 'max', readings: 36, minutes: 6, excess: 1.2 }],
  },
);
export type Alarm = Static<typeof Alarm>;

export const ExcursionEvent = Type.Object(
  {
    metric: Type.String({ enum: ['temperature', 'humidity'] }),
    direction: Type.String({ enum: ['above', 'below'], description: 'above the max limit or below the min limit' }),
    start: timestamp('capture_dt of the first out-of-limit reading of the run'),
    end: timestamp('capture_dt of the last out-of-limit reading of the run'),
    readings: Type.Integer({ description: 'Out-of-limit readings in the run' }),
    minutes: Type.Number({ description: 'readings × the expected interval' }),
    peak: Type.Number({ description: 'The most extreme value of the run (°C or %RH)' }),
    peak_at: timestamp('When the peak was read'),
    peak_delta: Type.Number({ description: 'How far the peak was past the limit then in force' }),
    limit: Type.Number({ description: 'The limit in force at the peak' }),
  },
  {
    examples: [
      {
        metric: 'temperature',
        direction: 'above',
        start: '2024-01-01T13:05:00.000Z',
        end: '2024-01-01T13:40:00.000Z',
        readings: 36,
        minutes: 36,
        peak: 31.2,
        peak_at: '2024-01-01T13:22:00.000Z',
        peak_delta: 1.2,
        limit: 30,
      },
    ],
  },
);
export type ExcursionEvent = Static<typeof ExcursionEvent>;

const minutesOut = (kind: string) => nullableNumber(`Minutes with ${kind} in the range, from the hourly counts; NULL when no threshold version set that limit`);
export const Excursions = Type.Object(
  {
    loc_id: Type.String(),
    from: timestamp('Inclusive start'),
    to: timestamp('Exclusive end'),
    expected_interval_ms: nullable<number>('number', { description: 'The interval between the location’s readings that turns counts into minutes and defines a gap' }),
    interval_source: nullable<string>('string', {
      enum: ['devices', 'observed', null],
      description: 'devices: from the poll intervals of the location’s devices; observed: the median spacing of its readings (no device rows)',
    }),
    events_complete: Type.Boolean({ description: 'false when raw readings of part of the range were pruned: events are listed from events_from only (summary minutes cover the whole range)' }),
    events_from: timestamp('Events are listed from here'),
    summary: Type.Object({
      temperature_above_minutes: minutesOut('temperature above its max'),
      temperature_below_minutes: minutesOut('temperature below its min'),
      humidity_above_minutes: minutesOut('humidity above its max'),
      humidity_below_minutes: minutesOut('humidity below its min'),
      hours_with_excursions: Type.Integer(),
    }),
    data: Type.Array(ExcursionEvent),
    next_cursor: nullable<string>('string', { description: 'Pass as `cursor` for the next page; null on the last page' }),
  },
  {
    description:
      'Excursion events: runs of consecutive readings strictly beyond a limit of the threshold version in force at each reading, across hour boundaries. ' +
      'A reading within limits, or a gap (readings more than 1.5 expected intervals apart), ends a run; missing time never counts as an excursion.',
  },
);
export type Excursions = Static<typeof Excursions>;

export const Mkt = Type.Object(
  {
    loc_id: Type.String(),
    from: timestamp('Inclusive start'),
    to: timestamp('Exclusive end'),
    mkt: nullableNumber('°C; mean kinetic temperature (ΔH/R) / −ln(Σ exp(−ΔH/(R·T_i)) / n); NULL without temperature readings'),
    delta_h: Type.Number({ description: 'ΔH used, kJ/mol' }),
    readings: Type.Integer({ description: 'Temperature readings in the range' }),
    hours: Type.Integer({ description: 'Hourly rows whose stored sums were used' }),
    source: Type.String({ enum: ['hourly', 'raw', 'hourly+raw'], description: 'Where the sums came from' }),
    note: nullableText('Set when the answer was computed differently from the default, and why'),
  },
  {
    examples: [
      { loc_id: 'A-01', from: '2024-01-01T00:00:00.000Z', to: '2024-01-31T00:00:00.000Z', mkt: 21.84, delta_h: 83.144, readings: 259200, hours: 720, source: 'hourly', note: null },
    ],
  },
);
export type Mkt = Static<typeof Mkt>;

export const ThresholdVersion = Type.Object(
  {
    loc_id: Type.String(),
    version: Type.Integer({ description: 'Increasing with the order versions were recorded' }),
    valid_from: Type.String({ description: 'In force from here (inclusive), until the next later valid_from; ISO 8601 UTC, or -infinity for the limits on record before versioning' }),
    ...thresholds,
    changed_by: Type.String({ description: 'API key id, or os:<user> for a command' }),
    reason: Type.String(),
    recorded_at: timestamp('When the version was recorded'),
    in_force_now: Type.Boolean({ description: 'This version is the one in force now' }),
  },
  {
    examples: [
      {
        loc_id: 'A-01',
        version: 3,
        valid_from: '2024-03-01T00:00:00.000Z',
        temperature_min: 15,
        temperature_max: 25,
        humidity_min: null,
        humidity_max: 60,
        changed_by: 'key-1',
        reason: 'mapping study 2024-03',
        recorded_at: '2024-03-04T09:12:00.000Z',
        in_force_now: true,
      },
    ],
  },
);
export type ThresholdVersion = Static<typeof ThresholdVersion>;

export const AuditEntry = Type.Object(
  {
    id: Type.Integer({ description: 'Position in the chain, from 1, without gaps' }),
    at: Type.String({ description: 'When the entry was written, UTC, microseconds (as hashed)' }),
    actor: Type.String({ description: 'API key id (key-1 …), or os:<user> for a command' }),
    action: Type.String({
      description: 'location.create, location.update, thresholds.change, aggregator.backfill, aggregator.prune, aggregator.verify-repair, collector.dead-letter-replay',
    }),
    subject: nullableText('What the entry is about: a loc_id, a range, a file'),
    reason: nullableText('Why, as given by the writer'),
    before: Type.Unknown({ description: 'The values before (JSON), or null' }),
    after: Type.Unknown({ description: 'The values after (JSON), or null' }),
    prev_hash: nullableText('hash of the previous entry (null for the first)'),
    hash: Type.String({ description: 'SHA-256 (hex) of this entry’s fields and prev_hash; `plant-climate audit verify` checks the chain' }),
  },
  {
    examples: [
      {
        id: 12,
        at: '2024-01-01T10:00:00.123456Z',
        actor: 'key-1',
        action: 'thresholds.change',
        subject: 'A-01',
        reason: 'mapping study 2024-03',
        before: { temperature_max: 30 },
        after: { temperature_max: 28 },
        prev_hash: '5f1c0c7e6a0b0e4b7f5e2b3a9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c',
        hash: '9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b',
      },
    ],
  },
);
export type AuditEntry = Static<typeof AuditEntry>;

export const Pipeline = Type.Object({
  aggregation: Type.Object({
    newest_bucket: nullableTimestamp('Newest aggregated hour'),
    lag_seconds: nullable<number>('number', { description: 'now minus the end of the newest aggregated hour' }),
    dirty_hours: Type.Integer({ description: '(location, hour) pairs waiting for aggregation' }),
  }),
  devices: Type.Object({ total: Type.Integer(), ok: Type.Integer(), failing: Type.Integer(), silent: Type.Integer() }),
  raw: Type.Object({ newest_capture_dt: nullableTimestamp('Newest raw reading') }),
});
export type Pipeline = Static<typeof Pipeline>;

/** `{ data: [...], next_cursor }`: the one collection shape (Grafana Infinity reads `data`). */
export const collection = <T extends TSchema>(row: T, description: string) =>
  Type.Object(
    {
      data: Type.Array(row),
      next_cursor: nullable<string>('string', { description: 'Pass as `cursor` for the next page; null on the last page' }),
    },
    { description },
  );

/** Problem responses, served as application/problem+json (RFC 9457); `4xx` documents any client error. */
export const problemResponses = (...statuses: (number | '4xx')[]) =>
  Object.fromEntries(
    statuses.map((status) => [status, { description: status === '4xx' ? 'Client error (problem details)' : 'Problem details', content: { 'application/problem+json': { schema: Type.Ref('Problem') } } }]),
  );

/** A 200 served as JSON, or as CSV with the same fields (`format=csv`, or `Accept: text/csv` preferred by q-value). */
export const jsonOrCsv = <T extends TSchema>(schema: T) => ({
  description: `${(schema as { description?: string }).description ?? 'Rows'} (JSON, or CSV with the same fields)`,
  content: {
    'application/json': { schema },
    'text/csv': { schema: Type.String({ description: 'RFC 4180 CSV with a header line, the same fields as the JSON rows, every row of the range streamed' }) },
  },
});

/** A 200 that is text of one media type (HTML, Prometheus exposition format). */
export const textResponse = (mediaType: string, description: string) => ({ description, content: { [mediaType]: { schema: Type.String() } } });

// Query parameters shared by the time-series routes.
export const FROM_TO_HELP =
  'A date (YYYY-MM-DD, midnight in PLANT_TIMEZONE or `tz`) or an ISO 8601 timestamp with an offset (2024-01-01T06:00:00+01:00).';
export const rangeQuery = {
  from: Type.Optional(Type.String({ maxLength: 64, description: `Inclusive start. ${FROM_TO_HELP}` })),
  to: Type.Optional(Type.String({ maxLength: 64, description: `Exclusive end. ${FROM_TO_HELP}` })),
};
export const pageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000, description: 'Rows per page (default 1000, at most 10000)' })),
  cursor: Type.Optional(Type.String({ maxLength: 1024, description: 'The next_cursor of the previous page' })),
};
export const formatQuery = {
  format: Type.Optional(Type.String({ enum: ['json', 'csv'], description: 'csv streams every row of the range as text/csv (like Accept: text/csv)' })),
};
