import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { hoursOf, insertHourly, startApi, type RunningApi } from './support/api-app.js';

const odd = fc.oneof(
  fc.constantFrom(
    "'; DROP TABLE location; --",
    "A-01' OR '1'='1",
    '../../etc/passwd',
    '%00',
    '%',
    '%zz',
    '%E0%A4%A',
    '%C0%AF',
    '\u0000',
    '😀',
    'ñ',
    '',
    ' ',
    'null',
    'undefined',
    '[]',
    '{}',
    'NaN',
    '-1',
    '0',
    '1e308',
    '99999999999999999999',
    '2024-02-30',
    '2024-13-01',
    '0000-01-01',
    '9999-12-31',
    '2024-01-01T00:00:00',
    '2024-01-01T24:00:00Z',
    '2024-01-01T00:00:00+25:00',
    '2024-06-01T00:00:00.123456789Z',
    '1970-01-01',
    'Europe/Berlin',
    'Mars/Olympus',
    'text/csv',
    'a'.repeat(300),
    'x.y.z',
    'eyJzIjoiYSIsInAiOlsxLDJdfQ.AAAA',
  ),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((date) => date.toISOString()),
  fc.date({ min: new Date('2023-01-01'), max: new Date('2025-01-01'), noInvalidDate: true }).map((date) => date.toISOString().slice(0, 10)),
);

/** Sometimes encoded, sometimes raw (light-my-request sends what it can). */
const encoded = fc.tuple(odd, fc.boolean()).map(([value, encode]) => (encode ? encodeURIComponent(value) : value.replace(/[\s#?]/g, '')));

const paths = fc.oneof(
  fc.constantFrom('/v1/locations', '/v1/hourly', '/v1/latest', '/v1/devices', '/v1/pipeline', '/v1/alarms', '/health', '/ready', '/', '/docs/json', '/metrics', '/v2/x', '/v1'),
  encoded.map((id) => `/v1/locations/${id}`),
  fc.tuple(encoded, fc.constantFrom('hourly', 'daily', 'latest', 'nope', 'hourly/extra')).map(([id, leaf]) => `/v1/locations/${id}/${leaf}`),
  fc.constantFrom('/v1/locations/A-01/hourly', '/v1/locations/A-01/daily', '/v1/locations/A-01'),
);

const params = fc.array(
  fc.tuple(fc.constantFrom('from', 'to', 'limit', 'cursor', 'format', 'include_partial', 'tz', 'loc_id', 'loc_id', 'x', 'from[]', 'limit[a]'), encoded),
  { maxLength: 6 },
);

const request = fc.record({
  method: fc.constantFrom('GET', 'GET', 'GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'),
  path: paths,
  params,
  accept: fc.option(fc.constantFrom('text/csv', 'application/json', '*/*', 'text/html', 'garbage/;;', 'text/csv;q=0.1, application/json'), { nil: undefined }),
  authorization: fc.option(fc.constantFrom('Bearer', 'Bearer x', 'Basic abc', 'Bearer ' + 'k'.repeat(5000)), { nil: undefined }),
  ifNoneMatch: fc.option(fc.constantFrom('*', '"abc"', 'W/"x"', ',,,'), { nil: undefined }),
  contentType: fc.option(fc.constantFrom('application/json', 'text/plain', 'application/json; charset=latin1', 'multipart/form-data', 'application/x-www-form-urlencoded'), { nil: undefined }),
  body: fc.option(
    fc.oneof(
      fc.json().map(String),
      fc.string(),
      fc.record({ name: odd, temperature_max: fc.oneof(fc.double(), odd), humidity_min: fc.oneof(fc.integer(), fc.constant(null)), active: fc.oneof(fc.boolean(), odd) }).map((value) => JSON.stringify(value)),
    ),
    { nil: undefined },
  ),
});

describe('the API under generated bad and odd requests', () => {
  const database = useTestDatabase();
  let api: RunningApi;

  beforeAll(async () => {
    await database().db.insertInto('location').values({ loc_id: 'A-01', name: 'Fuzz', temperature_max: 25 }).execute();
    await insertHourly(database(), hoursOf('A-01', new Date('2024-06-01T00:00:00Z'), 72));
    api = await startApi(database(), { now: () => new Date('2024-06-03T12:00:00Z') });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('answers 1,200 of them without a 5xx, errors as problem+json', async () => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (generated) => {
        const query = generated.params.map(([name, value]) => `${name}=${value}`).join('&');
        const url = query ? `${generated.path}?${query}` : generated.path;
        const headers: Record<string, string> = {};
        if (generated.accept) headers.accept = generated.accept;
        if (generated.authorization) headers.authorization = generated.authorization;
        if (generated.ifNoneMatch) headers['if-none-match'] = generated.ifNoneMatch;
        if (generated.contentType) headers['content-type'] = generated.contentType;
        const hasBody = generated.body !== undefined && !['GET', 'HEAD'].includes(generated.method);
        const response = await api.app.inject({
          method: generated.method as 'GET',
          url,
          headers,
          ...(hasBody ? { payload: generated.body } : {}),
        });
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        if (response.statusCode >= 500) throw new Error(`${generated.method} ${url} -> ${response.statusCode}: ${response.body}`);
        if (response.statusCode >= 400 && generated.method !== 'HEAD') {
          expect(response.headers['content-type'], `${generated.method} ${url}`).toMatch(/^application\/problem\+json/);
          const problem = response.json<{ status: number; title: string; detail: string }>();
          expect(problem.status).toBe(response.statusCode);
          expect(problem.detail).not.toMatch(/at .+\.(ts|js):\d+/);
        }
      }),
      { numRuns: 1200, seed: Number(process.env.FUZZ_SEED ?? 20241123) },
    );
    if (process.env.FUZZ_DEBUG) process.stderr.write(`statuses: ${JSON.stringify([...statuses])}\n`);
    // The generator reaches both sides: successes and several kinds of rejection.
    expect([...statuses.keys()].filter((status) => status < 300).length).toBeGreaterThan(0);
    expect([...statuses.keys()].filter((status) => status >= 400).length).toBeGreaterThanOrEqual(3);
    // And the data survived the injection strings.
    expect((await database().db.selectFrom('location').select('loc_id').execute()).map((row) => row.loc_id)).toContain('A-01');
  }, 240_000);
});
