import { pathToFileURL } from 'node:url';
import type { BenchResult } from './bench-database.js';
import { runPolling } from './collector-polling.js';

/** Polling lateness while the journal replays a backlog (BENCH_COLLECTOR_BACKLOG, default one million readings). */
export function run(): Promise<BenchResult> {
  return runPolling({ backlog: Number(process.env.BENCH_COLLECTOR_BACKLOG ?? 1_000_000) });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run();
  process.stdout.write(`${result.markdown}\n`);
}
