import { afterAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { killAllBins, startBin } from './support/processes.js';
import { expectHourlyMatchesRaw, insertReadings, until } from './support/aggregator-fixtures.js';

describe('aggregator run (the compiled bin)', () => {
  const database = useTestDatabase();
  afterAll(killAllBins);

  it('catches up on start, runs on AGGREGATOR_CRON, serves /metrics on port 0 and stops cleanly on SIGTERM', async () => {
    const { db } = database();
    await insertReadings(db, [
      { loc_id: 'P-01', at: '2024-01-01T00:10:00Z', values: [1, 2, 3] },
      { loc_id: 'P-01', at: '2024-01-01T00:20:00Z', values: [3, null, 5] },
    ]);
    const running = startBin('aggregator', ['run'], {
      ...database().env,
      LOG_LEVEL: 'info',
      AGGREGATOR_METRICS_PORT: '0',
      AGGREGATOR_CRON: '* * * * * *',
    });
    const [, port] = await running.waitFor(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/);
    await running.waitFor(/catch-up on start.*aggregation run finished|aggregation run finished.*catch-up on start/);
    await expectHourlyMatchesRaw(db, 'UTC');
    // A late reading: a scheduled tick (every second here) takes it without a restart.
    await insertReadings(db, [{ loc_id: 'P-01', at: '2024-01-01T00:30:00Z', values: [9, 9, 9] }]);
    await until(async () => (await db.selectFrom('temperature').select('sample_count').executeTakeFirst())?.sample_count === 3, 20_000, 'the scheduled run');
    await expectHourlyMatchesRaw(db, 'UTC');
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/plant_aggregator_hours_total\{outcome="written"\} [1-9]/);
    expect(text).toMatch(/plant_aggregator_run_duration_seconds_count [1-9]/);
    running.child.kill('SIGTERM');
    expect(await running.exited()).toBe(0);
  });

  it('refuses an invalid AGGREGATOR_CRON with exit 2', async () => {
    const running = startBin('aggregator', ['run'], { ...database().env, AGGREGATOR_METRICS_PORT: '0', AGGREGATOR_CRON: '99 99 * * * *' });
    expect(await running.exited()).toBe(2);
    expect(running.stderr()).toMatch(/AGGREGATOR_CRON/);
  });
});
