import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig, lineBudgets } from '../collectors/index.js';
import { useTestDatabase } from './support/database.js';
import { metricsPortOf, startBin, startSimulator, waitFor, type BinProcess } from './support/modbus-processes.js';

const run = promisify(execFile);

/** A sample of a metric with these labels in Prometheus text, or undefined. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

/**
 * Twelve transmitters on one 9,600-baud bus behind a simulated serial device server, polled
 * every 200 ms: each poll is one read of six registers, 25 characters on the wire plus two
 * 3.5-character silences, 32 characters or 33.3 ms; twelve of them need 400 ms of every 200.
 */
describe('an oversubscribed 9,600-baud line', () => {
  const database = useTestDatabase();
  let dir: string;
  let config: string;
  let simulator: BinProcess | undefined;
  let collector: BinProcess | undefined;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-budget-'));
    config = path.join(dir, 'gw.yaml');
    const started = await startSimulator(['--transport', 'rtu-over-tcp', '--baud-rate', '9600', '--devices', '12', '--units-per-port', '12', '--poll-interval', '200ms', '--write-config', config]);
    simulator = started.bin;
  });

  afterAll(async () => {
    await collector?.stop('SIGKILL');
    await simulator?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('is computed from baud rate, frame sizes, silences and interval', async () => {
    const [budget] = lineBudgets(await loadGatewayConfig(config));
    // 9600 8N1: 10 bits a character, 1.042 ms; silence 3.5 characters.
    expect(budget?.roundMs).toBeCloseTo(12 * (25 + 2 * 3.5) * (10 / 9.6), 6);
    expect(budget?.utilization).toBeCloseTo((12 * 32 * (10 / 9.6)) / 200, 6);
  });

  it('collector --check warns with the line\'s budget', async () => {
    const { stdout } = await run(process.execPath, ['dist/bin/collector.js', '--config', config, '--check']);
    expect(stdout).toMatch(/line 127\.0\.0\.1:\d+ \(rtu-over-tcp, 9600 8N1\): 12 device\(s\) .* 12 request\(s\) per poll round; a round takes 400\.0 ms of line time, 200% of the line at the configured intervals \(fastest common interval 400 ms\)/);
    expect(stdout).toMatch(/WARNING: line 127\.0\.0\.1:\d+ is oversubscribed: its devices need 200% of the line\. .* Poll them every 400 ms or slower/);
  });

  it('at run time: a saturated line, a count of polls that came due while the line was still busy, and log lines', async () => {
    collector = startBin(['--config', config], { ...database().env, PLANT_DATA_DIR: dir, COLLECTOR_METRICS_PORT: '0' });
    const port = await waitFor('the collector to run', () => metricsPortOf(collector as BinProcess));
    const line = (await loadGatewayConfig(config)).devices[0]?.line.key ?? '';
    const metrics = await waitFor('the line\'s utilization and overruns', async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const utilization = sample(text, 'plant_collector_line_utilization', `line="${line}"`);
      const overruns = sample(text, 'plant_collector_line_overruns_total', `line="${line}"`);
      return utilization !== undefined && overruns !== undefined && overruns > 0 ? { utilization, overruns } : undefined;
    });
    expect(metrics.utilization).toBeGreaterThan(0.9);
    expect(collector.stderr).toMatch(/line is oversubscribed by the config/);
    expect(collector.stderr).toMatch(/line cannot keep up/);
  });
});
