import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { createPool, ensureEmbeddedPostgres, migrateToLatest } from '../db/index.js';
import { createLogger } from '../runtime/logger.js';
import type { BenchResult } from './bench-database.js';
import { encodeFrame, loadGatewayConfig, pollPhases, spoolDirectory } from '../collectors/index.js';



const DEVICES = Number(process.env.BENCH_COLLECTOR_DEVICES ?? 500);
const UNITS_PER_PORT = Number(process.env.BENCH_COLLECTOR_UNITS_PER_PORT ?? 10);
const SECONDS = Number(process.env.BENCH_COLLECTOR_POLL_SECONDS ?? 30);
const WARMUP_SECONDS = 5;
const BIN = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'bin', 'collector.js');
const CLOCK_TICKS = 100;

export function spawnBin(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, output, exited };
}

export async function until<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(200);
  }
}

/** utime + stime of a process, in seconds, from /proc (Linux). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

async function rssBytes(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Journal files holding `readings` readings of other locations, as an outage would leave them. */
async function writeBacklog(dir: string, readings: number): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const perFile = 50_000;
  for (let file = 0; file * perFile < readings; file += 1) {
    const frames: Buffer[] = [];
    for (let i = file * perFile; i < Math.min(readings, (file + 1) * perFile); i += 1) {
      frames.push(encodeFrame('gw-sim', { locId: `BACKLOG-${i % 500}`, captureMs: Date.UTC(2024, 0, 1) + Math.floor(i / 500) * 1000, values: { temperature: 21.5, humidity: 40, pcv_temperature: null } }));
    }
    await fs.writeFile(path.join(dir, `journal-${String(file + 1).padStart(12, '0')}.log`), Buffer.concat(frames));
  }
}

/**
 * One collector process polling DEVICES simulated transmitters (UNITS_PER_PORT unit ids behind
 * each simulated TCP-to-RTU gateway port) every second into an embedded PostgreSQL. Lateness is
 * each reading's capture_dt (response arrival) minus its scheduled poll time; CPU and RSS are the
 * collector process's own, sampled from /proc over the measured window.
 */
export async function run(): Promise<BenchResult> {
  return runPolling({ backlog: 0 });
}

