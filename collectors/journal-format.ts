import { crc32 } from 'node:zlib';
import { valuesFromOrder, valuesInOrder, type Reading } from './reading.js';

/**
 * The journal's on-disk frame: magic, payload length, CRC-32 of the payload (u32 big-endian
 * each), then the payload, one reading as a JSON array `[gateway, loc_id, capture_ms, ...values
 * in METRICS order]`. The magic lets a reader that meets a torn or corrupt frame skip to the next
 * intact one instead of giving up on the rest of the file.
 */
export const FRAME_MAGIC = 0x504c4a31; // "PLJ1"
export const FRAME_HEADER_BYTES = 12;
/** No reading comes close; a larger length is corruption, not a record. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
const MAGIC_BYTES = Buffer.from([0x50, 0x4c, 0x4a, 0x31]);

export interface JournalRecord {
  readonly gateway: string;
  readonly reading: Reading;
}

export function encodeFrame(gateway: string, reading: Reading): Buffer {
  const body = Buffer.from(JSON.stringify([gateway, reading.locId, reading.captureMs, ...valuesInOrder(reading.values)]));
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(FRAME_MAGIC, 0);
  frame.writeUInt32BE(body.length, 4);
  frame.writeUInt32BE(crc32(body), 8);
  body.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

function decodePayload(body: Buffer): JournalRecord | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (!Array.isArray(parsed) || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string' || typeof parsed[2] !== 'number') return undefined;
    const values = (parsed.slice(3) as unknown[]).map((value) => (typeof value === 'number' ? value : null));
    return { gateway: parsed[0], reading: { locId: parsed[1], captureMs: parsed[2], values: valuesFromOrder(values) } };
  } catch {
    return undefined;
  }
}

export interface FrameScan {
  readonly records: JournalRecord[];
  /** Where scanning stopped: the start of an incomplete frame the next bytes may complete. */
  readonly consumed: number;
  readonly skippedBytes: number;
  /** Corrupt stretches skipped (each one a torn or damaged record, or several in a row). */
  readonly skippedRecords: number;
}

/**
 * Decodes the frames in `bytes`. A frame whose header or CRC is wrong is skipped by searching for
 * the next magic whose frame checks out, so one bad record costs only itself. With `atEnd` false
 * a frame cut off by the end of the buffer is left for the next call (`consumed` stops before
 * it); with `atEnd` true it is a torn tail and counted as skipped. `decode` false checks frames
 * without parsing their payload (counting is all an index needs).
 */
export function scanFrames(bytes: Buffer, atEnd: boolean, decode = true): FrameScan & { readonly count: number; readonly firstCaptureMs: number | undefined } {
  const records: JournalRecord[] = [];
  let offset = 0;
  let skippedBytes = 0;
  let skippedRecords = 0;
  let inBadStretch = false;
  let count = 0;
  let firstCaptureMs: number | undefined;
  const skipTo = (next: number) => {
    skippedBytes += next - offset;
    if (!inBadStretch) skippedRecords += 1;
    inBadStretch = true;
    offset = next;
  };
  while (offset < bytes.length) {
    if (bytes.length - offset < FRAME_HEADER_BYTES) {
      if (!atEnd) break;
      skipTo(bytes.length);
      break;
    }
    const length = bytes.readUInt32BE(offset + 4);
    const valid = bytes.readUInt32BE(offset) === FRAME_MAGIC && length <= MAX_PAYLOAD_BYTES;
    if (valid && offset + FRAME_HEADER_BYTES + length > bytes.length && !atEnd) break;
    const body = valid ? bytes.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length) : undefined;
    const record = body && body.length === length && crc32(body) === bytes.readUInt32BE(offset + 8) ? (decode || count === 0 ? decodePayload(body) : null) : undefined;
    if (record === undefined) {
      const next = bytes.indexOf(MAGIC_BYTES, offset + 1);
      skipTo(next === -1 ? (atEnd ? bytes.length : Math.max(offset + 1, bytes.length - MAGIC_BYTES.length + 1)) : next);
      if (next === -1 && !atEnd) break;
      continue;
    }
    inBadStretch = false;
    count += 1;
    if (record) {
      firstCaptureMs ??= record.reading.captureMs;
      if (decode) records.push(record);
    }
    offset += FRAME_HEADER_BYTES + length;
  }
  return { records, consumed: offset, skippedBytes, skippedRecords, count, firstCaptureMs };
}

/** Readings of the first journal format (`segment-*.spool`: u32 length, u32 CRC, JSON batch). */
export function decodeLegacySegment(bytes: Buffer): JournalRecord[] {
  const records: JournalRecord[] = [];
  let offset = 0;
  while (bytes.length - offset >= 8) {
    const length = bytes.readUInt32BE(offset);
    const end = offset + 8 + length;
    if (end > bytes.length) break;
    const body = bytes.subarray(offset + 8, end);
    if (crc32(body) !== bytes.readUInt32BE(offset + 4)) break;
    const payload = JSON.parse(body.toString('utf8')) as { g: string; r: [string, number, number | null, number | null, number | null][] };
    for (const [locId, captureMs, ...values] of payload.r) records.push({ gateway: payload.g, reading: { locId, captureMs, values: valuesFromOrder(values) } });
    offset = end;
  }
  return records;
}
