import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CollectorMetrics, ReadingJournal, ReadingWriter, encodeFrame, type Reading } from '../collectors/index.js';
import { createLogger } from '../runtime/logger.js';

const READINGS = 1_000_000;
const PER_FILE = 50_000;
const log = createLogger('silent');
const reading = (i: number): Reading => ({ locId: `R-${i % 500}`, captureMs: 1_700_000_000_000 + Math.floor(i / 500) * 1000, values: { temperature: 21.5, humidity: i % 7 ? 40.1 : null, pcv_temperature: 30 } });

/**
 * The CPU side of a large replay: a journal of one million readings left by an earlier run is
 * indexed and replayed while a 10 ms timer (standing in for the poll schedule) measures how late
 * the event loop runs it. The database side is a sink that takes every slice at once (a real
 * PostgreSQL needs about a minute for a million upserts here; bench/collector-polling.ts
 * measures polls against a real one while a backlog replays), so the figure is the collector's
 * own blocking.
 */
describe('replaying a million journaled readings', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'journal-million-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('stores each reading once and keeps the event loop responsive', async () => {
    for (let file = 0; file * PER_FILE < READINGS; file += 1) {
      const frames: Buffer[] = [];
      for (let i = file * PER_FILE; i < Math.min(READINGS, (file + 1) * PER_FILE); i += 1) frames.push(encodeFrame('gw-m', reading(i)));
      await fs.writeFile(path.join(dir, `journal-${String(file + 1).padStart(12, '0')}.log`), Buffer.concat(frames));
    }
    let stored = 0;
    let checksum = 0;
    let expected = 0;
    for (let i = 0; i < READINGS; i += 1) expected = (expected + reading(i).captureMs + (i % 500)) % 1_000_000_007;
    const lateness: number[] = [];
    let last = performance.now();
    const poll = setInterval(() => {
      const now = performance.now();
      lateness.push(now - last - 10);
      last = now;
    }, 10);
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    histogram.enable();
    try {
      const journal = await ReadingJournal.open(dir, { log, maxBytes: 2 ** 32, whenFull: 'drop-oldest', syncIntervalMs: 1_000 });
      expect(journal.stats().readings).toBe(READINGS);
      let writer: ReadingWriter | undefined;
      const drained = new Promise<void>((resolve) => {
        writer = new ReadingWriter({
          gateway: 'gw-m',
          journal,
          metrics: new CollectorMetrics(),
          log,
          batchSize: 1_000,
          maxDelayMs: 1_000,
          probe: () => Promise.resolve(true),
          sink: (_gateway, readings, { mayRepeat }) => {
            expect(mayRepeat).toBe(true);
            for (const { captureMs, locId } of readings) checksum = (checksum + captureMs + Number(locId.slice(2))) % 1_000_000_007;
            stored += readings.length;
            return Promise.resolve(readings.length);
          },
        });
        const check = setInterval(() => {
          if (journal.stats().readings === 0) {
            clearInterval(check);
            resolve();
          }
        }, 20);
      });
      await drained;
      await writer?.close(1_000);
      expect(stored).toBe(READINGS);
      expect(checksum).toBe(expected);
      expect(journal.stats().readings).toBe(0);
      expect((await fs.readdir(dir)).filter((name) => name.endsWith('.log'))).toEqual([]);
    } finally {
      clearInterval(poll);
      histogram.disable();
    }
    const sorted = lateness.sort((a, b) => a - b);
    const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? 0;
    // Generous bounds on a shared 2-core machine: a quadratic or synchronous replay blocks for seconds.
    expect(p99, `p99 lateness of a 10 ms timer ${p99.toFixed(1)} ms, max ${sorted[sorted.length - 1]?.toFixed(1)} ms`).toBeLessThan(100);
    expect(histogram.max / 1e6).toBeLessThan(1_000);
  });
});
