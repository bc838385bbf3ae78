import { sql } from 'kysely';
import { CLIMATE_COLUMNS } from '../db/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { hoursOf, insertHourly, startApi, type RunningApi } from './support/api-app.js';

const NOW = new Date('2024-06-10T12:30:00Z');
const START = new Date('2024-06-01T00:00:00Z');
const HOUR = 3_600_000;

interface Collection<T> {
  data: T[];
  next_cursor: string | null;
}
type Row = Record<string, unknown>;

describe('API endpoints over real HTTP', () => {
  const database = useTestDatabase();
  let api: RunningApi;

  // Writes need a key with write rights (without API_KEYS every write is refused).
  const WRITE_KEY = 'endpoints-write-key-0123456789';
  const get = (path: string, init: RequestInit = {}) =>
    fetch(`${api.url}${path}`, { ...init, headers: { authorization: `Bearer ${WRITE_KEY}`, ...(init.headers as Record<string, string> | undefined) } });
  const json = async <T = Row>(path: string, init: RequestInit = {}): Promise<T> => {
    const response = await get(path, init);
    expect(response.status, `${path}: ${await response.clone().text()}`).toBe(200);
    return (await response.json()) as T;
  };

  beforeAll(async () => {
    const { db } = database();
    await db
      .insertInto('location')
      .values({ loc_id: 'A-01', name: 'Oven hall', plant: 'A', area: 'North', temperature_min: 15, temperature_max: 30, humidity_min: 20, humidity_max: 60 })
      .execute();
    // 228 hours: 2024-06-01T00:00Z .. 2024-06-10T11:00Z, the last complete hour before NOW.
    await insertHourly(database(), hoursOf('A-01', START, 228));
    await insertHourly(database(), hoursOf('E-05', START, 48, 10));
    await db
      .insertInto('temperature_raw')
      .values([
        { loc_id: 'A-01', capture_dt: '2024-06-10T12:05:00Z', temperature: 21, humidity: 41, pcv_temperature: 50, gateway_id: 'gw-1' },
        { loc_id: 'A-01', capture_dt: '2024-06-10T12:10:00Z', temperature: 23, humidity: 43, pcv_temperature: null, gateway_id: 'gw-1' },
        { loc_id: 'A-01', capture_dt: '2024-06-10T12:20:00Z', temperature: 22, humidity: null, pcv_temperature: 52, gateway_id: 'gw-1' },
        { loc_id: 'B-02', capture_dt: '2024-06-10T11:59:00Z', temperature: 18, humidity: 55, pcv_temperature: null, gateway_id: 'gw-2' },
      ])
      .execute();
    await db
      .insertInto('device')
      .values([
        { gateway_id: 'gw-1', device_id: 'd-ok', loc_id: 'A-01', host: '10.0.0.1', port: 502, unit_id: 1, last_ok_at: new Date(NOW.getTime() - 60_000), consecutive_failures: 0 },
        {
          gateway_id: 'gw-1',
          device_id: 'd-failing',
          loc_id: 'A-01',
          host: '10.0.0.1',
          port: 502,
          unit_id: 2,
          last_ok_at: new Date(NOW.getTime() - 120_000),
          last_error: 'timeout',
          last_error_at: new Date(NOW.getTime() - 10_000),
          consecutive_failures: 3,
        },
        { gateway_id: 'gw-2', device_id: 'd-silent', loc_id: 'C-03', host: '10.0.0.2', port: 502, unit_id: 1, last_ok_at: null, consecutive_failures: 9 },
      ])
      .execute();
    api = await startApi(database(), { now: () => NOW, keys: [{ key: WRITE_KEY, canWrite: true }] });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('answer /health, /ready and /metrics', async () => {
    expect(await json('/health')).toEqual({ status: 'ok' });
    expect(await json('/ready')).toEqual({ status: 'ready' });
    const metrics = await get('/metrics');
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await metrics.text();
    expect(text).toMatch(/plant_api_http_requests_total\{method="GET",route="\/health",status_code="200"\} [1-9]/);
    expect(text).toMatch(/plant_api_http_request_duration_seconds_bucket\{.*route="\/ready"/);
    expect(text).toContain('plant_api_process_cpu_seconds_total');
  });

  it('list registered locations and loc_ids seen only in readings or devices, page by page', async () => {
    const all = await json<Collection<Row>>('/v1/locations');
    expect(all.next_cursor).toBeNull();
    expect(all.data.map((location) => [location.loc_id, location.registered])).toEqual([
      ['A-01', true],
      ['B-02', false],
      ['C-03', false],
      ['E-05', false],
    ]);
    expect(all.data[0]).toEqual({
      loc_id: 'A-01',
      name: 'Oven hall',
      plant: 'A',
      area: 'North',
      temperature_min: 15,
      temperature_max: 30,
      humidity_min: 20,
      humidity_max: 60,
      active: true,
      registered: true,
    });
    expect(all.data[1]).toMatchObject({ loc_id: 'B-02', name: null, active: true, registered: false });

    const seen: unknown[] = [];
    let path: string | null = '/v1/locations?limit=3';
    let pages = 0;
    while (path) {
      const response = await get(path);
      const page = (await response.json()) as Collection<Row>;
      seen.push(...page.data.map((location) => location.loc_id));
      pages += 1;
      if (page.next_cursor) {
        const link = response.headers.get('link') ?? '';
        expect(link).toMatch(/^<\/v1\/locations\?limit=3&cursor=[^>]+>; rel="next"$/);
        path = /^<([^>]+)>/.exec(link)?.[1] ?? null;
      } else path = null;
    }
    expect(pages).toBe(2);
    expect(seen).toEqual(['A-01', 'B-02', 'C-03', 'E-05']);
  });

  it('return one location, an unregistered one, and 404 problem+json for an unknown one', async () => {
    expect(await json('/v1/locations/A-01')).toMatchObject({ loc_id: 'A-01', registered: true });
    expect(await json('/v1/locations/C-03')).toMatchObject({ loc_id: 'C-03', registered: false, name: null });
    const missing = await get('/v1/locations/NOPE');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await missing.json()).toMatchObject({ status: 404, title: 'Unknown location', instance: '/v1/locations/NOPE', detail: expect.stringContaining('NOPE') as string });
  });

  it('create and replace a location with PUT, rejecting bad bodies with the field named', async () => {
    const body = { name: 'Store', plant: 'D', temperature_max: 25, humidity_min: 10, reason: 'initial limits' };
    const put = (value: unknown, contentType = 'application/json') =>
      get('/v1/locations/D-04', { method: 'PUT', headers: { 'content-type': contentType }, body: typeof value === 'string' ? value : JSON.stringify(value) });
    const created = await put(body);
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ loc_id: 'D-04', name: 'Store', plant: 'D', area: null, temperature_min: null, temperature_max: 25, humidity_min: 10, humidity_max: null, active: true, registered: true });
    // Changing thresholds needs a reason, for the audit trail.
    const unexplained = await put({ name: 'Store 2', active: false });
    expect(unexplained.status).toBe(400);
    expect(((await unexplained.json()) as { errors: Row[] }).errors).toEqual([expect.objectContaining({ name: 'reason', in: 'body' })]);
    const replaced = await put({ name: 'Store 2', active: false, reason: 'limits withdrawn' });
    expect(replaced.status).toBe(200);
    expect(await replaced.json()).toMatchObject({ name: 'Store 2', plant: null, temperature_max: null, active: false });

    const wrongType = await put({ temperature_max: 'hot' });
    expect(wrongType.status).toBe(400);
    expect(((await wrongType.json()) as { errors: Row[] }).errors).toEqual([expect.objectContaining({ name: 'temperature_max', in: 'body' })]);
    const reversed = await put({ temperature_min: 30, temperature_max: 10 });
    expect(reversed.status).toBe(400);
    expect(await reversed.text()).toContain('temperature_min (30) is above temperature_max (10)');
    expect((await put('{"name":', 'application/json')).status).toBe(400);
    expect((await put('name=x', 'application/x-www-form-urlencoded')).status).toBe(415);
    expect((await put({ unknown: 1 })).status).toBe(400);
  });

  it('serve hourly rows of one location in order, with UTC buckets and plant-local ymd/hh', async () => {
    const day = await json<Collection<Row>>('/v1/locations/A-01/hourly?from=2024-06-01&to=2024-06-02');
    expect(day.data).toHaveLength(24);
    expect(day.next_cursor).toBeNull();
    expect(day.data[0]).toEqual({
      loc_id: 'A-01',
      bucket: '2024-06-01T00:00:00.000Z',
      ymd: '20240601',
      hh: '00',
      temperature_min: 19,
      temperature_max: 21,
      temperature_avg: 20,
      temperature_count: 60,
      humidity_min: 38,
      humidity_max: 42,
      humidity_avg: 40,
      humidity_count: 60,
      pcv_temperature_min: null,
      pcv_temperature_max: null,
      pcv_temperature_avg: null,
      pcv_temperature_count: 0,
      // Stored by hand without the climate columns (as a row frozen before migration 0004).
      ...Object.fromEntries(CLIMATE_COLUMNS.map((column) => [column, null])),
      sample_count: 60,
      expected_count: null,
      coverage: null,
      partial: false,
    });
    expect(day.data.map((row) => row.bucket)).toEqual(Array.from({ length: 24 }, (_, index) => new Date(START.getTime() + index * HOUR).toISOString()));
    // Timestamps with offsets: 02:00+02:00 is 00:00Z.
    const offset = await json<Collection<Row>>(`/v1/locations/A-01/hourly?from=${encodeURIComponent('2024-06-01T02:00:00+02:00')}&to=2024-06-01T03:00:00Z`);
    expect(offset.data.map((row) => row.hh)).toEqual(['00', '01', '02']);
    // The default window is the 7 days before now.
    const recent = await json<Collection<Row>>('/v1/locations/A-01/hourly');
    expect(recent.data[0]?.bucket).toBe('2024-06-03T13:00:00.000Z');
    expect(recent.data.at(-1)?.bucket).toBe('2024-06-10T11:00:00.000Z');
    // A known location without hours is an empty collection, an unknown one 404.
    expect((await json<Collection<Row>>('/v1/locations/C-03/hourly')).data).toEqual([]);
    expect((await get('/v1/locations/NOPE/hourly')).status).toBe(404);
  });

  it('page through hours across page boundaries with signed cursors and Link headers', async () => {
    const range = 'from=2024-06-01&to=2024-06-10';
    const whole = await json<Collection<Row>>(`/v1/locations/A-01/hourly?${range}`);
    expect(whole.data).toHaveLength(216);
    const collected: Row[] = [];
    let next: string | null = `/v1/locations/A-01/hourly?${range}&limit=100`;
    const sizes: number[] = [];
    let firstCursor = '';
    while (next) {
      const response = await get(next);
      expect(response.status).toBe(200);
      const page = (await response.json()) as Collection<Row>;
      sizes.push(page.data.length);
      collected.push(...page.data);
      firstCursor ||= page.next_cursor ?? '';
      next = page.next_cursor ? (/^<([^>]+)>; rel="next"$/.exec(response.headers.get('link') ?? '')?.[1] ?? null) : null;
      if (page.next_cursor) expect(next).toContain(`cursor=${encodeURIComponent(page.next_cursor)}`);
    }
    expect(sizes).toEqual([100, 100, 16]);
    expect(collected).toEqual(whole.data);
    // The same page again (served from the page cache) carries the same body and Link header.
    const firstAgain = await get(`/v1/locations/A-01/hourly?${range}&limit=100`);
    expect(firstAgain.headers.get('link')).toContain(`cursor=${encodeURIComponent(firstCursor)}`);
    expect(((await firstAgain.json()) as Collection<Row>).data).toEqual(whole.data.slice(0, 100));

    const tampered = `${firstCursor.slice(0, -2)}${firstCursor.endsWith('A') ? 'BB' : 'AA'}`;
    const bad = await get(`/v1/locations/A-01/hourly?${range}&limit=100&cursor=${encodeURIComponent(tampered)}`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ errors: [expect.objectContaining({ name: 'cursor', in: 'query' })] });
    const otherQuery = await get(`/v1/locations/A-01/hourly?from=2024-06-02&to=2024-06-10&cursor=${encodeURIComponent(firstCursor)}`);
    expect(otherQuery.status).toBe(400);
    expect(await otherQuery.text()).toContain('other parameters');
  });

  it('serve several locations in one /v1/hourly call ordered by bucket then loc_id', async () => {
    const both = await json<Collection<Row>>('/v1/hourly?loc_id=E-05&loc_id=A-01&from=2024-06-01T00:00:00Z&to=2024-06-01T03:00:00Z');
    expect(both.data.map((row) => `${String(row.bucket).slice(11, 13)} ${String(row.loc_id)}`)).toEqual(['00 A-01', '00 E-05', '01 A-01', '01 E-05', '02 A-01', '02 E-05']);
    const paged = await json<Collection<Row>>('/v1/hourly?loc_id=E-05&loc_id=A-01&from=2024-06-01T00:00:00Z&to=2024-06-01T03:00:00Z&limit=3');
    const rest = await json<Collection<Row>>(`/v1/hourly?loc_id=E-05&loc_id=A-01&from=2024-06-01T00:00:00Z&to=2024-06-01T03:00:00Z&limit=3&cursor=${encodeURIComponent(paged.next_cursor ?? '')}`);
    expect([...paged.data, ...rest.data]).toEqual(both.data);
    expect(rest.next_cursor).toBeNull();
  });

  it('stream CSV for Accept: text/csv and format=csv', async () => {
    const viaAccept = await get('/v1/locations/A-01/hourly?from=2024-06-01&to=2024-06-10', { headers: { accept: 'text/csv' } });
    expect(viaAccept.status).toBe(200);
    expect(viaAccept.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await viaAccept.text()).trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'loc_id,bucket,ymd,hh,temperature_min,temperature_max,temperature_avg,temperature_count,humidity_min,humidity_max,humidity_avg,humidity_count,' +
        'pcv_temperature_min,pcv_temperature_max,pcv_temperature_avg,pcv_temperature_count,' +
        'dew_point_avg,dew_point_max,dew_point_count,temperature_above_count,temperature_below_count,humidity_above_count,humidity_below_count,' +
        'temperature_above_max_delta,temperature_below_max_delta,humidity_above_max_delta,humidity_below_max_delta,temperature_arrhenius_sum,' +
        'sample_count,expected_count,coverage,partial',
    );
    expect(lines).toHaveLength(217);
    expect(lines[1]).toBe('A-01,2024-06-01T00:00:00.000Z,20240601,00,19,21,20,60,38,42,40,60,,,,0,,,,,,,,,,,,,60,,,false');
    const viaFormat = await get('/v1/hourly?loc_id=A-01&loc_id=E-05&from=2024-06-01&to=2024-06-02&format=csv');
    expect((await viaFormat.text()).trimEnd().split('\r\n')).toHaveLength(49);
    const daily = await get('/v1/locations/A-01/daily?from=2024-06-01&to=2024-06-03&format=csv');
    expect((await daily.text()).trimEnd().split('\r\n')).toHaveLength(3);
    const alarms = await get('/v1/alarms?from=2024-06-01&to=2024-06-10&format=csv');
    expect((await alarms.text()).split('\r\n')[0]).toBe('loc_id,bucket,ymd,hh,metric,threshold,readings,minutes,excess');
    expect((await get('/v1/locations/NOPE/hourly?format=csv')).status).toBe(404);
  });

  it('add the current hour from raw readings on include_partial=true, marked partial', async () => {
    const path = '/v1/locations/A-01/hourly?from=2024-06-10T10:00:00Z';
    const without = await json<Collection<Row>>(path);
    expect(without.data.map((row) => row.hh)).toEqual(['10', '11']);
    const withPartial = await json<Collection<Row>>(`${path}&include_partial=true`);
    expect(withPartial.data.map((row) => [row.hh, row.partial])).toEqual([
      ['10', false],
      ['11', false],
      ['12', true],
    ]);
    expect(withPartial.data[2]).toMatchObject({ bucket: '2024-06-10T12:00:00.000Z', ymd: '20240610', sample_count: 3, temperature_max: 23, temperature_avg: 22, humidity_max: 43, humidity_avg: 42, pcv_temperature_max: 52, pcv_temperature_avg: 51 });
    // The aggregator's own definition of an hour (db/hourly-row.ts): MIN and per-metric counts too.
    expect(withPartial.data[2]).toMatchObject({ temperature_min: 21, temperature_count: 3, humidity_min: 41, humidity_count: 2, pcv_temperature_min: 50, pcv_temperature_count: 2 });
    const several = await json<Collection<Row>>('/v1/hourly?loc_id=A-01&loc_id=B-02&from=2024-06-10T11:00:00Z&include_partial=true');
    expect(several.data.map((row) => `${String(row.loc_id)}@${String(row.hh)}:${String(row.partial)}`)).toEqual(['A-01@11:false', 'A-01@12:true']);
  });

  it('give complete past hours an ETag and answer a matching If-None-Match with 304', async () => {
    const path = '/v1/locations/A-01/hourly?from=2024-06-01&to=2024-06-02';
    const first = await get(path);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(first.headers.get('cache-control')).toBe('private, max-age=60');
    const again = await get(path, { headers: { 'if-none-match': etag ?? '' } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const other = await get(path, { headers: { 'if-none-match': '"something-else"' } });
    expect(other.status).toBe(200);
    // A late change to a past hour changes the answer and its ETag at once (nothing stale is served).
    await database().db.updateTable('temperature').set({ temperature_max: 99 }).where('loc_id', '=', 'A-01').where('bucket', '=', START).execute();
    const changed = await get(path, { headers: { 'if-none-match': etag ?? '' } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(((await changed.json()) as Collection<Row>).data[0]?.temperature_max).toBe(99);
    await database().db.deleteFrom('temperature').where('loc_id', '=', 'A-01').where('bucket', '=', new Date(START.getTime() + 23 * HOUR)).execute();
    expect(((await (await get(path)).json()) as Collection<Row>).data).toHaveLength(23);
    await database().db.updateTable('temperature').set({ temperature_max: 21 }).where('loc_id', '=', 'A-01').where('bucket', '=', START).execute();
    await insertHourly(database(), hoursOf('A-01', START, 24).slice(23));
    // A range reaching into the current hour is never cacheable.
    const current = await get('/v1/locations/A-01/hourly?from=2024-06-10T00:00:00Z&include_partial=true');
    expect(current.headers.get('etag')).toBeNull();
    expect(current.headers.get('cache-control')).toBe('no-cache');
    const daily = await get('/v1/locations/A-01/daily?from=2024-06-01&to=2024-06-05');
    expect((await get('/v1/locations/A-01/daily?from=2024-06-01&to=2024-06-05', { headers: { 'if-none-match': daily.headers.get('etag') ?? '' } })).status).toBe(304);
  });

  it('return the newest raw reading of a location, and of several', async () => {
    expect(await json('/v1/locations/A-01/latest')).toEqual({
      loc_id: 'A-01',
      capture_dt: '2024-06-10T12:20:00.000Z',
      temperature: 22,
      humidity: null,
      pcv_temperature: 52,
      gateway_id: 'gw-1',
      received_at: expect.stringMatching(/Z$/) as string,
    });
    expect((await get('/v1/locations/C-03/latest')).status).toBe(404);
    expect(((await (await get('/v1/locations/C-03/latest')).json()) as Row).title).toBe('No readings');
    expect((await get('/v1/locations/NOPE/latest')).status).toBe(404);
    const all = await json<Collection<Row>>('/v1/latest');
    expect(all.data.map((row) => [row.loc_id, row.capture_dt])).toEqual([
      ['A-01', '2024-06-10T12:20:00.000Z'],
      ['B-02', '2024-06-10T11:59:00.000Z'],
    ]);
  });

  it('list devices with status ok, failing or silent, and the pipeline health', async () => {
    const devices = await json<Collection<Row>>('/v1/devices');
    expect(devices.data.map((device) => [device.device_id, device.status])).toEqual([
      ['d-failing', 'failing'],
      ['d-ok', 'ok'],
      ['d-silent', 'silent'],
    ]);
    expect(devices.data[0]).toMatchObject({ gateway_id: 'gw-1', loc_id: 'A-01', host: '10.0.0.1', port: 502, unit_id: 2, last_error: 'timeout', consecutive_failures: 3 });
    const pipeline = await json<Row>('/v1/pipeline');
    expect(pipeline).toEqual({
      aggregation: { newest_bucket: '2024-06-10T11:00:00.000Z', lag_seconds: 1800, dirty_hours: expect.any(Number) as number },
      devices: { total: 3, ok: 1, failing: 1, silent: 1 },
      raw: { newest_capture_dt: '2024-06-10T12:20:00.000Z' },
    });
    expect((pipeline.aggregation as Row).dirty_hours).toBe(2);
  });

  it('list hours with readings beyond thresholds, with the readings, minutes and the excess', async () => {
    // The aggregator's excursion counts (tests/api-excursions-mkt-and-audit-from-hourly-rows-and-raw.test.ts
    // computes them from raw); here written by hand: hour i's max 21 + 0.1 i crosses 30 from i = 91.
    const { db } = database();
    await sql`UPDATE temperature SET temperature_above_count = 5, temperature_above_max_delta = temperature_max - 30, expected_count = 60
              WHERE loc_id = 'A-01' AND temperature_max > 30`.execute(db);
    await sql`UPDATE temperature SET humidity_below_count = 2, humidity_below_max_delta = 3
              WHERE loc_id = 'A-01' AND bucket = ${new Date(START.getTime() + 150 * HOUR)}`.execute(db);
    const from = new Date(START.getTime() + 90 * HOUR).toISOString();
    const to = new Date(START.getTime() + 100 * HOUR).toISOString();
    const alarms = await json<Collection<Row>>(`/v1/alarms?from=${from}&to=${to}`);
    expect(alarms.data).toHaveLength(9);
    for (const alarm of alarms.data) expect(alarm).toMatchObject({ loc_id: 'A-01', metric: 'temperature', threshold: 'max', readings: 5, minutes: 5 });
    expect(alarms.data[0]).toMatchObject({ bucket: new Date(START.getTime() + 91 * HOUR).toISOString(), ymd: '20240604', hh: '19' });
    expect(alarms.data[0]?.excess as number).toBeCloseTo(0.1, 9);
    const page = await json<Collection<Row>>(`/v1/alarms?from=${from}&to=${to}&limit=4&loc_id=A-01`);
    expect(page.data).toEqual(alarms.data.slice(0, 4));
    const rest = await json<Collection<Row>>(`/v1/alarms?from=${from}&to=${to}&limit=4&loc_id=A-01&cursor=${encodeURIComponent(page.next_cursor ?? '')}`);
    expect(rest.data).toEqual(alarms.data.slice(4, 8));
    const late = await json<Collection<Row>>(`/v1/alarms?from=${new Date(START.getTime() + 150 * HOUR).toISOString()}&to=${new Date(START.getTime() + 151 * HOUR).toISOString()}`);
    expect(late.data.map((alarm) => `${String(alarm.metric)}>${String(alarm.threshold)}`)).toEqual(['temperature>max', 'humidity>min']);
    expect(late.data[1]?.excess).toBe(3);
  });

  it('reject reversed, oversized and malformed ranges with 400 naming the parameter', async () => {
    for (const [query, name] of [
      ['from=2024-06-05&to=2024-06-01', 'from'],
      ['from=2020-01-01&to=2024-01-01', 'to'],
      ['from=2024-02-30', 'from'],
      ['from=yesterday', 'from'],
      ['to=2024-06-01T25:00:00Z', 'to'],
      ['from=2024-06-01T00:00:00', 'from'],
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['include_partial=maybe', 'include_partial'],
      ['format=xml', 'format'],
    ] as const) {
      const response = await get(`/v1/locations/A-01/hourly?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = (await response.json()) as { errors: Row[]; type: string; title: string; detail: string };
      expect(problem.errors[0]?.name, query).toBe(name);
      expect(problem.type).toMatch(/^https:\/\//);
    }
    expect((await get('/v1/locations/A-01/daily?tz=Mars/Base')).status).toBe(400);
    expect((await get('/nope')).status).toBe(404);
    expect(await (await get('/nope')).json()).toMatchObject({ status: 404, title: 'Not found' });
    expect((await get('/v1/locations/%E0%A4%A')).status).toBe(400);
  });
});
