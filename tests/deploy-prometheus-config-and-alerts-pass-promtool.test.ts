import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { parse } from 'yaml';
import { describeWithPeer, peers } from './support/peers.js';
import { REPO, INTERFACE_METRICS, seriesNames, promqlMetricNames } from './support/deploy-expressions.js';

const run = promisify(execFile);
const prometheusDir = path.join(REPO, 'prometheus');

interface AlertRule {
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleTest {
  name?: string;
  alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[];
}

const rules = (parse(fs.readFileSync(path.join(prometheusDir, 'alerts.yml'), 'utf8')) as { groups: { rules: AlertRule[] }[] }).groups.flatMap(
  (group) => group.rules,
);
const tests = (parse(fs.readFileSync(path.join(prometheusDir, 'alerts.test.yml'), 'utf8')) as { tests: RuleTest[] }).tests;

describeWithPeer(peers.promtool, 'Prometheus config and alert rules (promtool)', () => {
  it('promtool check config accepts prometheus.yml (and the rule file it loads)', async () => {
    const { stdout } = await run('promtool', ['check', 'config', 'prometheus.yml'], { cwd: prometheusDir });
    expect(stdout).toMatch(/SUCCESS: prometheus\.yml is valid/);
  });

  it('promtool check rules accepts alerts.yml', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', 'alerts.yml'], { cwd: prometheusDir });
    expect(stdout).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('promtool test rules passes: every alert fires on its synthetic series and stays quiet on a healthy one', async () => {
    const { stdout } = await run('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: prometheusDir });
    expect(stdout).toContain('SUCCESS');
  });

  it('promtool test rules fails when an alert does not fire as the test expects (the tests can fail)', async () => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-promtool-'));
    try {
      const broken = fs.readFileSync(path.join(prometheusDir, 'alerts.yml'), 'utf8').replace('plant_aggregator_lag_seconds > 7200', 'plant_aggregator_lag_seconds > 72000');
      fs.writeFileSync(path.join(scratch, 'alerts.yml'), broken);
      fs.copyFileSync(path.join(prometheusDir, 'alerts.test.yml'), path.join(scratch, 'alerts.test.yml'));
      const outcome = await run('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: scratch }).then(
        () => 'passed',
        (error: { stdout?: string; stderr?: string }) => `${error.stdout ?? ''}${error.stderr ?? ''}`,
      );
      expect(outcome).toContain('AggregationLagHigh');
      expect(outcome).toContain('FAILED');
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });
});

it('every alert has a unit test in which it fires, and one in which it does not', () => {
  const names = rules.map((rule) => rule.alert).filter((name): name is string => name !== undefined);
  const firing = new Set(tests.flatMap((test) => test.alert_rule_test ?? []).filter((check) => (check.exp_alerts ?? []).length > 0).map((check) => check.alertname));
  const quiet = new Set(tests.flatMap((test) => test.alert_rule_test ?? []).filter((check) => (check.exp_alerts ?? []).length === 0).map((check) => check.alertname));
  expect(names.filter((name) => !firing.has(name))).toEqual([]);
  expect(names.filter((name) => !quiet.has(name))).toEqual([]);
  // The list: collector down or not polling, device silent, spool growing / oldest aging,
  // aggregation lag over 2h, dirty hours piling up, API 5xx.
  expect(names).toEqual(
    expect.arrayContaining([
      'CollectorDown',
      'CollectorNotPolling',
      'DeviceSilent',
      'CollectorSpoolGrowing',
      'CollectorSpoolOldestReadingAging',
      'AggregationLagHigh',
      'AggregatorDirtyHoursPilingUp',
      'ApiServerErrors',
    ]),
  );
});

it('alert expressions name only metrics of the interface, and every alert says how bad and what it is about', () => {
  const known = seriesNames(INTERFACE_METRICS);
  for (const rule of rules) {
    for (const name of promqlMetricNames(rule.expr)) expect(known.has(name), `${rule.alert} names ${name}`).toBe(true);
    expect(['critical', 'warning'], `${rule.alert} severity`).toContain(rule.labels?.severity);
    expect(rule.annotations?.summary, `${rule.alert} summary`).toBeTruthy();
  }
});

it('prometheus.yml scrapes the collector, the aggregator and the API', () => {
  const config = parse(fs.readFileSync(path.join(prometheusDir, 'prometheus.yml'), 'utf8')) as { scrape_configs: { job_name: string }[] };
  expect(config.scrape_configs.map((job) => job.job_name).sort()).toEqual(['aggregator', 'api', 'collector']);
});
