import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Spool, readSpoolDirectory, type ReadingBatch } from '../collectors/index.js';
import { createLogger } from '../runtime/logger.js';

const log = createLogger('silent');

const batch = (first: number, count: number): ReadingBatch => ({
  gateway: 'gw-t',
  readings: Array.from({ length: count }, (_, i) => ({ locId: `L-${i % 3}`, captureMs: 1_700_000_000_000 + (first + i) * 1000, temperature: 20.5, humidity: null, pcvTemperature: 31.25 })),
});

describe('spool', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'spool-test-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps appended batches across a reopen and replays them oldest first', async () => {
    const spool = await Spool.open(dir, { log, maxBytes: 1 << 20, whenFull: 'drop-oldest' });
    await spool.append(batch(0, 5));
    await spool.append(batch(5, 5));
    expect(spool.stats()).toMatchObject({ batches: 2, readings: 10, oldestCaptureMs: 1_700_000_000_000 });
    await spool.close();

    const reopened = await Spool.open(dir, { log, maxBytes: 1 << 20, whenFull: 'drop-oldest' });
    expect(reopened.stats()).toMatchObject({ batches: 2, readings: 10 });
    const oldest = await reopened.oldest();
    expect(oldest?.batches).toEqual([batch(0, 5), batch(5, 5)]);
    await reopened.append(batch(10, 1));
    await reopened.remove(oldest!.seq);
    expect((await readSpoolDirectory(dir)).map((kept) => kept.readings.length)).toEqual([1]);
    await reopened.close();
  });

  it('tolerates a torn last record and a corrupt one, keeping everything before it', async () => {
    const spool = await Spool.open(dir, { log, maxBytes: 1 << 20, whenFull: 'drop-oldest' });
    await spool.append(batch(0, 3));
    await spool.append(batch(3, 3));
    await spool.close();
    const [name] = await fs.readdir(dir);
    const file = path.join(dir, name);
    const bytes = await fs.readFile(file);
    await fs.writeFile(file, bytes.subarray(0, bytes.length - 7));
    expect(await readSpoolDirectory(dir)).toEqual([batch(0, 3)]);

    const corrupt = Buffer.from(bytes);
    corrupt[corrupt.length - 3] ^= 0xff;
    await fs.writeFile(file, corrupt);
    const reopened = await Spool.open(dir, { log, maxBytes: 1 << 20, whenFull: 'drop-oldest' });
    expect(reopened.stats()).toMatchObject({ batches: 1, readings: 3 });
    expect((await reopened.oldest())?.batches).toEqual([batch(0, 3)]);
    await reopened.close();
  });

  it('applies its size cap with the configured policy and counts what it drops', async () => {
    const one = (await Spool.open(path.join(dir, 'probe'), { log, maxBytes: 1 << 20, whenFull: 'drop-oldest' }));
    await one.append(batch(0, 200));
    const recordBytes = one.stats().bytes;
    await one.close();

    let dropped = 0;
    const newest = await Spool.open(path.join(dir, 'newest'), { log, maxBytes: Math.floor(recordBytes * 2.5), whenFull: 'drop-newest', onDropped: (n) => (dropped += n) });
    expect(await newest.append(batch(0, 200))).toBe(true);
    expect(await newest.append(batch(200, 200))).toBe(true);
    expect(await newest.append(batch(400, 200))).toBe(false);
    expect(dropped).toBe(200);
    expect(newest.stats().readings).toBe(400);
    await newest.close();

    // drop-oldest gives up whole segments, so each batch is made to start one.
    dropped = 0;
    const oldest = await Spool.open(path.join(dir, 'oldest'), { log, maxBytes: Math.floor(recordBytes * 2.5), whenFull: 'drop-oldest', onDropped: (n) => (dropped += n) });
    await oldest.append(batch(0, 200));
    await oldest.oldest();
    await oldest.append(batch(200, 200));
    await oldest.oldest();
    expect(await oldest.append(batch(400, 200))).toBe(true);
    expect(dropped).toBe(200);
    expect(oldest.stats()).toMatchObject({ readings: 400, oldestCaptureMs: batch(200, 1).readings[0].captureMs });
    await oldest.close();
  });
});
