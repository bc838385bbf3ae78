import fs from 'node:fs';
import path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from '../runtime/logger.js';
import type { SpoolPolicy } from './gateway-types.js';
import type { Reading } from './reading.js';
import { decodeLegacySegment, encodeFrame, scanFrames, type JournalRecord } from './journal-format.js';

/**
 * The collector's write-ahead journal, which is also its store-and-forward spool: one file format,
 * one replay path. Every reading is appended (a `write()` into the page cache, which outlives a
 * SIGKILL) as soon as it is decoded, and the files are fdatasync'd together every
 * `syncIntervalMs` (group commit: a power cut loses at most that much).
 *
 * Segment files are either *live* (their readings are also in the writer's memory and go to the
 * database in batches; a live segment is deleted, or the active one truncated, once every reading
 * in it is stored) or *replay* (the database was unreachable, or they are left from an earlier
 * run: the writer reads them back from disk, oldest first, and deletes each once it is stored).
 */
const SEGMENT_PATTERN = /^journal-(\d{12})\.log$/;
const LEGACY_PATTERN = /^segment-(\d{12})\.spool$/;
/** Live segments rotate at this size, so stored readings never pile up on disk. */
const SEGMENT_BYTES = 1024 * 1024;
/** The active live segment is cut back to empty once all its readings are stored and it holds this much. */
const TRIM_BYTES = 256 * 1024;
/** Replay and indexing read this much of a file at a time, yielding to the event loop in between. */
const READ_CHUNK_BYTES = 64 * 1024;

export type SegmentMode = 'live' | 'replay';

export interface JournalSegment {
  readonly seq: number;
  readonly file: string;
  mode: SegmentMode;
  bytes: number;
  /** Readings in the file not yet stored or dead-lettered (for replay segments: all of them). */
  unstored: number;
  oldestCaptureMs: number | undefined;
  sealed: boolean;
  replaying: boolean;
}

/** What the journal holds for replay (the database did not take it, or an earlier run left it). */
export interface JournalStats {
  /** Bytes of the replay segments. */
  readonly bytes: number;
  readonly readings: number;
  readonly segments: number;
  readonly oldestCaptureMs: number | undefined;
}

export interface JournalOptions {
  readonly log: Logger;
  readonly maxBytes: number;
  readonly whenFull: SpoolPolicy;
  readonly syncIntervalMs: number;
  /** Readings given up: the size cap's or a full disk's policy, or unjournaled during an outage. */
  readonly onDropped?: (readings: number) => void;
  /** A write or sync that failed (ENOSPC, EIO, …), by errno code. */
  readonly onWriteError?: (code: string) => void;
  readonly onSkipped?: (bytes: number, records: number) => void;
  /** Tests inject failing writes here (a full disk where no tmpfs can be mounted). */
  readonly writeSync?: typeof fs.writeSync;
}

interface Active {
  readonly segment: JournalSegment;
  readonly fd: number;
}

const ERROR_LOG_EVERY_MS = 60_000;

export class ReadingJournal {
  readonly dir: string;
  readonly #options: JournalOptions;
  readonly #log: Logger;
  readonly #segments: JournalSegment[] = [];
  readonly #writeSync: typeof fs.writeSync;
  #active: Active | undefined;
  /** Descriptors written since the last sync; sealed ones are closed once synced. */
  readonly #unsynced = new Map<number, { retired: boolean }>();
  #dirDirty = false;
  #lastSeq = 0;
  #syncTimer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;
  #lastErrorLogAt = Number.NEGATIVE_INFINITY;
  #suppressedErrors = 0;
  #closed = false;
  /** Bytes of every segment file, stored readings included (what the size cap limits). */
  #bytes = 0;

  private constructor(dir: string, options: JournalOptions) {
    this.dir = dir;
    this.#options = options;
    this.#log = options.log;
    this.#writeSync = options.writeSync ?? fs.writeSync;
  }

  /** Opens (creating) the journal directory and indexes what an earlier run left there, for replay. */
  static async open(dir: string, options: JournalOptions): Promise<ReadingJournal> {
    const journal = new ReadingJournal(dir, options);
    await fs.promises.mkdir(dir, { recursive: true });
    const names = (await fs.promises.readdir(dir)).sort();
    for (const name of names) {
      const seq = Number(SEGMENT_PATTERN.exec(name)?.[1] ?? Number.NaN);
      if (Number.isNaN(seq)) continue;
      await journal.#index(seq, path.join(dir, name));
    }
    for (const name of names.filter((candidate) => LEGACY_PATTERN.test(candidate))) await journal.#importLegacy(path.join(dir, name));
    const stats = journal.stats();
    if (stats.readings > 0) options.log.info({ dir, readings: stats.readings, bytes: stats.bytes, segments: stats.segments }, 'journal holds readings from an earlier run; replaying them when the database is reachable');
    journal.#syncTimer = setInterval(() => void journal.sync(), options.syncIntervalMs);
    journal.#syncTimer.unref();
    return journal;
  }

