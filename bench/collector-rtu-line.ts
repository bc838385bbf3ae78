import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { createPool, ensureEmbeddedPostgres, migrateToLatest } from '../db/index.js';
import { createLogger } from '../runtime/logger.js';
import type { BenchResult } from './bench-database.js';
import { lineBudgets, loadGatewayConfig } from '../collectors/index.js';
import { cpuSeconds, percentile, spawnBin, until } from './collector-polling.js';

const DEVICES = Number(process.env.BENCH_RTU_DEVICES ?? 60);
const BAUD = Number(process.env.BENCH_RTU_BAUD ?? 9600);
const SECONDS = Number(process.env.BENCH_RTU_SECONDS ?? 40);
const WARMUP_SECONDS = 6;

interface Measured {
  readonly intervalMs: number;
  readonly windowMs: number;
  readonly lateness: number[];
  readonly readings: number;
  readonly skipped: number;
  readonly failed: number;
  readonly overruns: number;
  readonly utilization: number;
  readonly cpuPercent: number;
}

function sum(metrics: string, pattern: RegExp): number {
  return [...metrics.matchAll(pattern)].reduce((total, match) => total + Number(match[1]), 0);
}

/** One collector polling the simulator's devices at `intervalMs`, SECONDS measured after a warm-up. */
async function measure(db: Kysely<unknown>, env: Record<string, string>, config: string, intervalMs: number): Promise<Measured> {
  const collector = spawnBin(['--config', config], env);
  try {
    const pid = collector.child.pid ?? 0;
    const metricsPort = await until('the collector', () => {
      const line = collector.output.stderr.split('\n').find((candidate) => candidate.includes('"collector running"'));
      return line ? (JSON.parse(line) as { metricsPort: number }).metricsPort : undefined;
    });
    await delay(WARMUP_SECONDS * 1000);
    const before = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const from = Date.now();
    const cpuBefore = await cpuSeconds(pid);
    await delay(SECONDS * 1000);
    const cpuAfter = await cpuSeconds(pid);
    const to = Date.now();
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const delta = (pattern: RegExp) => sum(metrics, pattern) - sum(before, pattern);
    collector.child.kill('SIGTERM');
    await collector.exited;
    // Every device of the line shares phase 0 (collectors/poll-schedule.ts): a reading's lateness is its
    // arrival after the tick, which on a bus is mostly its place in the round.
    const { rows } = await sql<{ ms: number }>`
      SELECT (extract(epoch FROM capture_dt) * 1000)::bigint AS ms FROM temperature_raw WHERE capture_dt >= ${new Date(from)} AND capture_dt < ${new Date(to)}`.execute(db);
    await sql`TRUNCATE temperature_raw`.execute(db);
    return {
      intervalMs,
      windowMs: to - from,
      lateness: rows.map((row) => Number(row.ms) % intervalMs).sort((a, b) => a - b),
      readings: rows.length,
      skipped: delta(/^plant_collector_polls_skipped_total\{[^}]*\} (\S+)/gm),
      failed: delta(/^plant_collector_polls_total\{[^}]*result="(?:error|timeout)"[^}]*\} (\S+)/gm),
      overruns: delta(/^plant_collector_line_overruns_total\{[^}]*\} (\S+)/gm),
      utilization: sum(metrics, /^plant_collector_line_utilization\{[^}]*\} (\S+)/gm),
      cpuPercent: ((cpuAfter - cpuBefore) / ((to - from) / 1000)) * 100,
    };
  } finally {
    collector.child.kill('SIGKILL');
  }
}

/**
 * DEVICES simulated transmitters on one RS-485 bus at BAUD behind one simulated serial device
 * server (RTU over TCP; the simulator answers only after the frames' wire time), polled at the
 * fastest interval the line budget allows (collector --check's "fastest common interval", rounded
 * up to 100 ms), and with 10 % headroom. Side by side, the baseline: the same devices at the
 * second interval as Modbus TCP units behind one endpoint, with no wire time. Lateness is response
 * arrival minus the scheduled tick.
 */
