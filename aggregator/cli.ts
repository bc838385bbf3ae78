import type { Server } from 'node:http';
import cliProgress from 'cli-progress';
import cron from 'node-cron';
import { appendAudit, appendAuditReturningId, commandActor, openDatabase, pruneChangeHistory, replicationSlots } from '../db/index.js';
import { defineCommand } from '../runtime/cli.js';
import { errors } from '../runtime/errors.js';
import { componentLogger, type Logger } from '../runtime/logger.js';
import { formatDuration } from '../runtime/duration.js';
import { backfill, type BackfillChunk } from './backfill.js';
import { differingColumns, type HourDifference } from './hourly-rollup.js';
import { createAggregatorMetrics, serveMetrics } from './metrics.js';
import { parseDayRange } from './plant-days.js';
import { pruneRaw } from './raw-retention.js';
import { readState } from './aggregator-state.js';
import { ScheduledAggregator, startSchedule } from './scheduled-aggregator.js';
import { verify, type VerifyReport } from './verify.js';

const DATABASE_ENV = ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'PLANT_TIMEZONE', 'LOG_LEVEL'] as const;
const BATCH_HOURS = 500;

const frozenNote = (frozenBefore: Date | undefined, frozenDays: number) =>
  frozenBefore
    ? `hours before ${frozenBefore.toISOString()} are frozen (raw retention): ${frozenDays} day(s) of the range left as they are; their raw rows are gone\n`
    : '';

export const runCommand = defineCommand({
  name: 'run',
  summary: 'Aggregate every complete dirty hour now (catch-up), then on the AGGREGATOR_CRON schedule, until SIGINT/SIGTERM.',
  usage: 'aggregator run',
  options: {},
  optionHelp: {},
  env: [...DATABASE_ENV, 'AGGREGATOR_CRON', 'AGGREGATOR_METRICS_PORT'],
  async run({ config, log: root, lifecycle }) {
    const log = componentLogger(root, 'aggregator');
    if (!cron.validate(config.aggregator.cron)) {
      throw errors.config('AGGREGATOR_CRON', `expected a cron expression such as '5 * * * *', got ${JSON.stringify(config.aggregator.cron)}`);
    }
    const database = await openDatabase({ config, log, lifecycle, applicationName: 'aggregator run' });
    const metrics = createAggregatorMetrics({
      replicationSlots: {
        read: () => replicationSlots(database.db),
        onError: (error) => log.warn({ err: error }, 'metrics: cannot read the replication slots'),
      },
    });
    let server: Server;
    try {
      const served = await serveMetrics(metrics.registry, config.aggregator.metricsPort);
      server = served.server;
      log.info({ port: served.port }, `metrics on http://127.0.0.1:${served.port}/metrics`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw errors.portInUse('the aggregator metrics', `port ${config.aggregator.metricsPort}`, 'Set AGGREGATOR_METRICS_PORT to a free port (0 picks one).');
      }
      throw error;
    }
    lifecycle.onShutdown('metrics server', () => new Promise<void>((resolve) => server.close(() => resolve())));
    const aggregator = new ScheduledAggregator({ db: database.db, timezone: config.timezone, log, metrics, batchSize: BATCH_HOURS, signal: lifecycle.signal });
    const schedule = startSchedule(aggregator, { cron: config.aggregator.cron, timezone: config.timezone, log });
    lifecycle.onShutdown('aggregation schedule', () => schedule.stop());
    log.info({ cron: config.aggregator.cron, timezone: config.timezone }, 'aggregator scheduled');
    await lifecycle.untilSignalled();
  },
});

function chunkReporter(log: Logger, verb: string): { onChunk: (chunk: BackfillChunk, done: number, of: number) => void; stop: () => void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: `${verb} [{bar}] {value}/{total} days | {day} | ETA {eta_formatted}`, stream: process.stderr },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      onChunk: (chunk, done, of) => {
        if (!started) {
          bar.start(of, 0, { day: chunk.day });
          started = true;
        }
        bar.update(done, { day: chunk.day });
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  return {
    onChunk: (chunk, done, of) =>
      log.info(
        { day: chunk.day, done, of, frozen: chunk.frozen, written: chunk.written, unchanged: chunk.unchanged, removed: chunk.removed, rawRows: chunk.rawRows },
        `${verb} day ${chunk.day} done (${done}/${of})`,
      ),
    stop: () => undefined,
  };
}

