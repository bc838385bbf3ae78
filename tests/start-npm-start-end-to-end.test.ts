import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureEmbeddedPostgres } from '../db/index.js';
import { createLogger } from '../runtime/logger.js';
import { BinProcess, binEnv, describeWithComponents, freshDataDir, launcherPorts, pollUntil, removeDataDir } from './support/deploy-processes.js';

/**
 * `npm start` as a plant engineer runs it (node dist/bin/plant-climate.js start, which is what
 * the npm script runs after the build): the embedded PostgreSQL in an empty data directory,
 * the simulated plant, seeded history, live polling, the API; Ctrl-C; and a second start on
 * the same data.
 */
const LOCATIONS = ['SIM-01', 'SIM-02', 'SIM-03', 'SIM-04'];
const HOUR = 3_600_000;

interface Latest {
  loc_id: string;
  capture_dt: string;
  received_at: string;
}
interface Hourly {
  bucket: string;
  sample_count: number;
}

async function getJson<T>(url: string): Promise<T | undefined> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return response.ok ? ((await response.json()) as T) : undefined;
}

describeWithComponents('npm start (plant-climate start) on the embedded default', () => {
  let dataDir = '';
  let env: NodeJS.ProcessEnv = {};
  const processes: BinProcess[] = [];

  beforeAll(async () => {
    dataDir = freshDataDir('start-e2e-');
    env = binEnv({ PLANT_DATA_DIR: dataDir, ...(await launcherPorts()) });
  });

  afterAll(async () => {
    for (const process of processes) await process.stop();
    await removeDataDir(dataDir);
  });

  async function start(): Promise<{ launcher: BinProcess; base: string; startedAt: number }> {
    const startedAt = Date.now();
    const launcher = new BinProcess('plant-climate', ['start'], env);
    processes.push(launcher);
    const [, base] = await launcher.stdoutLine(/status page\s+(http:\/\/\S+?)\/?$/, 120_000);
    return { launcher, base: base, startedAt };
  }

  /** Live readings of every simulated location, taken by this run's collector. */
  async function liveReadings(base: string, since: number): Promise<Latest[]> {
    return pollUntil('a live reading from every simulated location', 90_000, async () => {
      const latest = await Promise.all(LOCATIONS.map((loc) => getJson<Latest>(`${base}/v1/locations/${loc}/latest`)));
      const live = latest.every((row) => row !== undefined && Date.parse(row.received_at) >= since && Date.parse(row.capture_dt) >= since - 1_000);
      return live ? (latest as Latest[]) : undefined;
    }, 500);
  }

  async function stopWithCtrlC(launcher: BinProcess): Promise<{ code: number | null; ms: number }> {
    const sent = Date.now();
    launcher.child.kill('SIGINT');
    const status = await launcher.exitWithin(10_000);
    expect(status, `no exit within 10 s of SIGINT\n${launcher.tail()}`).toBeDefined();
    return { code: status!.code, ms: Date.now() - sent };
  }

  async function withDatabase<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    // The launcher owns the running server; this reuses it (and does not stop it).
    const server = await ensureEmbeddedPostgres({ dataDir, log: createLogger('silent') });
    expect(server.owner).toBe(false);
    const client = new pg.Client({ connectionString: server.url, options: '-c search_path=flet_montrg' });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
      // Unregisters this process as a user of the server, so that the launcher stops it on exit.
      await server.stop();
    }
  }

  it('seeds and aggregates history, polls every location, serves the API and docs, stops cleanly, and restarts without duplicates or a second seed', async () => {
    // --- first start: empty data directory ---
    const first = await start();
    expect(first.launcher.stdout.join('\n')).toMatch(/API docs\s+http:\/\/\S+\/docs/);
    await liveReadings(first.base, first.startedAt);

    // Hourly rows from the seeded history (the last 7 days), for every location.
    const seededFrom = new Date(first.startedAt - 6 * 24 * HOUR).toISOString();
    const seededTo = new Date(first.startedAt - 2 * HOUR).toISOString();
    for (const loc of LOCATIONS) {
      const hourly = await getJson<{ data: Hourly[] }>(`${first.base}/v1/locations/${loc}/hourly?from=${seededFrom}&to=${seededTo}`);
      expect(hourly?.data.length, loc).toBeGreaterThanOrEqual(24 * 6 - 2 - 1);
      // One seeded reading a minute: a full hour has 60.
      expect(hourly!.data.every((row) => row.sample_count === 60), loc).toBe(true);
    }

    // The simulated plant registered its locations with names, areas and thresholds (audited),
    // and SIM-02's drift shows as excursion events in the seeded history; MKT is there too.
    const locations = await getJson<{ data: { loc_id: string; name: string | null; area: string | null; temperature_max: number | null }[] }>(`${first.base}/v1/locations`);
    for (const location of locations!.data) expect(location, location.loc_id).toMatchObject({ name: expect.any(String) as string, area: expect.any(String) as string, temperature_max: expect.any(Number) as number });
    const excursions = await getJson<{ data: { metric: string; direction: string; minutes: number }[] }>(`${first.base}/v1/locations/SIM-02/excursions?from=${seededFrom}&to=${seededTo}`);
    expect(excursions!.data.length).toBeGreaterThan(5);
    expect(excursions!.data[0]).toMatchObject({ metric: 'temperature', direction: 'above' });
    const mkt = await getJson<{ mkt: number; source: string }>(`${first.base}/v1/locations/SIM-01/mkt?from=${seededFrom}&to=${seededTo}`);
    expect(mkt?.mkt).toBeGreaterThan(15);
    const audit = await getJson<{ data: { action: string }[] }>(`${first.base}/v1/audit`);
    expect(audit!.data.filter((entry) => entry.action === 'thresholds.change')).toHaveLength(LOCATIONS.length);

    // The docs page and the OpenAPI document behind it.
    const docs = await fetch(`${first.base}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
    const openapi = await getJson<{ openapi: string; paths: Record<string, unknown> }>(`${first.base}/docs/json`);
    expect(openapi?.openapi).toMatch(/^3\./);
    expect(Object.keys(openapi!.paths)).toContain('/v1/locations/{locId}/latest');

    const firstCounts = await withDatabase(async (client) => (await client.query<{ seeded: number }>(
      `SELECT count(*)::int AS seeded FROM temperature_raw WHERE capture_dt < $1`, [new Date(first.startedAt - 60_000)])).rows[0]);
    expect(firstCounts.seeded).toBeGreaterThanOrEqual(LOCATIONS.length * 7 * 24 * 60 - LOCATIONS.length * 2);

    const firstStop = await stopWithCtrlC(first.launcher);
    expect(firstStop.code, first.launcher.tail()).toBe(0);
    expect(firstStop.ms).toBeLessThan(10_000);
    const stoppedAt = Date.now();
    // The launcher stopped the embedded PostgreSQL it started before it exited.
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    expect(first.launcher.logLines().some((line) => line.msg === 'first start: seeding simulated history')).toBe(true);

    // --- second start on the same data directory ---
    const second = await start();
    await liveReadings(second.base, second.startedAt);
    const after = await withDatabase(async (client) =>
      (await client.query<{ total: number; distinct_keys: number; before_stop: number; after_stop: number }>(
        `SELECT count(*)::int AS total,
                count(DISTINCT (loc_id, capture_dt))::int AS distinct_keys,
                count(*) FILTER (WHERE capture_dt < $1)::int AS before_stop,
                count(*) FILTER (WHERE capture_dt >= $2)::int AS after_stop
           FROM temperature_raw`,
        [new Date(first.startedAt - 60_000), new Date(stoppedAt)],
      )).rows[0],
    );
    const secondRunMs = Date.now() - second.startedAt;
    expect(after.total).toBe(after.distinct_keys);
    // No second seed: the history before the first start is what it was, and what the second
    // run added is what its collector can have polled (one reading per location per 10 s).
    expect(after.before_stop).toBe(firstCounts.seeded);
    expect(after.after_stop).toBeGreaterThan(0);
    expect(after.after_stop).toBeLessThanOrEqual(LOCATIONS.length * (Math.ceil(secondRunMs / 10_000) + 2));
    expect(second.launcher.logLines().some((line) => typeof line.msg === 'string' && line.msg.startsWith('first start'))).toBe(false);

    const secondStop = await stopWithCtrlC(second.launcher);
    expect(secondStop.code, second.launcher.tail()).toBe(0);
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
  }, 300_000);
});
