import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { insertHourly, startApi, type RunningApi } from './support/api-app.js';

const BUCKET = new Date('2024-02-01T00:00:00Z');
const HOSTILE = ['=HYPERLINK("http://x.invalid","click")', '+1+2', '-3+4', '@SUM(A1:A9)', '\tTAB', 'SAFE-01'];

describe('CSV and content negotiation', () => {
  const database = useTestDatabase();
  let api: RunningApi;

  beforeAll(async () => {
    await insertHourly(
      database(),
      HOSTILE.map((locId) => ({ locId, bucket: BUCKET, temperature: -5.5, humidity: 40 })),
    );
    api = await startApi(database());
  });
  afterAll(async () => {
    await api?.close();
  });

  const hourly = (query: string, accept?: string) =>
    fetch(`${api.url}/v1/hourly?from=2024-02-01&to=2024-02-02${query}`, { headers: accept ? { accept } : {} });

  it('prefixes text cells that a spreadsheet would run as a formula, and leaves numbers alone', async () => {
    const response = await hourly('&format=csv');
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await response.text()).trim().split('\r\n');
    const rows = lines.slice(1);
    for (const cell of [`"'=HYPERLINK(""http://x.invalid"",""click"")"`, "'+1+2", "'-3+4", "'@SUM(A1:A9)", "'\tTAB", 'SAFE-01']) {
      expect(rows.filter((line) => line.startsWith(`${cell},`)), cell).toHaveLength(1);
    }
    // temperature_avg of -5.5 is a number, not text: never prefixed.
    expect(rows.every((line) => line.includes(',-5.5,'))).toBe(true);
    expect(rows.some((line) => line.includes("'-5.5"))).toBe(false);
  });

  it.each([
    ['application/json, text/csv;q=0.1', 'application/json'],
    ['text/csv;q=0.1, application/json', 'application/json'],
    ['text/csv', 'text/csv'],
    ['text/csv;q=0.9, application/json;q=0.5', 'text/csv'],
    ['*/*', 'application/json'],
    ['text/html,application/xhtml+xml;q=0.9,*/*;q=0.8', 'application/json'],
    ['application/json;q=0, text/csv;q=0.2', 'text/csv'],
  ])('answers Accept: %s with %s', async (accept, type) => {
    const response = await hourly('', accept);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(new RegExp(`^${type.replace('/', '\\/')}`));
    await response.arrayBuffer();
  });

  it('lets format= win over Accept', async () => {
    expect((await hourly('&format=json', 'text/csv')).headers.get('content-type')).toMatch(/^application\/json/);
    expect((await hourly('&format=csv', 'application/json')).headers.get('content-type')).toMatch(/^text\/csv/);
  });
});
