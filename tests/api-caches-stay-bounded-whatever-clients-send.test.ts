import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResponseCache } from '../api/caching/response-cache.js';
import { timeZoneCacheSizes } from '../api/time/time-zones.js';
import { useTestDatabase } from './support/database.js';
import { hoursOf, insertHourly, startApi, type RunningApi } from './support/api-app.js';

const ZONES = ['Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'Australia/Sydney', 'America/Argentina/Buenos_Aires'];

/** The `index`-th capitalisation of `zone` (bit i of index upper-cases letter i). */
function capitalisation(zone: string, index: number): string {
  let bit = 0;
  return [...zone].map((char) => (/[a-z]/i.test(char) ? ((index >> bit++) & 1 ? char.toUpperCase() : char.toLowerCase()) : char)).join('');
}

describe('caches under varied valid input', () => {
  const database = useTestDatabase();
  let api: RunningApi;

  beforeAll(async () => {
    await insertHourly(database(), hoursOf('Z-01', new Date('2024-03-01T00:00:00Z'), 48));
    api = await startApi(database());
  });
  afterAll(async () => {
    await api?.close();
  });

  it('keeps one time-zone formatter per zone for 3,000 capitalisations of zone names, and a bounded map of spellings', async () => {
    const before = timeZoneCacheSizes();
    const spellings = new Set<string>();
    for (let index = 0; spellings.size < 3_000; index += 1) spellings.add(capitalisation(ZONES[index % ZONES.length] ?? 'UTC', Math.floor(index / ZONES.length) + 1));
    const statuses = new Map<number, number>();
    for (const tz of spellings) {
      const response = await api.app.inject({ url: `/v1/locations/Z-01/daily?from=2024-03-01&to=2024-03-03&tz=${encodeURIComponent(tz)}` });
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
    }
    expect(Object.fromEntries(statuses)).toEqual({ 200: 3_000 });
    const after = timeZoneCacheSizes();
    // One formatter for each of the five zones (and what was there before), never one per spelling.
    expect(after.formatters - before.formatters).toBeLessThanOrEqual(ZONES.length);
    expect(after.formatters).toBeLessThanOrEqual(64);
    expect(after.formatterBytes).toBeLessThanOrEqual(64 * 32 * 1024);
    expect(after.spellings).toBeLessThanOrEqual(1024);
    expect(after.spellingBytes).toBeLessThanOrEqual(256 * 1024);
  });

  it('answers a capitalised zone like the canonical one, with cursors of the same scope', async () => {
    const canonical = await api.app.inject({ url: '/v1/locations/Z-01/daily?from=2024-03-01&to=2024-03-03&tz=Europe/Berlin&limit=1' });
    const odd = await api.app.inject({ url: '/v1/locations/Z-01/daily?from=2024-03-01&to=2024-03-03&tz=eUROPE/bERLIN&limit=1' });
    expect(odd.json()).toEqual(canonical.json());
    expect((await api.app.inject({ url: '/v1/locations/Z-01/daily?tz=Europe/Nowhere' })).statusCode).toBe(400);
  });

  it('keeps the page cache within its entries and bytes', () => {
    const cache = new ResponseCache(8, 1024 * 1024);
    for (let index = 0; index < 100; index += 1) {
      cache.set(`page-${index}`, { version: '1:1', payload: Buffer.alloc(50_000 + index, 'x'), etag: `"${index}"`, link: undefined });
    }
    expect(cache.size.entries).toBeLessThanOrEqual(8);
    expect(cache.size.bytes).toBeLessThanOrEqual(1024 * 1024);
    // The newest pages are the ones kept.
    expect(cache.get('page-99', { version: '1:1' })?.etag).toBe('"99"');
    expect(cache.get('page-0', { version: '1:1' })).toBeUndefined();
  });
});
