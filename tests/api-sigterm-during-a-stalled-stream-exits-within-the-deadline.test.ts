import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHUTDOWN_DEADLINE_MS } from '../api/cli.js';
import { useTestDatabase } from './support/database.js';
import { hoursOf, insertHourly } from './support/api-app.js';
import { killAllBins, startBin } from './support/processes.js';

/** Opens a CSV download, takes its first bytes and stops reading, keeping the socket open. */
function stalledDownload(url: string): Promise<http.ClientRequest> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, (response) => {
      response.once('data', () => {
        response.pause();
        resolve(request);
      });
    });
    request.on('error', () => undefined);
    request.setTimeout(10_000, () => reject(new Error('the download did not start')));
  });
}

describe('plant-climate api on SIGTERM', () => {
  const database = useTestDatabase();

  beforeAll(async () => {
    for (let index = 1; index <= 6; index += 1) await insertHourly(database(), hoursOf(`T-0${index}`, new Date('2024-01-01T00:00:00Z'), 365 * 24));
  });
  afterAll(killAllBins);

  it('warns when it listens beyond loopback without keys, and exits 0 within its deadline while a client holds a stream it does not read', async () => {
    const api = startBin('plant-climate', ['api'], { ...database().env, HOST: '0.0.0.0', PORT: '0', LOG_LEVEL: 'info' });
    const [, port] = await api.waitFor(/API listening on http:\/\/0\.0\.0\.0:(\d+) /);
    expect(api.stderr()).toMatch(/listens on 0\.0\.0\.0 without API_KEYS/);
    const download = await stalledDownload(`http://127.0.0.1:${port}/v1/hourly?from=2024-01-01&to=2024-12-31&format=csv`);
    try {
      const signalled = Date.now();
      api.child.kill('SIGTERM');
      const exit = await Promise.race([api.exited(), new Promise((resolve) => setTimeout(() => resolve('still running'), SHUTDOWN_DEADLINE_MS + 5_000))]);
      const elapsed = Date.now() - signalled;
      expect(exit, api.stderr()).toBe(0);
      expect(elapsed).toBeLessThan(SHUTDOWN_DEADLINE_MS);
    } finally {
      download.destroy();
    }
  });
});