export const backfillCommand = defineCommand({
  name: 'backfill',
  summary: 'Re-aggregate whole days (both inclusive, in PLANT_TIMEZONE) from the raw table, one transaction per day.',
  usage: 'aggregator backfill --start YYYY-MM-DD --end YYYY-MM-DD [--location ID] [--dry-run]',
  options: { start: { type: 'string' }, end: { type: 'string' }, location: { type: 'string' }, 'dry-run': { type: 'boolean' } },
  optionHelp: {
    start: 'first day, YYYY-MM-DD (in PLANT_TIMEZONE)',
    end: 'last day, YYYY-MM-DD, inclusive',
    location: 'only this loc_id',
    'dry-run': 'report what would change and write nothing',
  },
  env: [...DATABASE_ENV],
  async run({ values, config, log: root, lifecycle }) {
    const log = componentLogger(root, 'aggregator');
    const { start, end } = parseDayRange(values.start, values.end);
    if (values.location !== undefined && values.location.trim() === '') throw errors.usage('--location: expected a loc_id');
    const database = await openDatabase({ config, log, lifecycle, applicationName: 'aggregator backfill' });
    const dryRun = values['dry-run'] === true;
    const reporter = chunkReporter(log, dryRun ? 'dry-run' : 'backfill');
    const scope = `${start}..${end}${values.location ? ` location ${values.location}` : ''} (${config.timezone})`;
    // Recorded when it starts, so the hourly versions it writes link to it (temperature_history);
    // a second entry with the same action records the outcome.
    const auditId = dryRun
      ? undefined
      : await appendAuditReturningId(database.db, { actor: commandActor(), action: 'aggregator.backfill', subject: scope, after: { status: 'started' } });
    const summary = await backfill(database.db, {
      auditId,
      timezone: config.timezone,
      start,
      end,
      locId: values.location,
      dryRun,
      onChunk: reporter.onChunk,
      signal: lifecycle.signal,
    }).finally(() => reporter.stop());
    if (!dryRun) {
      await appendAudit(database.db, {
        actor: commandActor(),
        action: 'aggregator.backfill',
        subject: scope,
        before: { started_entry: auditId },
        after: { status: 'finished', days: summary.days, hours: summary.hours, written: summary.written, unchanged: summary.unchanged, removed: summary.removed, frozen_days: summary.frozenDays },
      });
    }
    process.stdout.write(
      `${dryRun ? 'dry run, nothing written: ' : ''}backfill ${scope}: ${summary.days} day(s), ${summary.hours} hour(s) with data; ` +
        `${summary.written} ${dryRun ? 'would be written' : 'written'}, ${summary.unchanged} unchanged, ${summary.removed} ${dryRun ? 'would be removed' : 'removed'}; ` +
        `${summary.rawRows} raw rows read in ${formatDuration(Math.max(1, Math.round(summary.milliseconds)))}\n` +
        frozenNote(summary.frozenBefore, summary.frozenDays),
    );
  },
});

function describeDifference(difference: HourDifference): string {
  const where = `${difference.bucket} ${difference.loc_id}`;
  if (difference.kind === 'missing') return `${where} missing: raw rows give ${JSON.stringify(difference.fresh)} but there is no hourly row`;
  if (difference.kind === 'extra') return `${where} extra: hourly row ${JSON.stringify(difference.stored)} but no raw rows`;
  const columns = differingColumns(difference).map(
    (column) => `${column} stored=${JSON.stringify(difference.stored?.[column] ?? null)} fresh=${JSON.stringify(difference.fresh?.[column] ?? null)}`,
  );
  return `${where} wrong: ${columns.join(', ')}`;
}

function verifyJson(report: VerifyReport, scope: { start: string; end: string; timezone: string; location: string | null }): string {
  return JSON.stringify({
    ...scope,
    ok: report.wrong.length === 0 || report.repaired === report.wrong.length,
    days: report.days,
    hours: report.hours,
    raw_rows: report.rawRows,
    wrong: report.wrong.map(({ dirty: _dirty, ...difference }) => ({ ...difference, columns: difference.kind === 'changed' ? differingColumns({ ...difference, dirty: false }) : [] })),
    pending: report.pending,
    frozen_before: report.frozenBefore?.toISOString() ?? null,
    frozen_days: report.frozenDays,
    repaired: report.repaired ?? null,
  });
}

