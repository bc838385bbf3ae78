import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  REPO,
  INTERFACE_METRICS,
  seriesNames,
  promqlMetricNames,
  schemaColumns,
  sqlNames,
  dashboardQueries,
} from './support/deploy-expressions.js';

const dashboardsDir = path.join(REPO, 'grafana/dashboards');
const dashboards = fs.readdirSync(dashboardsDir).filter((file) => file.endsWith('.json')).map((file) => path.join(dashboardsDir, file));
const known = seriesNames(INTERFACE_METRICS);

describe('Grafana dashboards', () => {
  it('are valid JSON with a unique uid and a title, and there is one for the pipeline and one for the hourly table', () => {
    const uids = dashboards.map((file) => {
      const dashboard = JSON.parse(fs.readFileSync(file, 'utf8')) as { uid?: string; title?: string; panels?: unknown[] };
      expect(dashboard.title, file).toBeTruthy();
      expect(dashboard.panels?.length, file).toBeGreaterThan(0);
      return dashboard.uid;
    });
    expect(new Set(uids).size).toBe(dashboards.length);
    expect(uids).toEqual(expect.arrayContaining(['plant-climate-pipeline', 'plant-climate-hourly']));
  });

  it('name in every Prometheus query only metrics of the interface (and read every one of them)', () => {
    const used = new Set<string>();
    const queries = dashboards.flatMap(dashboardQueries).filter((query) => query.datasource === 'prometheus');
    expect(queries.length).toBeGreaterThan(10);
    for (const query of queries) {
      const names = promqlMetricNames(query.query);
      expect(names.length, `${query.dashboard} ${query.where}: ${query.query}`).toBeGreaterThan(0);
      for (const name of names) {
        expect(known.has(name), `${query.dashboard} ${query.where} names ${name}, which no component exposes`).toBe(true);
        used.add(name.replace(/_(bucket|sum|count)$/, ''));
      }
    }
    const all = [...INTERFACE_METRICS.counters, ...INTERFACE_METRICS.gauges, ...INTERFACE_METRICS.histograms];
    expect(all.filter((name) => !used.has(name))).toEqual([]);
  });

  it('name in every SQL query only tables and columns of db/schema.ts, and filter by the loc_id variable', () => {
    const schema = schemaColumns();
    expect([...schema.keys()]).toEqual(expect.arrayContaining(['location', 'temperature', 'temperature_raw', 'device']));
    const queries = dashboards.flatMap(dashboardQueries).filter((query) => query.datasource === 'postgres');
    expect(queries.length).toBeGreaterThan(3);
    for (const query of queries) {
      const { tables, columns } = sqlNames(query.query);
      const where = `${query.dashboard} ${query.where}: ${query.query}`;
      expect(tables.length, where).toBeGreaterThan(0);
      for (const table of tables) expect(schema.has(table), `${where} reads table ${table}`).toBe(true);
      for (const column of columns) {
        expect(tables.some((table) => schema.get(table)?.has(column)), `${where} names column ${column}, not in ${tables.join(', ')}`).toBe(true);
      }
      if (query.where.startsWith('panel')) expect(query.query, where).toContain('${loc_id:sqlstring}');
    }
    const hourly = JSON.parse(fs.readFileSync(path.join(dashboardsDir, 'plant-climate-hourly.json'), 'utf8')) as { templating: { list: { name: string }[] } };
    expect(hourly.templating.list.map((variable) => variable.name)).toContain('loc_id');
  });

  it('the parsers find what they are meant to and refuse what does not exist', () => {
    expect(promqlMetricNames('histogram_quantile(0.95, sum by (le, route) (rate(plant_api_http_request_duration_seconds_bucket{status_code=~"5.."}[$__rate_interval])))')).toEqual([
      'plant_api_http_request_duration_seconds_bucket',
    ]);
    expect(promqlMetricNames('time() - plant_collector_last_success_timestamp_seconds > 300 and on (instance) up offset 5m')).toEqual([
      'plant_collector_last_success_timestamp_seconds',
      'up',
    ]);
    expect(known.has('plant_collector_polls_totals')).toBe(false);
    expect(sqlNames("SELECT t.bucket AS time, t.bogus FROM temperature t JOIN location l ON l.loc_id = t.loc_id WHERE t.loc_id = ${loc_id:sqlstring} AND $__timeFilter(t.bucket)")).toEqual({
      tables: ['temperature', 'location'],
      columns: ['bucket', 'bogus', 'loc_id', 'loc_id', 'loc_id', 'bucket'],
    });
  });
});

describe('Grafana provisioning', () => {
  it('provisions the Prometheus and PostgreSQL data sources the dashboards use, and loads the dashboards folder', () => {
    const datasources = parse(fs.readFileSync(path.join(REPO, 'grafana/provisioning/datasources/datasources.yaml'), 'utf8')) as {
      datasources: { uid: string; type: string }[];
    };
    const provisioned = new Map(datasources.datasources.map((source) => [source.uid, source.type]));
    for (const file of dashboards) {
      const text = fs.readFileSync(file, 'utf8');
      for (const match of text.matchAll(/"datasource": \{\s*"type": "(\w+)",\s*"uid": "([\w-]+)"/g)) {
        expect(provisioned.get(match[2]), `${path.basename(file)} uses data source ${match[2]}`).toBe(match[1]);
      }
    }
    const providers = parse(fs.readFileSync(path.join(REPO, 'grafana/provisioning/dashboards/dashboards.yaml'), 'utf8')) as {
      providers: { options: { path: string } }[];
    };
    const compose = fs.readFileSync(path.join(REPO, 'docker-compose.yml'), 'utf8');
    expect(compose).toContain(`./grafana/dashboards:${providers.providers[0].options.path}:ro`);
  });
});
