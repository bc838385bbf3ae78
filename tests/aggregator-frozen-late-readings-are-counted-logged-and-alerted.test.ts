import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ScheduledAggregator, createAggregatorMetrics, pruneRaw } from '../aggregator/index.js';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { killAllBins, runBin } from './support/processes.js';
import { describeWithPeer, peers } from './support/peers.js';
import { REPO } from './support/deploy-expressions.js';
import { generateReadings, hourlyXmins, insertReadings, manualClock, storedHourly } from './support/aggregator-fixtures.js';

const run = promisify(execFile);
const DAY_MS = 86_400_000;
const METRIC = 'plant_aggregator_frozen_late_readings_total';

/** A pino logger whose lines are kept, parsed. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { log: createLogger('info', stream), warnings: () => lines.filter((line) => line.level === 40) };
}

describe('readings that land in frozen hours are loud', () => {
  const database = useTestDatabase();
  afterAll(killAllBins);
  const metrics = createAggregatorMetrics({ defaultMetrics: false });
  const scraped = async () => Number(/^plant_aggregator_frozen_late_readings_total (\S+)$/m.exec(await metrics.registry.metrics())?.[1]);
  const counts: number[] = [];

  it('are counted per reading in the metric, logged at warn once per hour, and leave the frozen rows alone', async () => {
    const { db } = database();
    const { log, warnings } = capturingLogger();
    await generateReadings(db, { locIds: ['Z-01', 'Z-02'], from: '2024-03-01T00:00:00Z', to: '2024-03-04T00:00:00Z', stepSeconds: 600 });
    const clock = manualClock('2024-03-04T00:30:00Z');
    const aggregator = new ScheduledAggregator({ db, timezone: 'UTC', log, metrics, clock });
    await aggregator.runOnce('initial');
    await pruneRaw(db, { timezone: 'UTC', retentionMs: DAY_MS, now: clock(), batchSize: 500, log });
    await aggregator.runOnce('after prune');
    counts.push(await scraped());
    expect(counts[0]).toBe(0);
    expect(warnings()).toEqual([]);
    const frozen = await storedHourly(db, { to: new Date('2024-03-03T00:00:00Z') });
    const xmins = await hourlyXmins(db);

    // Two late readings for one frozen hour in one statement, one for another, one for an open hour.
    await insertReadings(db, [
      { loc_id: 'Z-01', at: '2024-03-01T05:00:30Z', values: [99, 99, 99] },
      { loc_id: 'Z-01', at: '2024-03-01T05:01:30Z', values: [98, 98, 98] },
    ]);
    await insertReadings(db, [{ loc_id: 'Z-02', at: '2024-03-02T23:59:59Z', values: [1, null, null] }]);
    await insertReadings(db, [{ loc_id: 'Z-02', at: '2024-03-03T10:00:30Z', values: [2, 2, 2] }]);
    const report = await aggregator.runOnce('late data');
    expect(report).toMatchObject({ claimed: 1, frozenMarksDropped: 2 });
    counts.push(await scraped());
    expect(counts[1]).toBe(3);
    expect(warnings().map((line) => [line.locId, line.bucket, line.readings])).toEqual([
      ['Z-01', '2024-03-01T05:00:00.000Z', 2],
      ['Z-02', '2024-03-02T23:00:00.000Z', 1],
    ]);
    expect(String(warnings()[0]?.msg)).toMatch(/arrived after raw retention froze it .* raise RAW_RETENTION/);
    expect(await storedHourly(db, { to: new Date('2024-03-03T00:00:00Z') })).toEqual(frozen);
    const after = await hourlyXmins(db);
    for (const key of frozen.keys()) expect(after.get(key), key).toBe(xmins.get(key));

    // Nothing new: no new warning, the counter stays.
    await aggregator.runOnce('quiet');
    expect(await scraped()).toBe(3);
    expect(warnings()).toHaveLength(2);

    // A prune reports late readings before it deletes them, and the database has counted them.
    await insertReadings(db, [{ loc_id: 'Z-02', at: '2024-03-01T01:00:00.5Z', values: [5, 5, 5] }]);
    await pruneRaw(db, { timezone: 'UTC', retentionMs: DAY_MS, now: clock(), batchSize: 500, log });
    expect(warnings().at(-1)).toMatchObject({ locId: 'Z-02', bucket: '2024-03-01T01:00:00.000Z', readings: 1 });
    await aggregator.runOnce('after the second prune');
    expect(await scraped()).toBe(4);
  });

  it('RAW_RETENTION below the minimum is refused with exit 2, naming the minimum', async () => {
    const result = await runBin('aggregator', ['prune'], { ...database().env, RAW_RETENTION: '1ms' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/RAW_RETENTION: at least 2d \(a nightly verify of yesterday needs yesterday's raw rows.*got "1ms"/);
  });

  describeWithPeer(peers.promtool, 'and alerted', () => {
    it('the scraped counter, replayed to promtool, fires AggregatorFrozenLateReadings', async () => {
      expect(counts).toEqual([0, 3]);
      const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'frozen-late-'));
      try {
        fs.copyFileSync(path.join(REPO, 'prometheus', 'alerts.yml'), path.join(scratch, 'alerts.yml'));
        const rule = (parse(fs.readFileSync(path.join(REPO, 'prometheus', 'alerts.yml'), 'utf8')) as { groups: { rules: { alert?: string; annotations: object }[] }[] }).groups
          .flatMap((group) => group.rules)
          .find((candidate) => candidate.alert === 'AggregatorFrozenLateReadings');
        const labels = { severity: 'warning', component: 'aggregator', job: 'aggregator', instance: 'aggregator:9465' };
        fs.writeFileSync(
          path.join(scratch, 'test.yml'),
          stringify({
            rule_files: ['alerts.yml'],
            evaluation_interval: '1m',
            tests: [
              {
                interval: '5m',
                // The two values the aggregator exported, before and after the late readings, scraped every 5 minutes.
                input_series: [{ series: `${METRIC}{job="aggregator", instance="aggregator:9465"}`, values: `${counts[0]}x12 ${counts[1]}x12` }],
                alert_rule_test: [
                  { eval_time: '55m', alertname: 'AggregatorFrozenLateReadings', exp_alerts: [] },
                  { eval_time: '65m', alertname: 'AggregatorFrozenLateReadings', exp_alerts: [{ exp_labels: labels, exp_annotations: rule?.annotations }] },
                ],
              },
            ],
          }),
        );
        const { stdout } = await run('promtool', ['test', 'rules', 'test.yml'], { cwd: scratch });
        expect(stdout).toContain('SUCCESS');
      } finally {
        fs.rmSync(scratch, { recursive: true, force: true });
      }
    });
  });
});