export const verifyCommand = defineCommand({
  name: 'verify',
  summary:
    'Compare the hourly table with a fresh aggregation of the raw table. Hours that differ are wrong, or pending (marked dirty, or the current hour), ' +
    'or frozen (raw retention); exit 1 only when an hour is wrong (after --repair: when one stayed wrong).',
  usage: 'aggregator verify --start YYYY-MM-DD --end YYYY-MM-DD [--location ID] [--json] [--repair]',
  options: { start: { type: 'string' }, end: { type: 'string' }, location: { type: 'string' }, json: { type: 'boolean' }, repair: { type: 'boolean' } },
  optionHelp: {
    start: 'first day, YYYY-MM-DD (in PLANT_TIMEZONE)',
    end: 'last day, YYYY-MM-DD, inclusive',
    location: 'only this loc_id',
    json: 'print one JSON report on stdout (wrong and pending hours, frozen horizon, repaired count)',
    repair: 're-aggregate exactly the wrong hours from raw and say how many were fixed',
  },
  env: [...DATABASE_ENV],
  async run({ values, config, log: root, lifecycle }) {
    const log = componentLogger(root, 'aggregator');
    const { start, end } = parseDayRange(values.start, values.end);
    const database = await openDatabase({ config, log, lifecycle, applicationName: 'aggregator verify' });
    const json = values.json === true;
    const report = await verify(database.db, {
      timezone: config.timezone,
      start,
      end,
      locId: values.location,
      repair: values.repair === true,
      // What the hours were and what they become, as verify saw them, in the repair's transaction.
      auditRepair: (trx, wrong) =>
        appendAuditReturningId(trx, {
          actor: commandActor(),
          action: 'aggregator.verify-repair',
          subject: `${start}..${end}${values.location ? ` location ${values.location}` : ''} (${config.timezone})`,
          before: wrong.map((difference) => ({ loc_id: difference.loc_id, bucket: difference.bucket, kind: difference.kind, values: difference.stored })),
          after: { hours: wrong.map((difference) => ({ loc_id: difference.loc_id, bucket: difference.bucket, values: difference.fresh })) },
        }),
      onWrong: json ? undefined : (difference) => process.stdout.write(`${describeDifference(difference)}\n`),
    });
    if (report.repaired !== undefined && report.wrong.length > 0) {
      log.warn({ wrong: report.wrong.length, repaired: report.repaired }, 'verify repaired wrong hours');
    }
    if (json) {
      process.stdout.write(`${verifyJson(report, { start, end, timezone: config.timezone, location: values.location ?? null })}\n`);
    } else {
      process.stdout.write(
        `verify ${start}..${end}${values.location ? ` location ${values.location}` : ''} (${config.timezone}): ${report.hours} hour(s) with data, ` +
          `${report.rawRows} raw rows, ${report.wrong.length} wrong hour(s), ${report.pending.length} pending (dirty or current)` +
          `${report.repaired === undefined ? '' : `; repaired ${report.repaired}`}\n` +
          frozenNote(report.frozenBefore, report.frozenDays),
      );
    }
    const unrepaired = report.wrong.length - (report.repaired ?? 0);
    return unrepaired > 0 ? 1 : 0;
  },
});

export const pruneCommand = defineCommand({
  name: 'prune',
  summary:
    'Drop raw rows older than RAW_RETENTION, after aggregating their hours (those hours become frozen), and superseded hourly versions and tombstones older than HISTORY_RETENTION.',
  usage: 'aggregator prune',
  options: {},
  optionHelp: {},
  env: [...DATABASE_ENV, 'RAW_RETENTION', 'HISTORY_RETENTION'],
  async run({ config, log: root, lifecycle }) {
    const log = componentLogger(root, 'aggregator');
    const retentionMs = config.aggregator.rawRetentionMs;
    const historyMs = config.aggregator.historyRetentionMs;
    if (retentionMs === undefined && historyMs === undefined) {
      throw errors.config('RAW_RETENTION', 'raw retention is off; set it (e.g. 90d) to prune (or HISTORY_RETENTION to prune only the hourly history)');
    }
    const database = await openDatabase({ config, log, lifecycle, applicationName: 'aggregator prune' });
    if (historyMs !== undefined) {
      const history = await pruneChangeHistory(database.db, new Date(Date.now() - historyMs));
      log.info(history, 'hourly history pruned');
      process.stdout.write(
        `prune (HISTORY_RETENTION ${formatDuration(historyMs)}): ${history.versions} superseded hourly version(s) and ${history.tombstones} tombstone(s) removed; ` +
          `feed cursors below revision ${history.prunedThrough} must restart from after=0\n`,
      );
    }
    if (retentionMs === undefined) return;
    const before = await readState(database.db);
    const report = await pruneRaw(database.db, { timezone: config.timezone, retentionMs, now: new Date(), batchSize: BATCH_HOURS, signal: lifecycle.signal, log });
    await appendAudit(database.db, {
      actor: commandActor(),
      action: 'aggregator.prune',
      subject: `RAW_RETENTION ${formatDuration(retentionMs)}`,
      before: { frozen_before: before.frozenBefore?.toISOString() ?? null },
      after: { frozen_before: report.frozenBefore?.toISOString() ?? null, raw_rows_deleted: report.rawRowsDeleted, hours_aggregated_first: report.hoursAggregated },
    });
    process.stdout.write(
      `prune (RAW_RETENTION ${formatDuration(retentionMs)}): ${report.hoursAggregated} dirty hour(s) aggregated first, ${report.partitionsDropped.length} partition(s) dropped whole, ` +
        `${report.rawRowsDeleted} raw rows deleted; ` +
        `hours before ${report.frozenBefore?.toISOString() ?? '(none)'} are frozen\n`,
    );
  },
});

export const aggregatorCommands = [runCommand, backfillCommand, verifyCommand, pruneCommand];