  async #index(seq: number, file: string): Promise<void> {
    let count = 0;
    let oldest: number | undefined;
    let bytes = 0;
    await this.#scan(file, false, (scan) => {
      count += scan.count;
      oldest ??= scan.firstCaptureMs;
    }, (size) => (bytes = size));
    this.#lastSeq = Math.max(this.#lastSeq, seq);
    if (count === 0) {
      fs.rmSync(file, { force: true });
      return;
    }
    this.#segments.push({ seq, file, mode: 'replay', bytes, unstored: count, oldestCaptureMs: oldest, sealed: true, replaying: false });
    this.#bytes += bytes;
  }

  /** Moves the readings of a spool written by an earlier version into a journal segment. */
  async #importLegacy(file: string): Promise<void> {
    const records = decodeLegacySegment(await fs.promises.readFile(file));
    for (const record of records) this.append(record.gateway, [record.reading], 'replay');
    this.#seal();
    await this.sync();
    fs.rmSync(file, { force: true });
    this.#log.info({ file, readings: records.length }, 'moved a spool segment of an earlier version into the journal');
  }

  /**
   * Reads a segment file in chunks, handing each chunk's frames to `onScan` and yielding to the
   * event loop between chunks, so that a large file never blocks polling.
   */
  async #scan(file: string, decode: boolean, onScan: (scan: ReturnType<typeof scanFrames>) => Promise<void> | void, onSize?: (bytes: number) => void): Promise<void> {
    const handle = await fs.promises.open(file, 'r');
    try {
      const size = (await handle.stat()).size;
      onSize?.(size);
      let carry = Buffer.alloc(0);
      let position = 0;
      while (position < size || carry.length > 0) {
        const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, size - position));
        const { bytesRead } = chunk.length > 0 ? await handle.read(chunk, 0, chunk.length, position) : { bytesRead: 0 };
        position += bytesRead;
        const atEnd = bytesRead === 0 || position >= size;
        const bytes = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
        const scan = scanFrames(bytes, atEnd, decode);
        // Reported when read for replay, not again when indexed at open.
        if (scan.skippedBytes > 0 && decode) {
          this.#options.onSkipped?.(scan.skippedBytes, scan.skippedRecords);
          this.#log.error({ file, skippedBytes: scan.skippedBytes, skippedRecords: scan.skippedRecords }, 'journal segment has torn or corrupt records: skipped them, the records after them are kept');
        }
        carry = atEnd ? Buffer.alloc(0) : Buffer.from(bytes.subarray(scan.consumed));
        await onScan(scan);
        if (atEnd) break;
        await yieldToEventLoop();
      }
    } finally {
      await handle.close();
    }
  }

  stats(): JournalStats {
    let bytes = 0;
    let readings = 0;
    let segments = 0;
    let oldest: number | undefined;
    // Replay segments only: a live segment's readings are on their way from memory, as normal.
    for (const segment of this.#segments) {
      if (segment.mode !== 'replay' || segment.unstored <= 0) continue;
      segments += 1;
      bytes += segment.bytes;
      readings += segment.unstored;
      if (segment.oldestCaptureMs !== undefined) oldest = oldest === undefined ? segment.oldestCaptureMs : Math.min(oldest, segment.oldestCaptureMs);
    }
    return { bytes, readings, segments, oldestCaptureMs: oldest };
  }

  #totalBytes(): number {
    return this.#bytes;
  }

  /**
   * Appends readings (one write for all of them) to the active segment of `mode` and returns that
   * segment, or undefined when they could not be journaled (size cap or full disk after the
   * `when_full` policy, or a write error): the caller then still has them in memory, without the
   * disk's guarantee.
   */
  append(gateway: string, readings: readonly Reading[], mode: SegmentMode): JournalSegment | undefined {
    if (this.#closed || readings.length === 0) return undefined;
    const frames = readings.length === 1 ? encodeFrame(gateway, readings[0]) : Buffer.concat(readings.map((reading) => encodeFrame(gateway, reading)));
    for (let attempt = 0; attempt < 2; attempt += 1) {
      if (this.#totalBytes() + frames.length > this.#options.maxBytes && !this.#makeRoom(frames.length)) {
        this.#failed('ENOSPC', `journal reached spool.max_bytes (${this.#options.maxBytes} bytes)`, { maxBytes: this.#options.maxBytes });
        return undefined;
      }
      try {
        const active = this.#activeFor(mode);
        this.#write(active, frames);
        const segment = active.segment;
        segment.bytes += frames.length;
        this.#bytes += frames.length;
        segment.unstored += readings.length;
        segment.oldestCaptureMs ??= readings[0].captureMs;
        if (segment.bytes >= SEGMENT_BYTES) this.#seal();
        return segment;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
        // A full disk is the one failure that freeing space can cure: apply the policy, retry once.
        if (code === 'ENOSPC' && attempt === 0 && this.#makeRoom(frames.length)) continue;
        this.#failed(code, (error as Error).message, {});
        return undefined;
      }
    }
    return undefined;
  }

  /** Writes a whole frame, looping over short writes; on failure cuts the partial frame off again. */
  #write(active: Active, frame: Buffer): void {
    const start = active.segment.bytes;
    let written = 0;
    try {
      while (written < frame.length) written += this.#writeSync(active.fd, frame, written, frame.length - written);
    } catch (error) {
      // Whatever part of the frame reached the file (a failing call may have written some too)
      // is cut off again, so the next frame starts clean.
      try {
        fs.ftruncateSync(active.fd, start);
      } catch {
        // The torn frame stays; readers skip it by its CRC, and nothing more is appended behind it.
        this.#seal();
      }
      throw error;
    }
    if (!this.#unsynced.has(active.fd)) this.#unsynced.set(active.fd, { retired: false });
  }

  #failed(code: string, message: string, details: Record<string, unknown>): void {
    this.#options.onWriteError?.(code);
    const now = performance.now();
    if (now - this.#lastErrorLogAt < ERROR_LOG_EVERY_MS) {
      this.#suppressedErrors += 1;
      return;
    }
    this.#lastErrorLogAt = now;
    const policy = this.#options.whenFull;
    this.#log.error(
      { code, ...details, policy, suppressedSinceLast: this.#suppressedErrors, dir: this.dir },
      code === 'ENOSPC'
        ? `journal is full (${message}): when_full ${policy} applied; readings not journaled go to the database only while it answers`
        : `journal write failed (${message}): readings not journaled go to the database only while it answers`,
    );
    this.#suppressedErrors = 0;
  }

  /** Applies `when_full`: drop-oldest deletes the oldest replay segment; false when nothing could go. */
  #makeRoom(needed: number): boolean {
    if (this.#options.whenFull === 'drop-newest') return false;
    let freed = false;
    while (this.#totalBytes() + needed > this.#options.maxBytes || !freed) {
      const oldest = this.#segments.find((segment) => segment.mode === 'replay' && segment.sealed && !segment.replaying);
      if (!oldest) break;
      this.#options.onDropped?.(oldest.unstored);
      this.#log.error({ readings: oldest.unstored, file: oldest.file }, 'journal is full (policy drop-oldest): oldest readings dropped');
      this.#delete(oldest);
      freed = true;
    }
    return freed;
  }

  #activeFor(mode: SegmentMode): Active {
    if (this.#active && this.#active.segment.mode === mode) return this.#active;
    this.#seal();
    const seq = ++this.#lastSeq;
    const file = path.join(this.dir, `journal-${String(seq).padStart(12, '0')}.log`);
    const fd = fs.openSync(file, 'a');
    const segment: JournalSegment = { seq, file, mode, bytes: 0, unstored: 0, oldestCaptureMs: undefined, sealed: false, replaying: false };
    this.#segments.push(segment);
    // The new file's directory entry must survive a power cut too: synced with the next group.
    this.#dirDirty = true;
    this.#active = { segment, fd };
    return this.#active;
  }

  /** Ends appends to the active segment (its descriptor closes after its next sync). */
  #seal(): void {
    const active = this.#active;
    if (!active) return;
    this.#active = undefined;
    active.segment.sealed = true;
    const pending = this.#unsynced.get(active.fd);
    if (pending) pending.retired = true;
    else fs.closeSync(active.fd);
    if (active.segment.unstored === 0) this.#delete(active.segment);
  }

  #delete(segment: JournalSegment): void {
    const index = this.#segments.indexOf(segment);
    if (index >= 0) {
      this.#segments.splice(index, 1);
      this.#bytes -= segment.bytes;
    }
    fs.rmSync(segment.file, { force: true });
    segment.unstored = 0;
    this.#dirDirty = true;
  }

  /** Live readings of `segment` were stored (or dead-lettered): trims what is left with nothing unstored. */
  settle(segment: JournalSegment, readings: number): void {
    if (segment.mode !== 'live' || !this.#segments.includes(segment)) return;
    segment.unstored = Math.max(0, segment.unstored - readings);
    if (segment.unstored > 0) return;
    if (segment.sealed) this.#delete(segment);
    else if (this.#active?.segment === segment && segment.bytes >= TRIM_BYTES) {
      // Every reading of the active segment is stored: start it over rather than rotating. Not
      // after every batch: a truncate costs more than the writes it saves until a few hundred
      // KiB have gathered, and a restart replays at most that much again (harmlessly).
      try {
        fs.ftruncateSync(this.#active.fd, 0);
        this.#bytes -= segment.bytes;
        segment.bytes = 0;
        segment.oldestCaptureMs = undefined;
      } catch {
        this.#seal();
      }
    }
  }

  /** The database is unreachable: live segments become replay segments, read back from disk later. */
  abandonLive(): void {
    if (this.#active?.segment.mode === 'live') this.#seal();
    for (const segment of this.#segments) if (segment.mode === 'live') segment.mode = 'replay';
  }

  /** The oldest sealed replay segment, marked as being replayed; seals the active one if it is the last. */
  nextReplay(): JournalSegment | undefined {
    const segment = this.#segments.find((candidate) => candidate.mode === 'replay');
    if (!segment) return undefined;
    if (!segment.sealed) this.#seal();
    if (!this.#segments.includes(segment)) return this.nextReplay();
    segment.replaying = true;
    return segment;
  }

  /** The records of a replay segment, in chunks, yielding to the event loop in between. */
  async read(segment: JournalSegment, onRecords: (records: readonly JournalRecord[]) => Promise<void>): Promise<void> {
    await this.#scan(segment.file, true, (scan) => (scan.records.length > 0 ? onRecords(scan.records) : undefined));
  }

  /** A replayed segment is stored: delete it. */
  finishReplay(segment: JournalSegment): void {
    segment.replaying = false;
    this.#delete(segment);
  }

  /** Hands a segment back after a failed replay (it is retried from its start). */
  abortReplay(segment: JournalSegment): void {
    segment.replaying = false;
  }

  /** Group commit: fdatasync every descriptor written since the last sync (and the directory). */
  sync(): Promise<void> {
    this.#syncing ??= this.#sync().finally(() => {
      this.#syncing = undefined;
    });
    return this.#syncing;
  }

  async #sync(): Promise<void> {
    const batch = [...this.#unsynced.entries()];
    this.#unsynced.clear();
    const dirDirty = this.#dirDirty;
    this.#dirDirty = false;
    for (const [fd, state] of batch) {
      try {
        await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
      } catch (error) {
        this.#failed((error as NodeJS.ErrnoException).code ?? 'EIO', `fdatasync: ${(error as Error).message}`, {});
      }
      // Written again while the sync ran: it is synced with the next group instead.
      if (state.retired && !this.#unsynced.has(fd)) fs.close(fd, () => {});
      else if (state.retired) this.#unsynced.set(fd, { retired: true });
    }
    if (dirDirty) {
      try {
        const dirFd = fs.openSync(this.dir, 'r');
        try {
          await new Promise<void>((resolve, reject) => fs.fsync(dirFd, (error) => (error ? reject(error) : resolve())));
        } finally {
          fs.closeSync(dirFd);
        }
      } catch (error) {
        this.#dirDirty = true;
        this.#log.warn({ err: error }, 'journal directory sync failed; retrying with the next group');
      }
    }
  }

  /** Syncs and closes; what is still unstored is replayed by the next start. */
  async close(): Promise<void> {
    if (this.#syncTimer) clearInterval(this.#syncTimer);
    this.#seal();
    this.#closed = true;
    await this.#syncing;
    await this.sync();
  }
}

/** Every record held in a journal directory, oldest first (for tests and tooling; read-only). */
export async function readJournalDirectory(dir: string): Promise<JournalRecord[]> {
  let names: string[];
  try {
    names = (await fs.promises.readdir(dir)).filter((name) => SEGMENT_PATTERN.test(name)).sort();
  } catch {
    return [];
  }
  const records: JournalRecord[] = [];
  for (const name of names) {
    const bytes = await fs.promises.readFile(path.join(dir, name)).catch(() => Buffer.alloc(0));
    for (const record of scanFrames(bytes, true).records) records.push(record);
  }
  return records;
}
