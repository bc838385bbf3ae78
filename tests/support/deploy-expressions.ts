import fs from 'node:fs';
import path from 'node:path';
import { HOURLY_AGGREGATE_COLUMNS } from '../../db/index.js';

export const REPO = path.resolve(import.meta.dirname, '../..');

/**
 * The metric names of docs/interfaces.md (the interface every component was built against),
 * kept here because the deploy files (dashboards, alerts) must only name these. Histograms
 * expose `_bucket`, `_sum` and `_count` series.
 */
export const INTERFACE_METRICS = {
  counters: [
    'plant_collector_polls_total',
    'plant_collector_polls_skipped_total',
    'plant_collector_requests_total',
    'plant_collector_readings_written_total',
    'plant_collector_null_values_total',
    'plant_collector_spool_dropped_readings_total',
    'plant_collector_journal_write_errors_total',
    'plant_collector_journal_skipped_records_total',
    'plant_collector_journal_skipped_bytes_total',
    'plant_collector_dead_letter_readings_total',
    'plant_collector_clock_steps_total',
    'plant_collector_line_overruns_total',
    'plant_collector_line_stale_bytes_total',
    'plant_aggregator_hours_total',
    'plant_aggregator_raw_rows_scanned_total',
    'plant_aggregator_failures_total',
    'plant_aggregator_frozen_late_readings_total',
    'plant_api_http_requests_total',
  ],
  gauges: [
    'plant_collector_spool_bytes',
    'plant_collector_spool_batches',
    'plant_collector_spool_oldest_age_seconds',
    'plant_collector_spool_readings',
    'plant_collector_database_reachable',
    'plant_collector_last_success_timestamp_seconds',
    'plant_collector_line_utilization',
    'plant_aggregator_dirty_hours',
    'plant_aggregator_lag_seconds',
    'plant_aggregator_last_success_timestamp_seconds',
    'plant_aggregator_last_verify_timestamp_seconds',
    'plant_aggregator_raw_readings_outside_partitions',
    'plant_aggregator_raw_partitions_ahead_seconds',
    'plant_aggregator_replication_slot_retained_wal_bytes',
    'plant_aggregator_replication_slot_active',
    'plant_api_change_feed_waiters',
    'plant_api_change_feed_held_revisions',
    'plant_api_change_feed_safe_revision',
    'plant_api_headquarters_last_message_age_seconds',
    'plant_api_headquarters_apply_errors',
  ],
  histograms: [
    'plant_collector_poll_duration_seconds',
    'plant_collector_db_write_duration_seconds',
    'plant_aggregator_run_duration_seconds',
    'plant_api_http_request_duration_seconds',
  ],
} as const;

/** Series Prometheus itself adds to every target. */
const PROMETHEUS_SERIES = ['up', 'scrape_duration_seconds', 'scrape_samples_scraped'];

/** Every series name a query may use, given the metric families (`# TYPE` names) that exist. */
export function seriesNames(families: { counters: readonly string[]; gauges: readonly string[]; histograms: readonly string[] }): Set<string> {
  return new Set([
    ...PROMETHEUS_SERIES,
    ...families.counters,
    ...families.gauges,
    ...families.histograms.flatMap((name) => [`${name}_bucket`, `${name}_sum`, `${name}_count`]),
  ]);
}

const PROMQL_KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan',
]);

/**
 * The metric names a PromQL expression reads. Not a full PromQL parser, but enough for the
 * expressions this repository writes: strings, label matchers `{...}`, ranges `[...]` and label
 * lists after by/without/on/ignoring/group_* are removed; an identifier followed by `(` is a
 * function; what remains are metric names. `label_values(expr, label)` (Grafana) reads `expr`.
 */
export function promqlMetricNames(expression: string): string[] {
  let text = expression
    .replace(/label_values\(([^,]*),[^)]*\)/g, '$1')
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  text = text.replace(/\boffset\s+\S+/g, ' ');
  const names: string[] = [];
  for (const match of text.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const after = text.slice((match.index ?? 0) + word.length).trimStart();
    if (after.startsWith('(')) continue;
    if (PROMQL_KEYWORDS.has(word.toLowerCase())) continue;
    // Grafana's variables ($collector, $__rate_interval) are not metric names.
    if (text[(match.index ?? 0) - 1] === '$') continue;
    names.push(word);
  }
  return names;
}

/** Tables and their columns as db/schema.ts declares them (`interface XTable { col: ...; }`). */
export function schemaColumns(): Map<string, Set<string>> {
  const source = fs.readFileSync(path.join(REPO, 'db/schema.ts'), 'utf8');
  const interfaces = new Map<string, Set<string>>();
  for (const match of source.matchAll(/export interface (\w+Table)(?: extends (\w+))? \{([^}]*)\}/g)) {
    const columns = new Set([...match[3].matchAll(/^\s*(\w+)\s*:/gm)].map((column) => column[1]));
    // The hourly table's aggregate columns are declared once, as a list (HOURLY_AGGREGATE_COLUMNS).
    if (match[2] === 'HourlyAggregates') for (const column of HOURLY_AGGREGATE_COLUMNS) columns.add(column);
    interfaces.set(match[1], columns);
  }
  const database = /export interface Database \{([^}]*)\}/.exec(source)?.[1] ?? '';
  const tables = new Map<string, Set<string>>();
  for (const match of database.matchAll(/^\s*(\w+)\s*:\s*(\w+)\s*;/gm)) {
    tables.set(match[1], interfaces.get(match[2]) ?? new Set());
  }
  return tables;
}