/** The same, with `backlog` readings left in the journal by an outage, replaying while it polls. */
export async function runPolling(options: { backlog: number }): Promise<BenchResult> {
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-collector-poll-'));
  await fs.chmod(dataDir, 0o755);
  const server = await ensureEmbeddedPostgres({ dataDir, log });
  const schema = 'flet_montrg';
  const pool = createPool({ url: server.url, schema, applicationName: 'bench collector polling', log, max: 2 });
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  const config = path.join(dataDir, 'gw.yaml');
  const env = { DATABASE_URL: server.url, DB_SCHEMA: schema, PLANT_DATA_DIR: dataDir, COLLECTOR_METRICS_PORT: '0', LOG_LEVEL: 'info' };
  const simulator = spawnBin(['simulate', '--port', '0', '--devices', String(DEVICES), '--units-per-port', String(UNITS_PER_PORT), '--poll-interval', '1s', '--write-config', config], env);
  let collector: ReturnType<typeof spawnBin> | undefined;
  try {
    await migrateToLatest(db, schema, log);
    await until('the simulator', () => (simulator.output.stdout.includes('"listening"') ? true : undefined));
    if (options.backlog > 0) await writeBacklog(spoolDirectory(dataDir, 'gw-sim'), options.backlog);
    collector = spawnBin(['--config', config], env);
    const pid = collector.child.pid ?? 0;
    const metricsPort = await until('the collector', () => {
      const line = collector?.output.stderr.split('\n').find((candidate) => candidate.includes('"collector running"'));
      return line ? (JSON.parse(line) as { metricsPort: number }).metricsPort : undefined;
    });
    await delay(WARMUP_SECONDS * 1000);
    const from = Date.now();
    const cpuBefore = await cpuSeconds(pid);
    let rssMax = 0;
    while (Date.now() - from < SECONDS * 1000) {
      rssMax = Math.max(rssMax, await rssBytes(pid));
      await delay(1000);
    }
    const cpuAfter = await cpuSeconds(pid);
    const to = Date.now();
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const skipped = [...metrics.matchAll(/^plant_collector_polls_skipped_total\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    const failed = [...metrics.matchAll(/^plant_collector_polls_total\{[^}]*result="(?:error|timeout)"[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    const heapUsed = Number(/^plant_collector_nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? Number.NaN);
    const heapTotal = Number(/^plant_collector_nodejs_heap_size_total_bytes (\S+)/m.exec(metrics)?.[1] ?? Number.NaN);
    const loopLagP99 = Number(/^plant_collector_nodejs_eventloop_lag_p99_seconds (\S+)/m.exec(metrics)?.[1] ?? Number.NaN);
    const [load1] = os.loadavg();
    const journaled = Number(/^plant_collector_spool_readings (\S+)$/m.exec(metrics)?.[1] ?? Number.NaN);
    collector.child.kill('SIGTERM');
    await collector.exited;
    const { rows } = await sql<{ loc_id: string; ms: number }>`
      SELECT loc_id, (extract(epoch FROM capture_dt) * 1000)::bigint AS ms
        FROM temperature_raw WHERE capture_dt >= ${new Date(from)} AND capture_dt < ${new Date(to)}`.execute(db);
    // Each device is polled at its own phase within the second (collectors/poll-schedule.ts).
    const gateway = await loadGatewayConfig(config);
    const phases = pollPhases(gateway.devices.map((device) => ({ endpoint: `${device.host}:${device.port}`, intervalMs: device.pollIntervalMs })));
    const phaseOf = new Map(gateway.devices.map((device, index) => [device.locId, phases[index] ?? 0]));
    const lateness = rows.map((row) => (((Number(row.ms) - (phaseOf.get(row.loc_id) ?? 0)) % 1000) + 1000) % 1000).sort((a, b) => a - b);
    // Scheduled polls without a reading: gaps in each location's run of one-second ticks.
    const ticks = new Map<string, number[]>();
    for (const row of rows) ticks.set(row.loc_id, [...(ticks.get(row.loc_id) ?? []), Math.floor((Number(row.ms) - (phaseOf.get(row.loc_id) ?? 0)) / 1000)]);
    let missing = 0;
    for (const list of ticks.values()) missing += Math.max(...list) - Math.min(...list) + 1 - new Set(list).size;
    missing += (DEVICES - ticks.size) * Math.floor((to - from) / 1000);
    const cpuPercent = ((cpuAfter - cpuBefore) / ((to - from) / 1000)) * 100;
    const backlogStored = options.backlog > 0 ? Number((await sql<{ n: number }>`SELECT count(*) AS n FROM temperature_raw WHERE loc_id LIKE 'BACKLOG-%'`.execute(db)).rows[0]?.n) : 0;
    const markdown = [
      options.backlog > 0 ? `### Collector polling ${DEVICES} devices every second while replaying a backlog of ${options.backlog.toLocaleString('en')} journaled readings` : `### Collector polling ${DEVICES} devices every second`,
      '',
      `One collector process, ${DEVICES} simulated transmitters (${UNITS_PER_PORT} unit ids per simulated gateway port, ${Math.ceil(DEVICES / UNITS_PER_PORT)} endpoints), ` +
        `poll interval 1 s, ${SECONDS} s measured after ${WARMUP_SECONDS} s warm-up; simulator and embedded PostgreSQL on the same machine.`,
      '',
      '| measure | value | goal |',
      '| --- | ---: | --- |',
      `| readings stored in the window / scheduled polls without a reading | ${lateness.length} / ${missing} | 0 missing |`,
      `| poll lateness p50 (response arrival − scheduled time) | ${percentile(lateness, 50)} ms | |`,
      `| poll lateness p99 | ${percentile(lateness, 99)} ms | ${options.backlog > 0 ? '< 100 ms' : '< 50 ms'} |`,
      `| poll lateness max | ${lateness[lateness.length - 1] ?? Number.NaN} ms | |`,
      `| skipped polls (whole run) | ${skipped} | 0 |`,
      `| failed polls (whole run) | ${failed} | 0 |`,
      `| collector CPU | ${cpuPercent.toFixed(1)} % of one core | ${options.backlog > 0 ? '' : '≤ 20 %'} |`,
      `| collector RSS (max) | ${(rssMax / 1024 / 1024).toFixed(0)} MB | ${options.backlog > 0 ? '' : '≤ 130 MB'} |`,
      ...(options.backlog > 0 ? [`| backlog stored by the end / still journaled | ${backlogStored.toLocaleString('en')} / ${journaled.toLocaleString('en')} | |`] : []),
      `| collector event-loop lag p99 (prom-client) | ${(loopLagP99 * 1000).toFixed(1)} ms | |`,
      `| machine load average (1 min, ${os.cpus().length} cores) at the end | ${(load1 ?? 0).toFixed(1)} | |`,
      `| collector V8 heap used / total (at the end) | ${(heapUsed / 1024 / 1024).toFixed(0)} / ${(heapTotal / 1024 / 1024).toFixed(0)} MB | |`,
      '',
    ].join('\n');
    return { title: 'collector polling', markdown };
  } finally {
    collector?.child.kill('SIGKILL');
    simulator.child.kill('SIGTERM');
    await simulator.exited;
    await db.destroy();
    await server.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runPolling({ backlog: Number(process.env.BENCH_COLLECTOR_BACKLOG ?? 0) });
  process.stdout.write(`${result.markdown}\n`);
}
