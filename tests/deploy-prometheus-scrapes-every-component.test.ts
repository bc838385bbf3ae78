import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { describeWithPeer, peers } from './support/peers.js';
import { useTestDatabase } from './support/database.js';
import { BinProcess, binEnv, componentsMissing, freePort, pollUntil } from './support/deploy-processes.js';
import { REPO, dashboardQueries, exposedFamilies, promqlMetricNames, seriesNames } from './support/deploy-expressions.js';

/**
 * A real Prometheus, configured from prometheus/prometheus.yml with its targets pointed at the
 * running components, scrapes all of them. The components run under `plant-climate start
 * --config FILE` against this file's database (DATABASE_URL), polling a simulator the test
 * starts itself: so this also covers the launcher with a real gateway config and no simulator.
 */
interface Target {
  labels: { job: string };
  health: string;
  lastError: string;
}

const missing = componentsMissing();

describeWithPeer(peers.prometheus, 'Prometheus scraping the running components', () => {
  const database = useTestDatabase();
  let scratch = '';
  const ports = { api: 0, collector: 0, aggregator: 0, prometheus: 0 };
  let simulator: BinProcess | undefined;
  let launcher: BinProcess | undefined;
  let prometheus: ChildProcess | undefined;
  let prometheusExited: Promise<void> = Promise.resolve();
  let prometheusLog = '';

  beforeAll(async () => {
    if (missing) return;
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-prometheus-'));
    fs.chmodSync(scratch, 0o755);
    for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort();
    const env = binEnv({ ...database().env, PLANT_DATA_DIR: scratch });
    const gatewayConfig = path.join(scratch, 'gateway.yaml');
    simulator = new BinProcess('collector', ['simulate', '--port', '0', '--devices', '2', '--write-config', gatewayConfig, '--poll-interval', '1s'], env);
    await simulator.stdoutLine(/"event":"listening"/, 60_000);
    launcher = new BinProcess('plant-climate', ['start', '--config', gatewayConfig], {
      ...env,
      PORT: String(ports.api),
      COLLECTOR_METRICS_PORT: String(ports.collector),
      AGGREGATOR_METRICS_PORT: String(ports.aggregator),
    });
    await launcher.stdoutLine(/status page\s+http/, 120_000);

    // prometheus.yml as shipped, with the compose service names replaced by this run's ports.
    const config = parse(fs.readFileSync(path.join(REPO, 'prometheus/prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      rule_files: string[];
      scrape_configs: { job_name: keyof typeof ports; static_configs: { targets: string[] }[] }[];
    };
    config.global.scrape_interval = '1s';
    config.global.evaluation_interval = '1s';
    config.rule_files = config.rule_files.map((file) => path.join(REPO, 'prometheus', file));
    for (const job of config.scrape_configs) {
      for (const group of job.static_configs) group.targets = [`127.0.0.1:${ports[job.job_name]}`];
    }
    const configFile = path.join(scratch, 'prometheus.yml');
    fs.writeFileSync(configFile, stringify(config));
    prometheus = spawn(
      'prometheus',
      [`--config.file=${configFile}`, `--storage.tsdb.path=${path.join(scratch, 'tsdb')}`, `--web.listen-address=127.0.0.1:${ports.prometheus}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr!.on('data', (chunk: Buffer) => (prometheusLog = (prometheusLog + chunk.toString()).slice(-5_000)));
    const child = prometheus;
    prometheusExited = new Promise((resolve) => child.once('close', () => resolve()));
  }, 180_000);

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null && prometheus.signalCode === null) {
      prometheus.kill('SIGTERM');
      await prometheusExited;
    }
    await launcher?.stop();
    await simulator?.stop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it.skipIf(missing !== undefined)('has every target of prometheus.yml up (collector, aggregator, API) and the alert rules loaded', async () => {
    const api = `http://127.0.0.1:${ports.prometheus}/api/v1`;
    const targets = await pollUntil('every Prometheus target up', 90_000, async () => {
      const response = await fetch(`${api}/targets`);
      if (!response.ok) return undefined;
      const body = (await response.json()) as { data: { activeTargets: Target[] } };
      const active = body.data.activeTargets;
      return active.length === 3 && active.every((target) => target.health === 'up') ? active : undefined;
    }).catch((error: Error) => {
      throw new Error(`${error.message}\nprometheus: ${prometheusLog}\nlauncher: ${launcher?.tail()}`);
    });
    expect(targets.map((target) => target.labels.job).sort()).toEqual(['aggregator', 'api', 'collector']);

    const rules = (await (await fetch(`${api}/rules?type=alert`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
    const loaded = rules.data.groups.flatMap((group) => group.rules);
    expect(loaded.length).toBeGreaterThanOrEqual(11);
    expect(loaded.every((rule) => rule.health !== 'err')).toBe(true);

    // The collector's poll counter arrives in Prometheus (a query a dashboard panel makes).
    await pollUntil('plant_collector_polls_total in Prometheus', 30_000, async () => {
      const response = await fetch(`${api}/query?query=${encodeURIComponent('sum(plant_collector_polls_total)')}`);
      const body = (await response.json()) as { data: { result: { value: [number, string] }[] } };
      const value = Number(body.data.result[0]?.value[1] ?? 0);
      return value > 0 ? value : undefined;
    });
  }, 180_000);

  it.skipIf(missing !== undefined)('every metric a dashboard or an alert names is exposed by a running component', async () => {
    const families = { counters: [] as string[], gauges: [] as string[], histograms: [] as string[] };
    for (const port of [ports.collector, ports.aggregator, ports.api]) {
      const exposed = exposedFamilies(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      families.counters.push(...exposed.counters);
      families.gauges.push(...exposed.gauges);
      families.histograms.push(...exposed.histograms);
    }
    const exposed = seriesNames(families);
    const dashboards = fs.readdirSync(path.join(REPO, 'grafana/dashboards')).map((file) => path.join(REPO, 'grafana/dashboards', file));
    const queries = dashboards.flatMap(dashboardQueries).filter((query) => query.datasource === 'prometheus').map((query) => query.query);
    const alerts = (parse(fs.readFileSync(path.join(REPO, 'prometheus/alerts.yml'), 'utf8')) as { groups: { rules: { expr: string }[] }[] }).groups
      .flatMap((group) => group.rules)
      .map((rule) => rule.expr);
    const named = new Set([...queries, ...alerts].flatMap(promqlMetricNames));
    expect([...named].filter((name) => !exposed.has(name))).toEqual([]);
  });

  it.skipIf(missing !== undefined)('the launcher ran no simulator of its own with --config', () => {
    const started = launcher!.logLines().filter((line) => line.msg === 'started').map((line) => line.child);
    expect(started).toEqual(['collector check', 'collector', 'aggregator', 'api']);
  });
});

if (missing) process.stderr.write(`\n*** SKIPPING the live Prometheus scrape: ${missing} ***\n\n`);
