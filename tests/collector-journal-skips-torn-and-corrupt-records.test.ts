import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReadingJournal, encodeFrame, readJournalDirectory, type JournalOptions, type JournalRecord, type Reading } from '../collectors/index.js';
import { createLogger } from '../runtime/logger.js';

const log = createLogger('silent');
const reading = (i: number): Reading => ({ locId: `L-${i % 3}`, captureMs: 1_700_000_000_000 + i * 1000, values: { temperature: 20 + i / 10, humidity: i % 2 ? null : 45.5, pcv_temperature: 31.25 } });
const options = (extra: Partial<JournalOptions> = {}): JournalOptions => ({ log, maxBytes: 1 << 24, whenFull: 'drop-oldest', syncIntervalMs: 1_000, ...extra });

async function replayAll(journal: ReadingJournal): Promise<JournalRecord[]> {
  const records: JournalRecord[] = [];
  for (let segment = journal.nextReplay(); segment; segment = journal.nextReplay()) {
    await journal.read(segment, (chunk) => {
      records.push(...chunk);
      return Promise.resolve();
    });
    journal.finishReplay(segment);
  }
  return records;
}

describe('the reading journal', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'journal-test-'));
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('keeps every reading across a reopen and replays each once, in order', async () => {
    const journal = await ReadingJournal.open(dir, options());
    for (let i = 0; i < 10; i += 1) expect(journal.append('gw-t', [reading(i)], 'replay')).toBeDefined();
    expect(journal.stats()).toMatchObject({ readings: 10, oldestCaptureMs: reading(0).captureMs });
    await journal.close();
    const reopened = await ReadingJournal.open(dir, options());
    expect(reopened.stats().readings).toBe(10);
    expect((await replayAll(reopened)).map((record) => record.reading)).toEqual(Array.from({ length: 10 }, (_, i) => reading(i)));
    expect(reopened.stats().readings).toBe(0);
    expect(await readJournalDirectory(dir)).toEqual([]);
    await reopened.close();
  });

  it('skips a torn record and a corrupt one in the middle of a segment and keeps the records after them', async () => {
    const frames = Array.from({ length: 6 }, (_, i) => encodeFrame('gw-t', reading(i)));
    const corrupt = Buffer.from(frames[3]);
    corrupt[corrupt.length - 4] ^= 0xff;
    // A torn write: the first half of a frame, then the next frames appended behind it.
    const torn = frames[1].subarray(0, Math.floor(frames[1].length / 2));
    await fsp.writeFile(path.join(dir, 'journal-000000000001.log'), Buffer.concat([frames[0], torn, frames[2], corrupt, frames[4], frames[5], Buffer.from([0x50, 0x4c])]));
    const skipped = { bytes: 0, records: 0 };
    const journal = await ReadingJournal.open(dir, options({ onSkipped: (bytes, records) => ((skipped.bytes += bytes), (skipped.records += records)) }));
    expect((await replayAll(journal)).map((record) => record.reading)).toEqual([reading(0), reading(2), reading(4), reading(5)]);
    expect(skipped).toEqual({ bytes: torn.length + corrupt.length + 2, records: 3 });
    await journal.close();
  });

  it('finishes a frame after short writes and cuts a frame a failed write left half-written', async () => {
    let calls = 0;
    let failNext = false;
    const writeSync = ((fd: number, buffer: Buffer, offset: number, length: number) => {
      calls += 1;
      if (failNext) {
        failNext = false;
        fs.writeSync(fd, buffer, offset, Math.floor(length / 2));
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      // At most 7 bytes per call: every frame takes several short writes.
      return fs.writeSync(fd, buffer, offset, Math.min(7, length));
    }) as typeof fs.writeSync;
    const errors: string[] = [];
    const journal = await ReadingJournal.open(dir, options({ writeSync, whenFull: 'drop-newest', onWriteError: (code) => errors.push(code) }));
    expect(journal.append('gw-t', [reading(0)], 'replay')).toBeDefined();
    expect(calls).toBeGreaterThan(5);
    failNext = true;
    expect(journal.append('gw-t', [reading(1)], 'replay')).toBeUndefined();
    expect(errors).toEqual(['ENOSPC']);
    expect(journal.append('gw-t', [reading(2)], 'replay')).toBeDefined();
    await journal.close();
    const skipped: number[] = [];
    const reopened = await ReadingJournal.open(dir, options({ onSkipped: (bytes) => skipped.push(bytes) }));
    expect((await replayAll(reopened)).map((record) => record.reading)).toEqual([reading(0), reading(2)]);
    expect(skipped).toEqual([]);
    await reopened.close();
  });

  it('trims live segments once their readings are stored', async () => {
    const journal = await ReadingJournal.open(dir, options());
    const few = journal.append('gw-t', [0, 1, 2].map(reading), 'live');
    journal.settle(few!, 3);
    expect(journal.stats().readings).toBe(0);
    // A few hundred KiB of stored readings: the active segment is cut back to empty.
    const many = journal.append('gw-t', Array.from({ length: 6_000 }, (_, i) => reading(i)), 'live');
    // Live readings are on their way to the database from memory: nothing waits for replay.
    expect(journal.stats().readings).toBe(0);
    expect(await readJournalDirectory(dir)).toHaveLength(6_003);
    journal.settle(many!, 6_000);
    expect(journal.stats().readings).toBe(0);
    expect(await readJournalDirectory(dir)).toEqual([]);
    await journal.close();
  });
});
