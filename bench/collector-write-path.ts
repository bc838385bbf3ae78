import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kysely, PostgresDialect } from 'kysely';
import { createPool, createRawPartitions, ensureEmbeddedPostgres, migrateToLatest, rawPartitionName } from '../db/index.js';
import { createLogger } from '../runtime/logger.js';
import type { BenchResult } from './bench-database.js';
import { CollectorMetrics, ReadingJournal, ReadingWriter, copyReadingsPlain, writeReadings, writeReadingsThatMayRepeat, type Reading } from '../collectors/index.js';


const ROWS = Number(process.env.BENCH_COLLECTOR_WRITE_ROWS ?? 200_000);
const BATCH = Number(process.env.BENCH_COLLECTOR_WRITE_BATCH ?? 1_000);
const ROUNDS = Number(process.env.BENCH_COLLECTOR_WRITE_ROUNDS ?? 5);
const LOCATIONS = 500;

function readings(offsetMs: number): Reading[] {
  const rows: Reading[] = [];
  const start = Date.UTC(2024, 0, 1) + offsetMs;
  for (let i = 0; i < ROWS; i += 1) {
    rows.push({
      locId: `B-${String(i % LOCATIONS).padStart(3, '0')}`,
      captureMs: start + Math.floor(i / LOCATIONS) * 1000,
      values: { temperature: 20 + (i % 97) / 10, humidity: 40 + (i % 53) / 10, pcv_temperature: i % 11 === 0 ? null : 30.125 },
    });
  }
  return rows;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

/**
 * The collector's write path with its journal (collectors/reading-journal.ts: every reading
 * appended on receipt, group fdatasync, trimmed once stored; collectors/raw-table-writer.ts,
 * dirty-hour triggers on) against a plain COPY of the same rows in the same batch size into the same table, alternating rounds on
 * one server so that all see the same machine; and its replay path (a spooled batch that may
 * repeat stored readings), which the collector takes only after an outage.
 */
export async function run(): Promise<BenchResult> {
  const log = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-collector-write-'));
  await fs.chmod(dataDir, 0o755);
  const server = await ensureEmbeddedPostgres({ dataDir, log });
  const schema = 'flet_montrg';
  const pool = createPool({ url: server.url, schema, applicationName: 'bench collector write', log, max: 2 });
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  try {
    await migrateToLatest(db, schema, log);
    // The rounds' days get their partitions, as the aggregator makes them ahead in production:
    // the collector's COPY goes straight into them, and so does the baseline's plain COPY (every
    // round's readings are within one day).
    await createRawPartitions(db, { from: new Date(Date.UTC(2024, 0, 1)), to: new Date(Date.UTC(2024, 0, 1) + ROUNDS * 86_400_000) });
    const rates = { journal: [] as number[], collector: [] as number[], copy: [] as number[], replay: [] as number[] };
    // The journal on the same disk as the database's data, as on a gateway that runs both.
    const journalDir = process.env.BENCH_JOURNAL_DIR ?? path.join(dataDir, 'journal');
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const kind of round % 2 === 0 ? (['journal', 'collector', 'copy', 'replay'] as const) : (['replay', 'copy', 'collector', 'journal'] as const)) {
        await pool.query('TRUNCATE temperature_raw, raw_dirty_hour');
        const rows = readings(round * 86_400_000);
        const journal = kind === 'journal' ? await ReadingJournal.open(journalDir, { log, maxBytes: 2 ** 34, whenFull: 'drop-oldest', syncIntervalMs: 1_000 }) : undefined;
        const writer = journal
          ? new ReadingWriter({
              gateway: 'gw-bench',
              journal,
              metrics: new CollectorMetrics(),
              log,
              batchSize: BATCH,
              maxDelayMs: 60_000,
              probe: () => Promise.resolve(true),
              sink: (gateway, batch, options) => writeReadings(pool, gateway, batch, 60_000, options),
            })
          : undefined;
        const started = process.hrtime.bigint();
        for (let i = 0; i < rows.length; i += BATCH) {
          const batch = rows.slice(i, i + BATCH);
          if (writer) {
            // The collector's own writer: each reading journaled as it is added, the batch stored, the journal trimmed.
            for (const reading of batch) writer.add(reading);
            await writer.flush();
          } else if (kind === 'collector') await writeReadings(pool, 'gw-bench', batch, 60_000);
          else if (kind === 'copy') await copyReadingsPlain(pool, 'gw-bench', batch, rawPartitionName(batch[0]?.captureMs ?? 0));
          else await writeReadingsThatMayRepeat(pool, 'gw-bench', batch, 60_000);
        }
        await writer?.close(60_000);
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        rates[kind].push(rows.length / seconds);
      }
    }
    const collector = median(rates.collector);
    const journaled = median(rates.journal);
    const copy = median(rates.copy);
    const ratio = journaled / copy;
    const markdown = [
      `### Collector write path vs plain COPY`,
      '',
      `${ROWS.toLocaleString('en')} readings of ${LOCATIONS} locations in batches of ${BATCH}, ${ROUNDS} alternating rounds, median (embedded PostgreSQL, default durability).`,
      '',
      '| path | rows/s |',
      '| --- | ---: |',
      `| collector's ReadingWriter with the journal: readings journaled as added (one write per event-loop turn), group fdatasync every 1 s, COPY per batch, journal trimmed | ${Math.round(journaled).toLocaleString('en')} |`,
      `| collector's database write alone (COPY; a batch meeting the unique key is retried as below) | ${Math.round(collector).toLocaleString('en')} (${(collector / copy).toFixed(2)} of COPY) |`,
      `| plain COPY into the day's partition of temperature_raw (baseline; fails on a replayed row) | ${Math.round(copy).toLocaleString('en')} |`,
      `| collector, spool replay (INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING) | ${Math.round(median(rates.replay)).toLocaleString('en')} (${(median(rates.replay) / copy).toFixed(2)} of COPY) |`,
      `| **ratio collector with journal / plain COPY** (goal ≥ 0.9) | **${ratio.toFixed(2)}** |`,
      '',
    ].join('\n');
    return { title: 'collector write path', markdown };
  } finally {
    await db.destroy();
    await server.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run();
  process.stdout.write(`${result.markdown}\n`);
}
