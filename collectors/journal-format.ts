import { crc32 } from 'node:zlib';
import { valuesFromOrder, valuesInOrder, type Reading } from './reading.js';

/**
 * The journal's on-disk frame: magic, payload length, CRC-32 of the payload (u32 big-endian
 * each), then the payload, one reading: version (u8), gateway and loc_id (u16 length + UTF-8
 * each), capture_ms (f64), the number of values (u8) and the values in METRICS order (f64 each,
 * NaN for NULL). Binary because a frame is built for every reading on the hot path
 * (bench/collector-write-path.ts) and decoded for every reading of a replay. The magic lets a
 * reader that meets a torn or corrupt frame skip to the next intact one instead of giving up on
 * the rest of the file.
 */
export const FRAME_MAGIC = 0x504c4a31; // "PLJ1"
export const FRAME_HEADER_BYTES = 12;
/** No reading comes close; a larger length is corruption, not a record. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
const MAGIC_BYTES = Buffer.from([0x50, 0x4c, 0x4a, 0x31]);
const PAYLOAD_VERSION = 1;

export interface JournalRecord {
  readonly gateway: string;
  readonly reading: Reading;
}

/** version, gateway and loc_id per gateway and location: the part of a payload that never changes. */
const prefixes = new Map<string, Map<string, Buffer>>();
const MAX_CACHED_LOCATIONS = 100_000;

function payloadPrefix(gateway: string, locId: string): Buffer {
  let byLocation = prefixes.get(gateway);
  if (!byLocation) {
    byLocation = new Map<string, Buffer>();
    prefixes.set(gateway, byLocation);
  }
  let prefix = byLocation.get(locId);
  if (prefix === undefined) {
    const gatewayBytes = Buffer.from(gateway, 'utf8');
    const locBytes = Buffer.from(locId, 'utf8');
    prefix = Buffer.alloc(1 + 2 + gatewayBytes.length + 2 + locBytes.length);
    prefix.writeUInt8(PAYLOAD_VERSION, 0);
    prefix.writeUInt16BE(gatewayBytes.length, 1);
    gatewayBytes.copy(prefix, 3);
    prefix.writeUInt16BE(locBytes.length, 3 + gatewayBytes.length);
    locBytes.copy(prefix, 5 + gatewayBytes.length);
    if (byLocation.size < MAX_CACHED_LOCATIONS) byLocation.set(locId, prefix);
  }
  return prefix;
}

export function encodeFrame(gateway: string, reading: Reading): Buffer {
  const prefix = payloadPrefix(gateway, reading.locId);
  const values = valuesInOrder(reading.values);
  const length = prefix.length + 8 + 1 + 8 * values.length;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  prefix.copy(frame, FRAME_HEADER_BYTES);
  let offset = FRAME_HEADER_BYTES + prefix.length;
  offset = frame.writeDoubleBE(reading.captureMs, offset);
  offset = frame.writeUInt8(values.length, offset);
  for (const value of values) offset = frame.writeDoubleBE(value ?? Number.NaN, offset);
  frame.writeUInt32BE(FRAME_MAGIC, 0);
  frame.writeUInt32BE(length, 4);
  frame.writeUInt32BE(crc32(frame.subarray(FRAME_HEADER_BYTES)), 8);
  return frame;
}

function decodePayload(body: Buffer): JournalRecord | undefined {
  try {
    if (body.readUInt8(0) !== PAYLOAD_VERSION) return undefined;
    const gatewayLength = body.readUInt16BE(1);
    const gateway = body.toString('utf8', 3, 3 + gatewayLength);
    let offset = 3 + gatewayLength;
    const locLength = body.readUInt16BE(offset);
    const locId = body.toString('utf8', offset + 2, offset + 2 + locLength);
    offset += 2 + locLength;
    const captureMs = body.readDoubleBE(offset);
    const count = body.readUInt8(offset + 8);
    offset += 9;
    if (offset + 8 * count !== body.length || !Number.isFinite(captureMs)) return undefined;
    const values: (number | null)[] = [];
    for (let index = 0; index < count; index += 1) {
      const value = body.readDoubleBE(offset + 8 * index);
      values.push(Number.isNaN(value) ? null : value);
    }
    return { gateway, reading: { locId, captureMs, values: valuesFromOrder(values) } };
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
