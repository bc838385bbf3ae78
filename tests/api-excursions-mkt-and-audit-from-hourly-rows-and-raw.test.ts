import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ScheduledAggregator } from '../aggregator/index.js';
import { useTestDatabase } from './support/database.js';
import { startApi, type RunningApi } from './support/api-app.js';
import { insertReadings, manualClock, silentLog } from './support/aggregator-fixtures.js';

const KEY = 'write-key-0123456789abcdef';
const MINUTE = 60_000;
const T0 = Date.parse('2024-05-01T10:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * MINUTE).toISOString();

// The MKT worked by hand: ΔH/R in kelvin, and the mean of the Arrhenius terms.
const DH_OVER_R = 83_144 / 8.314462618;
const term = (celsius: number, dhOverR = DH_OVER_R) => Math.exp(-dhOverR / (celsius + 273.15));
const mktOf = (terms: number[], dhOverR = DH_OVER_R) => dhOverR / -Math.log(terms.reduce((sum, value) => sum + value, 0) / terms.length) - 273.15;

interface Row {
  [key: string]: unknown;
}

describe('excursions, MKT and the audit log over HTTP', () => {
  const database = useTestDatabase();
  let api: RunningApi;
  const get = async (path: string, init: RequestInit = {}) => fetch(`${api.url}${path}`, { ...init, headers: { authorization: `Bearer ${KEY}`, ...init.headers } });
  const json = async <T = Row>(path: string): Promise<T> => {
    const response = await get(path);
    expect(response.status, `${path}: ${await response.clone().text()}`).toBe(200);
    return (await response.json()) as T;
  };

  beforeAll(async () => {
    const { db } = database();
    api = await startApi(database(), { keys: [{ key: KEY, canWrite: true }], now: () => new Date('2024-05-01T13:30:00Z') });
    // E-01: one device polled every minute. Temperature max 25, humidity min 30, from midnight.
    await sql`INSERT INTO device (gateway_id, device_id, loc_id, host, port, unit_id, poll_interval_ms) VALUES ('gw', 'd1', 'E-01', 'h', 502, 1, 60000)`.execute(db);
    const put = await get('/v1/locations/E-01', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Cold store', temperature_max: 25, humidity_min: 30, valid_from: '2024-05-01T00:00:00Z', reason: 'limits from the mapping study' }),
    });
    expect(put.status, await put.clone().text()).toBe(201);
    const readings: { loc_id: string; at: string; values: [number, number, null] }[] = [];
    for (let minute = 0; minute < 180; minute += 1) {
      // 11:30-11:39 missing (a gap); out of limits 10:50-11:09 (across the hour), 11:25-11:29 and 11:40-11:44 (around the gap).
      if (minute >= 90 && minute < 100) continue;
      const hot = (minute >= 50 && minute < 70) || (minute >= 85 && minute < 90) || (minute >= 100 && minute < 105);
      const temperature = hot ? 26 + (minute === 60 ? 2 : 0) : 20;
      const humidity = minute >= 120 && minute < 123 ? 28 - (minute - 120) : 45;
      readings.push({ loc_id: 'E-01', at: at(minute), values: [temperature, humidity, null] });
    }
    // M-01 constant 21.5 °C; M-02 alternating 20 and 30 °C.
    for (let minute = 0; minute < 180; minute += 1) {
      readings.push({ loc_id: 'M-01', at: at(minute), values: [21.5, 50, null] });
      readings.push({ loc_id: 'M-02', at: at(minute), values: [minute % 2 === 0 ? 20 : 30, 50, null] });
    }
    await insertReadings(db, readings);
    await new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog, clock: manualClock('2024-05-01T13:05:00Z') }).runOnce('test');
  });
  afterAll(async () => {
    await api.close();
  });

  it('lists excursion events as runs across hour boundaries, ended by gaps, with minutes from the expected interval', async () => {
    const body = await json<{ data: Row[]; summary: Row; expected_interval_ms: number; interval_source: string; events_complete: boolean; next_cursor: string | null }>(
      '/v1/locations/E-01/excursions?from=2024-05-01T10:00:00Z&to=2024-05-01T13:00:00Z',
    );
    expect(body).toMatchObject({ expected_interval_ms: 60000, interval_source: 'devices', events_complete: true, next_cursor: null });
    expect(body.data).toEqual([
      { metric: 'temperature', direction: 'above', start: at(50), end: at(69), readings: 20, minutes: 20, peak: 28, peak_at: at(60), peak_delta: 3, limit: 25 },
      { metric: 'temperature', direction: 'above', start: at(85), end: at(89), readings: 5, minutes: 5, peak: 26, peak_at: at(85), peak_delta: 1, limit: 25 },
      { metric: 'temperature', direction: 'above', start: at(100), end: at(104), readings: 5, minutes: 5, peak: 26, peak_at: at(100), peak_delta: 1, limit: 25 },
      { metric: 'humidity', direction: 'below', start: at(120), end: at(122), readings: 3, minutes: 3, peak: 26, peak_at: at(122), peak_delta: 4, limit: 30 },
    ]);
    // Minutes from the hourly counts; limits never set are NULL, limits set but never crossed 0.
    expect(body.summary).toEqual({ temperature_above_minutes: 30, temperature_below_minutes: null, humidity_above_minutes: null, humidity_below_minutes: 3, hours_with_excursions: 3 });
    const first = await json<{ data: Row[]; next_cursor: string }>('/v1/locations/E-01/excursions?from=2024-05-01T10:00:00Z&to=2024-05-01T13:00:00Z&limit=3');
    expect(first.data).toEqual(body.data.slice(0, 3));
    const rest = await json<{ data: Row[]; next_cursor: null }>(
      `/v1/locations/E-01/excursions?from=2024-05-01T10:00:00Z&to=2024-05-01T13:00:00Z&limit=3&cursor=${encodeURIComponent(first.next_cursor)}`,
    );
    expect(rest).toMatchObject({ data: body.data.slice(3), next_cursor: null });
    expect((await get('/v1/locations/NOPE/excursions')).status).toBe(404);
  });

  it('answers alarms with the same definition: hours with readings beyond the version in force', async () => {
    const alarms = await json<{ data: Row[] }>('/v1/alarms?from=2024-05-01T10:00:00Z&to=2024-05-01T13:00:00Z');
    expect(alarms.data.map((alarm) => [alarm.hh, alarm.metric, alarm.threshold, alarm.readings, alarm.minutes, alarm.excess])).toEqual([
      ['10', 'temperature', 'max', 10, 10, 1],
      ['11', 'temperature', 'max', 20, 20, 3],
      ['12', 'humidity', 'min', 3, 3, 4],
    ]);
  });

  it('gives the MKT of a constant temperature as itself and of a two-level series as the closed form, from hourly sums or raw', async () => {
    const constant = await json<Row>('/v1/locations/M-01/mkt?from=2024-05-01T10:00:00Z&to=2024-05-01T13:00:00Z');
    expect(constant).toMatchObject({ source: 'hourly', hours: 3, readings: 180, delta_h: 83.144, note: null });
    expect(Math.abs((constant.mkt as number) - 21.5)).toBeLessThan(1e-9);

    const closedForm = mktOf([term(20), term(30)]);
    for (const [query, source] of [
      ['from=2024-05-01T10:00:00Z&to=2024-05-01T13:00:00Z', 'hourly'],
      ['from=2024-05-01T10:30:00Z&to=2024-05-01T12:30:00Z', 'hourly+raw'],
    ] as const) {
      const twoLevel = await json<Row>(`/v1/locations/M-02/mkt?${query}`);
      expect(twoLevel.source).toBe(source);
      expect(Math.abs((twoLevel.mkt as number) - closedForm), query).toBeLessThan(1e-9 * closedForm);
    }
    // A late reading in an aggregated hour, not re-aggregated yet: that hour is read from raw, not from its stale row.
    await insertReadings(database().db, [{ loc_id: 'M-01', at: '2024-05-01T11:30:30Z', values: [30, 50, null] }]);
    const late = await json<Row>('/v1/locations/M-01/mkt?from=2024-05-01T10:00:00Z&to=2024-05-01T13:00:00Z');
    expect(late).toMatchObject({ source: 'hourly+raw', hours: 2, readings: 181 });
    const withLate = mktOf([...Array.from({ length: 180 }, () => term(21.5)), term(30)]);
    expect(Math.abs((late.mkt as number) - withLate)).toBeLessThan(1e-9 * withLate);
    await sql`DELETE FROM temperature_raw WHERE loc_id = 'M-01' AND capture_dt = '2024-05-01T11:30:30Z'`.execute(database().db);
    await new ScheduledAggregator({ db: database().db, timezone: 'UTC', log: silentLog, clock: manualClock('2024-05-01T13:05:00Z') }).runOnce('test');

    // Another ΔH is computed from raw readings, and says so.
    const other = await json<Row>('/v1/locations/M-02/mkt?from=2024-05-01T10:00:00Z&to=2024-05-01T13:00:00Z&delta_h=100');
    const dhOverR = 100_000 / 8.314462618;
    expect(other).toMatchObject({ source: 'raw', hours: 0, readings: 180, delta_h: 100 });
    expect(other.note).toMatch(/delta_h 100 kJ\/mol differs from the stored 83.144 kJ\/mol: computed from 180 raw readings/);
    expect(Math.abs((other.mkt as number) - mktOf([term(20, dhOverR), term(30, dhOverR)], dhOverR))).toBeLessThan(1e-9 * 30);
    // The day's MKT on daily rows.
    const daily = await json<{ data: Row[] }>('/v1/locations/M-01/daily?from=2024-05-01&to=2024-05-02');
    expect(Math.abs((daily.data[0]?.mkt as number) - 21.5)).toBeLessThan(1e-9);
    expect((await get('/v1/locations/M-01/mkt?delta_h=0')).status).toBe(400);
  });

  it('refuses a number it cannot compute exactly once raw readings are pruned, and keeps what the hourly sums know', async () => {
    const { db } = database();
    await sql`UPDATE aggregator_state SET frozen_before = '2024-05-01T11:00:00Z'`.execute(db);
    await sql`DELETE FROM temperature_raw WHERE capture_dt < '2024-05-01T11:00:00Z'`.execute(db);
    const fromHours = await json<Row>('/v1/locations/M-02/mkt?from=2024-05-01T10:00:00Z&to=2024-05-01T13:00:00Z');
    expect(fromHours).toMatchObject({ source: 'hourly', readings: 180 });
    for (const [query, message] of [
      ['from=2024-05-01T10:00:00Z&to=2024-05-01T13:00:00Z&delta_h=100', /were pruned \(RAW_RETENTION\); delta_h 100 kJ\/mol is not the stored 83.144 kJ\/mol/],
      ['from=2024-05-01T10:30:00Z&to=2024-05-01T13:00:00Z', /starts inside an hour before then: start it on a whole hour/],
    ] as const) {
      const response = await get(`/v1/locations/M-02/mkt?${query}`);
      expect(response.status, query).toBe(422);
      expect(((await response.json()) as { detail: string }).detail).toMatch(message);
    }
    const excursions = await json<{ data: Row[]; summary: Row; events_complete: boolean; events_from: string }>(
      '/v1/locations/E-01/excursions?from=2024-05-01T10:00:00Z&to=2024-05-01T13:00:00Z',
    );
    expect(excursions).toMatchObject({ events_complete: false, events_from: '2024-05-01T11:00:00.000Z' });
    expect(excursions.data[0]).toMatchObject({ start: at(60), readings: 10 });
    expect(excursions.summary.temperature_above_minutes).toBe(30);
  });

  it('lists the audit trail with actor and reason, paged, and offers no way to write it', async () => {
    const all = await json<{ data: Row[] }>('/v1/audit');
    expect(all.data[0]).toMatchObject({ id: 1, actor: 'key-1', action: 'thresholds.change', subject: 'E-01', reason: 'limits from the mapping study', before: null, prev_hash: null });
    expect(all.data[0]?.after).toMatchObject({ temperature_max: 25, threshold_version: { valid_from: '2024-05-01T00:00:00.000Z' } });
    const page = await json<{ data: Row[]; next_cursor: string | null }>('/v1/audit?limit=1');
    expect(page.data).toHaveLength(1);
    expect(page.next_cursor === null).toBe(all.data.length === 1);
    for (const method of ['POST', 'PUT', 'DELETE']) expect((await get('/v1/audit', { method })).status).toBe(404);
    // The versions of a location, and which is in force; -infinity for the limits on record before versioning.
    await sql`INSERT INTO location_threshold (loc_id, valid_from, temperature_max, changed_by, reason) VALUES ('E-01', '-infinity', 30, 'migration 0004', 'on record')`.execute(database().db);
    const versions = await json<{ data: Row[] }>('/v1/locations/E-01/thresholds');
    expect(versions.data.map((version) => [version.valid_from, version.temperature_max, version.changed_by, version.in_force_now])).toEqual([
      ['2024-05-01T00:00:00.000Z', 25, 'key-1', true],
      ['-infinity', 30, 'migration 0004', false],
    ]);
    // A valid_from in the future is refused.
    const future = await get('/v1/locations/E-01', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ temperature_max: 24, valid_from: '2030-01-01T00:00:00Z', reason: 'later' }),
    });
    expect(future.status).toBe(400);
    expect(((await future.json()) as { errors: Row[] }).errors[0]).toMatchObject({ name: 'valid_from' });
  });
});
