import http from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { hoursOf, insertHourly, startApi, type RunningApi } from './support/api-app.js';

const PATH = '/v1/locations/G-01/hourly?from=2024-05-01&to=2024-05-03';

interface Raw {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** A request that shows the bytes as sent (fetch would decompress them). */
function raw(url: string, headers: Record<string, string>): Promise<Raw> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      })
      .on('error', reject);
  });
}

describe('cached hourly pages and Accept-Encoding', () => {
  const database = useTestDatabase();
  let api: RunningApi;

  beforeAll(async () => {
    await insertHourly(database(), hoursOf('G-01', new Date('2024-05-01T00:00:00Z'), 48));
    api = await startApi(database(), { now: () => new Date('2024-06-01T00:00:00Z') });
  });
  afterAll(async () => {
    await api?.close();
  });

  /** Asks until the page comes in `coding` (it is compressed in the background after the first request for it). */
  async function untilEncoded(coding: 'br' | 'gzip', accept: string): Promise<Raw> {
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const response = await raw(`${api.url}${PATH}`, { 'accept-encoding': accept });
      expect(response.status).toBe(200);
      if (response.headers['content-encoding'] === coding) return response;
      expect(response.headers['content-encoding']).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`never served with ${coding}`);
  }

  it('sends brotli or gzip as the client prefers, the same JSON, each coding with its own ETag', async () => {
    const plain = await raw(`${api.url}${PATH}`, {});
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toMatch(/accept-encoding/i);
    const json = JSON.parse(plain.body.toString('utf8')) as { data: unknown[] };
    expect(json.data).toHaveLength(48);

    const br = await untilEncoded('br', 'gzip, deflate, br');
    expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
    expect(br.body.length).toBeLessThan(plain.body.length / 3);
    const gzip = await untilEncoded('gzip', 'br;q=0, gzip');
    expect(gunzipSync(gzip.body).equals(plain.body)).toBe(true);

    const etags = new Set([plain.headers.etag, br.headers.etag, gzip.headers.etag]);
    expect(etags.size).toBe(3);
    expect((await raw(`${api.url}${PATH}`, { 'accept-encoding': 'br', 'if-none-match': String(br.headers.etag) })).status).toBe(304);
    // A client that stored the page uncompressed revalidates with that ETag: still 304, with the ETag it holds.
    const held = await raw(`${api.url}${PATH}`, { 'accept-encoding': 'br', 'if-none-match': String(plain.headers.etag) });
    expect(held.status).toBe(304);
    expect(held.headers.etag).toBe(plain.headers.etag);
    expect((await raw(`${api.url}${PATH}`, { 'accept-encoding': 'identity' })).headers['content-encoding']).toBeUndefined();
  });
});
