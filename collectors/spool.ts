import fs from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { Logger } from '../runtime/logger.js';
import type { SpoolPolicy } from './gateway-config.js';
import type { Reading, ReadingBatch } from './reading.js';

/**
 * Store and forward on local disk. Batches the database did not take are appended to segment
 * files as framed records (u32 length, u32 CRC-32 of the payload, JSON payload) and fsynced before
 * they count as kept. Replay takes whole segments oldest first and deletes a segment only after
 * the database committed its rows; a crash between the commit and the delete replays it again,
 * which the raw table's unique key makes harmless. A record cut short by a crash (torn write) or
 * failing its CRC ends its segment: everything before it is replayed.
 */
const HEADER_BYTES = 8;
const SEGMENT_PATTERN = /^segment-(\d{12})\.spool$/;
const SEGMENT_BYTES = 4 * 1024 * 1024;

type RecordRow = [string, number, number | null, number | null, number | null];
interface RecordPayload {
  readonly g: string;
  readonly r: readonly RecordRow[];
}

interface Segment {
  readonly seq: number;
  readonly file: string;
  bytes: number;
  batches: number;
  readings: number;
  oldestCaptureMs: number;
}

export interface SpoolStats {
  readonly bytes: number;
  readonly batches: number;
  readonly readings: number;
  /** capture time of the oldest reading held, or undefined when empty. */
  readonly oldestCaptureMs: number | undefined;
}

export interface SpooledSegment {
  readonly seq: number;
  readonly batches: readonly ReadingBatch[];
}

export function encodeRecord(batch: ReadingBatch): Buffer {
  const payload: RecordPayload = {
    g: batch.gateway,
    r: batch.readings.map((reading) => [reading.locId, reading.captureMs, reading.temperature, reading.humidity, reading.pcvTemperature]),
  };
  const body = Buffer.from(JSON.stringify(payload));
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(body.length, 0);
  header.writeUInt32BE(crc32(body), 4);
  return Buffer.concat([header, body]);
}

/** The intact records of a segment's bytes, and whether it ended in a torn or corrupt record. */
export function decodeRecords(bytes: Buffer): { batches: ReadingBatch[]; torn: boolean } {
  const batches: ReadingBatch[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < HEADER_BYTES) return { batches, torn: true };
    const length = bytes.readUInt32BE(offset);
    const checksum = bytes.readUInt32BE(offset + 4);
    const end = offset + HEADER_BYTES + length;
    if (end > bytes.length) return { batches, torn: true };
    const body = bytes.subarray(offset + HEADER_BYTES, end);
    if (crc32(body) !== checksum) return { batches, torn: true };
    const payload = JSON.parse(body.toString('utf8')) as RecordPayload;
    batches.push({
      gateway: payload.g,
      readings: payload.r.map(([locId, captureMs, temperature, humidity, pcvTemperature]): Reading => ({ locId, captureMs, temperature, humidity, pcvTemperature })),
    });
    offset = end;
  }
  return { batches, torn: false };
}

function segmentName(seq: number): string {
  return `segment-${String(seq).padStart(12, '0')}.spool`;
}

export class Spool {
  readonly dir: string;
  readonly #log: Logger;
  readonly #maxBytes: number;
  readonly #policy: SpoolPolicy;
  readonly #segments: Segment[] = [];
  #active: { segment: Segment; handle: fs.FileHandle } | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #onChange: (stats: SpoolStats) => void;
  #onDropped: (readings: number) => void;

  private constructor(dir: string, options: SpoolOptions) {
    this.dir = dir;
    this.#log = options.log;
    this.#maxBytes = options.maxBytes;
    this.#policy = options.whenFull;
    this.#onChange = options.onChange ?? (() => {});
    this.#onDropped = options.onDropped ?? (() => {});
  }