export async function run(): Promise<BenchResult> {
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-collector-rtu-'));
  await fs.chmod(dataDir, 0o755);
  const server = await ensureEmbeddedPostgres({ dataDir, log });
  const schema = 'flet_montrg';
  const pool = createPool({ url: server.url, schema, applicationName: 'bench collector rtu line', log, max: 2 });
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  const env = { DATABASE_URL: server.url, DB_SCHEMA: schema, PLANT_DATA_DIR: dataDir, COLLECTOR_METRICS_PORT: '0', LOG_LEVEL: 'info' };
  const simulators: ReturnType<typeof spawnBin>[] = [];
  const simulate = async (name: string, transport: string, interval: string) => {
    const config = path.join(dataDir, `${name}.yaml`);
    const args = ['simulate', '--transport', transport, '--port', '0', '--devices', String(DEVICES), '--units-per-port', String(DEVICES), '--poll-interval', interval, '--write-config', config];
    const simulator = spawnBin(transport === 'rtu-over-tcp' ? [...args, '--baud-rate', String(BAUD)] : args, env);
    simulators.push(simulator);
    await until(`the ${name} simulator`, () => (simulator.output.stdout.includes('"listening"') ? true : undefined));
    return config;
  };
  try {
    await migrateToLatest(db, schema, log);
    // The budget of the line as configured at a placeholder interval gives the fastest one.
    const probe = await simulate('probe', 'rtu-over-tcp', '10s');
    const [budget] = lineBudgets(await loadGatewayConfig(probe));
    const intervalMs = Math.ceil((budget?.fastestIntervalMs ?? 1000) / 100) * 100;
    simulators[0]?.child.kill('SIGTERM');
    const relaxedMs = Math.ceil((intervalMs * 1.1) / 100) * 100;
    const full = await measure(db, env, await simulate('rtu', 'rtu-over-tcp', `${intervalMs}ms`), intervalMs);
    const relaxed = await measure(db, env, await simulate('rtu-relaxed', 'rtu-over-tcp', `${relaxedMs}ms`), relaxedMs);
    const tcp = await measure(db, env, await simulate('tcp', 'tcp', `${relaxedMs}ms`), relaxedMs);
    const [load1] = os.loadavg();
    const row = (label: string, value: (m: Measured) => string, goal = '') => `| ${label} | ${value(full)} | ${value(relaxed)} | ${value(tcp)} | ${goal} |`;
    const perPoll = (budget?.roundMs ?? 0) / DEVICES;
    const markdown = [
      `### ${DEVICES} devices on one RTU-over-TCP line at ${BAUD} baud`,
      '',
      `The line budget (collector --check): one poll is one read of 6 registers, ${perPoll.toFixed(1)} ms of line time with its two 3.5-character silences; ` +
        `a round of ${DEVICES} takes ${budget?.roundMs?.toFixed(0)} ms, so ${intervalMs} ms is the fastest interval the line allows (100 %), and ${relaxedMs} ms leaves 10 % headroom. ` +
        `The simulated device server answers only after the frames' wire time. Baseline, side by side: the same ${DEVICES} units behind one Modbus TCP endpoint (no wire time) at ${relaxedMs} ms. ` +
        `${SECONDS} s measured after ${WARMUP_SECONDS} s warm-up each; every device of a line shares one phase, so lateness (arrival − tick) is mostly a unit's place in the round.`,
      '',
      `| measure | RTU every ${intervalMs} ms (100 %) | RTU every ${relaxedMs} ms | Modbus TCP every ${relaxedMs} ms | goal |`,
      '| --- | ---: | ---: | ---: | --- |',
      row('readings stored / scheduled', (m) => `${m.readings} / ${Math.round((m.windowMs / m.intervalMs) * DEVICES)}`, 'all'),
      row('skipped polls / line overruns', (m) => `${m.skipped} / ${m.overruns}`, '0 with headroom'),
      row('failed polls', (m) => String(m.failed), '0'),
      row('line utilization (last 5 s)', (m) => `${(m.utilization * 100).toFixed(0)} %`),
      row('lateness p50', (m) => `${percentile(m.lateness, 50)} ms`),
      row('lateness p99', (m) => `${percentile(m.lateness, 99)} ms`, '< the interval'),
      row('lateness max', (m) => `${m.lateness[m.lateness.length - 1] ?? Number.NaN} ms`),
      row('collector CPU', (m) => `${m.cpuPercent.toFixed(1)} % of one core`),
      row('CPU ratio to the Modbus TCP baseline', (m) => (m.cpuPercent / tcp.cpuPercent).toFixed(2)),
      `| machine load average (1 min, ${os.cpus().length} cores) at the end | ${(load1 ?? 0).toFixed(1)} | | | |`,
      '',
      'Command: `BENCH_ONLY=collector-rtu-line npm run bench` (knobs: BENCH_RTU_DEVICES, BENCH_RTU_BAUD, BENCH_RTU_SECONDS).',
      '',
    ].join('\n');
    return { title: 'collector rtu line', markdown };
  } finally {
    for (const simulator of simulators) {
      simulator.child.kill('SIGTERM');
      await simulator.exited;
    }
    await db.destroy();
    await server.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run();
  process.stdout.write(`${result.markdown}\n`);
}
