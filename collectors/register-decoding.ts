import type { ByteOrder, RegisterSpec, RegisterType } from './gateway-types.js';

export type NullReason = 'nan' | 'sentinel' | 'out_of_range' | 'read_failed';

export type DecodedValue = { readonly value: number; readonly reason?: undefined } | { readonly value: null; readonly reason: NullReason };

/** Index of each big-endian value byte (A = most significant) in the wire bytes of two registers. */
const WIRE_INDEX: Readonly<Record<ByteOrder, readonly [number, number, number, number]>> = {
  ABCD: [0, 1, 2, 3],
  CDAB: [2, 3, 0, 1],
  BADC: [1, 0, 3, 2],
  DCBA: [3, 2, 1, 0],
};

/** The raw number in `words` (16-bit register values as read), before scale and offset. */
export function decodeRaw(words: readonly number[], type: RegisterType, byteOrder: ByteOrder = 'ABCD'): number {
  const first = words[0] ?? 0;
  if (type === 'uint16') return first & 0xffff;
  if (type === 'int16') return ((first & 0xffff) << 16) >> 16;
  const wire = Buffer.alloc(4);
  wire.writeUInt16BE((words[0] ?? 0) & 0xffff, 0);
  wire.writeUInt16BE((words[1] ?? 0) & 0xffff, 2);
  const order = WIRE_INDEX[byteOrder];
  const value = Buffer.from([wire[order[0]] ?? 0, wire[order[1]] ?? 0, wire[order[2]] ?? 0, wire[order[3]] ?? 0]);
  if (type === 'int32') return value.readInt32BE(0);
  if (type === 'uint32') return value.readUInt32BE(0);
  return value.readFloatBE(0);
}

/** Encodes a raw number into register words; the inverse of decodeRaw (used by the simulator). */
export function encodeRaw(raw: number, type: RegisterType, byteOrder: ByteOrder = 'ABCD'): number[] {
  if (type === 'uint16' || type === 'int16') return [raw & 0xffff];
  const value = Buffer.alloc(4);
  if (type === 'int32') value.writeInt32BE(raw, 0);
  else if (type === 'uint32') value.writeUInt32BE(raw, 0);
  else value.writeFloatBE(raw, 0);
  const order = WIRE_INDEX[byteOrder];
  const wire = Buffer.alloc(4);
  for (let i = 0; i < 4; i += 1) wire[order[i] ?? 0] = value[i] ?? 0;
  return [wire.readUInt16BE(0), wire.readUInt16BE(2)];
}

/** Scales a register's words into a physical value, or NULL with the reason it is not trusted. */
export function decodeRegister(words: readonly number[], spec: RegisterSpec): DecodedValue {
  if (spec.type === 'int16' || spec.type === 'uint16') {
    if (spec.sentinels.includes((words[0] ?? 0) & 0xffff)) return { value: null, reason: 'sentinel' };
  }
  const raw = decodeRaw(words, spec.type, spec.byteOrder);
  if (!Number.isFinite(raw)) return { value: null, reason: 'nan' };
  const value = raw * spec.scale + spec.offset;
  if (!Number.isFinite(value)) return { value: null, reason: 'nan' };
  if (value < spec.min || value > spec.max) return { value: null, reason: 'out_of_range' };
  // Scaling 215 by 0.1 gives 21.500000000000004; the database should hold what the sensor meant.
  return { value: Number(value.toPrecision(12)) };
}