  /** Opens (creating) the spool directory and indexes what an earlier run left in it. */
  static async open(dir: string, options: SpoolOptions): Promise<Spool> {
    const spool = new Spool(dir, options);
    await fs.mkdir(dir, { recursive: true });
    const names = (await fs.readdir(dir)).filter((name) => SEGMENT_PATTERN.test(name)).sort();
    for (const name of names) {
      const file = path.join(dir, name);
      const bytes = await fs.readFile(file);
      const { batches, torn } = decodeRecords(bytes);
      if (torn) options.log.warn({ file }, 'spool segment ends in a torn or corrupt record (a crash while writing it); its intact records are kept');
      if (batches.length === 0) {
        await fs.rm(file, { force: true });
        continue;
      }
      const readings = batches.flatMap((batch) => batch.readings);
      spool.#segments.push({
        seq: Number(SEGMENT_PATTERN.exec(name)?.[1]),
        file,
        bytes: bytes.length,
        batches: batches.length,
        readings: readings.length,
        oldestCaptureMs: Math.min(...readings.map((reading) => reading.captureMs)),
      });
    }
    if (spool.#segments.length > 0) {
      const stats = spool.stats();
      options.log.info({ dir, batches: stats.batches, readings: stats.readings, bytes: stats.bytes }, 'spool holds readings from an earlier run; replaying them when the database is reachable');
    }
    spool.#changed();
    return spool;
  }

  stats(): SpoolStats {
    let bytes = 0;
    let batches = 0;
    let readings = 0;
    let oldest: number | undefined;
    for (const segment of this.#segments) {
      bytes += segment.bytes;
      batches += segment.batches;
      readings += segment.readings;
      oldest = oldest === undefined ? segment.oldestCaptureMs : Math.min(oldest, segment.oldestCaptureMs);
    }
    return { bytes, batches, readings, oldestCaptureMs: oldest };
  }

  get empty(): boolean {
    return this.#segments.length === 0;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(fn, fn);
    this.#chain = next.catch(() => {});
    return next;
  }

  #changed(): void {
    this.#onChange(this.stats());
  }

  /** Appends a batch and fsyncs it; false when the size cap's policy dropped it. */
  append(batch: ReadingBatch): Promise<boolean> {
    return this.#serial(async () => {
      if (batch.readings.length === 0) return true;
      const record = encodeRecord(batch);
      if (!(await this.#makeRoom(record.length))) {
        this.#onDropped(batch.readings.length);
        this.#log.error({ readings: batch.readings.length, maxBytes: this.#maxBytes }, 'spool is full (policy drop-newest): readings dropped');
        return false;
      }
      if (!this.#active || this.#active.segment.bytes >= SEGMENT_BYTES) await this.#rotate();
      const active = this.#active as { segment: Segment; handle: fs.FileHandle };
      await active.handle.write(record);
      await active.handle.datasync();
      const segment = active.segment;
      if (segment.batches === 0) this.#segments.push(segment);
      segment.bytes += record.length;
      segment.batches += 1;
      segment.readings += batch.readings.length;
      segment.oldestCaptureMs = Math.min(segment.oldestCaptureMs, ...batch.readings.map((reading) => reading.captureMs));
      this.#changed();
      return true;
    });
  }

  async #makeRoom(needed: number): Promise<boolean> {
    while (this.stats().bytes + needed > this.#maxBytes && this.#segments.length > 0) {
      if (this.#policy === 'drop-newest') return false;
      const oldest = this.#segments[0];
      if (this.#active?.segment === oldest) await this.#closeActive();
      await this.#delete(oldest);
      this.#onDropped(oldest.readings);
      this.#log.error({ readings: oldest.readings, file: oldest.file, maxBytes: this.#maxBytes }, 'spool is full (policy drop-oldest): oldest readings dropped');
    }
    return this.stats().bytes + needed <= this.#maxBytes || this.#segments.length === 0;
  }

  async #rotate(): Promise<void> {
    await this.#closeActive();
    const last = this.#segments[this.#segments.length - 1];
    const seq = Math.max(last?.seq ?? 0, this.#lastSeq) + 1;
    this.#lastSeq = seq;
    const file = path.join(this.dir, segmentName(seq));
    const handle = await fs.open(file, 'a');
    // The new file's directory entry must survive a power cut too, not only its contents.
    await this.#syncDir();
    this.#active = { segment: { seq, file, bytes: 0, batches: 0, readings: 0, oldestCaptureMs: Number.POSITIVE_INFINITY }, handle };
  }

  #lastSeq = 0;

  async #closeActive(): Promise<void> {
    const active = this.#active;
    this.#active = undefined;
    if (!active) return;
    await active.handle.close();
    if (active.segment.batches === 0) await fs.rm(active.segment.file, { force: true });
  }

  async #syncDir(): Promise<void> {
    const handle = await fs.open(this.dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async #delete(segment: Segment): Promise<void> {
    await fs.rm(segment.file, { force: true });
    const index = this.#segments.indexOf(segment);
    if (index >= 0) this.#segments.splice(index, 1);
    this.#lastSeq = Math.max(this.#lastSeq, segment.seq);
    await this.#syncDir();
    this.#changed();
  }

  /** The oldest segment's batches (sealing it first if appends were still going to it). */
  oldest(): Promise<SpooledSegment | undefined> {
    return this.#serial(async () => {
      const segment = this.#segments[0];
      if (!segment) return undefined;
      if (this.#active?.segment === segment) await this.#closeActive();
      const { batches } = decodeRecords(await fs.readFile(segment.file));
      return { seq: segment.seq, batches };
    });
  }

  /** Deletes a segment whose rows the database has committed. */
  remove(seq: number): Promise<void> {
    return this.#serial(async () => {
      const segment = this.#segments.find((candidate) => candidate.seq === seq);
      if (segment) await this.#delete(segment);
    });
  }

  close(): Promise<void> {
    return this.#serial(() => this.#closeActive());
  }
}

export interface SpoolOptions {
  readonly log: Logger;
  readonly maxBytes: number;
  readonly whenFull: SpoolPolicy;
  readonly onChange?: (stats: SpoolStats) => void;
  readonly onDropped?: (readings: number) => void;
}

/** Every batch held in a spool directory, oldest first (for tests and tooling; read-only). */
export async function readSpoolDirectory(dir: string): Promise<ReadingBatch[]> {
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((name) => SEGMENT_PATTERN.test(name)).sort();
  } catch {
    return [];
  }
  const batches: ReadingBatch[] = [];
  for (const name of names) batches.push(...decodeRecords(await fs.readFile(path.join(dir, name))).batches);
  return batches;
}