const SQL_KEYWORDS = new Set([
  'select', 'from', 'where', 'and', 'or', 'not', 'as', 'order', 'by', 'asc', 'desc', 'limit', 'offset', 'join', 'left', 'inner',
  'on', 'using', 'union', 'all', 'distinct', 'group', 'having', 'null', 'is', 'in', 'case', 'when', 'then', 'else', 'end', 'true',
  'false', 'nulls', 'first', 'last', 'between', 'like', 'interval',
]);

export interface SqlNames {
  readonly tables: string[];
  readonly columns: string[];
}

/**
 * The tables and columns an SQL query of a dashboard names. String literals, quoted aliases,
 * Grafana variables (`${loc_id:sqlstring}`) and macro names (`$__timeFilter(bucket)` keeps its
 * argument) are removed; `AS alias` and table aliases (`temperature t`, used as `t.col`) are
 * skipped; identifiers followed by `(` are functions. Table names are those after FROM/JOIN.
 */
export function sqlNames(query: string): SqlNames {
  const text = query
    .replace(/'(?:[^']|'')*'/g, ' ')
    .replace(/\$\{[^}]*\}/g, ' ')
    .replace(/\$__\w+/g, ' ')
    .replace(/\bAS\s+("[^"]*"|\w+)/gi, ' ')
    .replace(/"[^"]*"/g, ' ');
  const tables: string[] = [];
  const aliases = new Set<string>();
  for (const match of text.matchAll(/\b(?:from|join)\s+(\w+)(?:\s+(\w+))?/gi)) {
    tables.push(match[1]);
    const alias = match[2];
    if (alias && !SQL_KEYWORDS.has(alias.toLowerCase())) aliases.add(alias);
  }
  const columns: string[] = [];
  for (const match of text.matchAll(/\b([A-Za-z_]\w*)\b/g)) {
    const word = match[1];
    const index = match.index ?? 0;
    const before = text.slice(0, index);
    const after = text.slice(index + word.length);
    if (SQL_KEYWORDS.has(word.toLowerCase())) continue;
    if (after.trimStart().startsWith('(')) continue;
    if (after.startsWith('.')) continue;
    if (aliases.has(word) || tables.includes(word)) continue;
    if (/\d$/.test(before) && /^\d/.test(word)) continue;
    columns.push(word);
  }
  return { tables, columns };
}

export interface DashboardQuery {
  readonly dashboard: string;
  readonly where: string;
  readonly datasource: string;
  readonly query: string;
}

function datasourceType(value: unknown): string {
  if (value && typeof value === 'object' && 'type' in value && typeof value.type === 'string') return value.type;
  return 'unknown';
}

/** Every query of a dashboard JSON: panel targets (rows' nested panels too) and template variables. */
export function dashboardQueries(file: string): DashboardQuery[] {
  const dashboard = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    panels?: Panel[];
    templating?: { list?: { name: string; datasource?: unknown; query?: unknown; definition?: string }[] };
  };
  interface Panel {
    title?: string;
    datasource?: unknown;
    targets?: { datasource?: unknown; expr?: string; rawSql?: string }[];
    panels?: Panel[];
  }
  const name = path.basename(file);
  const queries: DashboardQuery[] = [];
  const visit = (panels: Panel[] | undefined) => {
    for (const panel of panels ?? []) {
      for (const target of panel.targets ?? []) {
        const datasource = datasourceType(target.datasource ?? panel.datasource);
        const query = target.expr ?? target.rawSql;
        if (query !== undefined) queries.push({ dashboard: name, where: `panel "${panel.title ?? '?'}"`, datasource, query });
      }
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  for (const variable of dashboard.templating?.list ?? []) {
    const raw = variable.query;
    const query = typeof raw === 'string' ? raw : raw && typeof raw === 'object' && 'query' in raw && typeof raw.query === 'string' ? raw.query : undefined;
    if (query !== undefined) queries.push({ dashboard: name, where: `variable $${variable.name}`, datasource: datasourceType(variable.datasource), query });
  }
  return queries;
}

/** Metric family names (`# TYPE name kind`) of a Prometheus text exposition, by kind. */
export function exposedFamilies(text: string): { counters: string[]; gauges: string[]; histograms: string[] } {
  const families = { counters: [] as string[], gauges: [] as string[], histograms: [] as string[] };
  for (const match of text.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    const [, name, kind] = match as unknown as [string, string, string];
    if (kind === 'counter') families.counters.push(name);
    else if (kind === 'gauge') families.gauges.push(name);
    else if (kind === 'histogram') families.histograms.push(name);
  }
  return families;
}
