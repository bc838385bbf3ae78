import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeRaw, decodeRegister, encodeRaw, type RegisterSpec } from '../collectors/index.js';

const spec = (overrides: Partial<RegisterSpec>): RegisterSpec => ({
  metric: 'temperature',
  table: 'input',
  address: 0,
  type: 'int16',
  byteOrder: 'ABCD',
  scale: 1,
  offset: 0,
  min: -50,
  max: 150,
  sentinels: [],
  ...overrides,
});

describe('register decoding', () => {
  it('reads 16-bit registers signed and unsigned', () => {
    expect(decodeRaw([0xff38], 'int16')).toBe(-200);
    expect(decodeRaw([0xff38], 'uint16')).toBe(65336);
    expect(decodeRaw([0x7fff], 'int16')).toBe(32767);
    expect(decodeRaw([0x8000], 'int16')).toBe(-32768);
    expect(decodeRaw([0x0000], 'uint16')).toBe(0);
  });

  // 0x12345678, -2 (0xFFFFFFFE) and 123.456f (0x42F6E979) in each wire order.
  const vectors = [
    { order: 'ABCD', int: [0x1234, 0x5678], neg: [0xffff, 0xfffe], float: [0x42f6, 0xe979] },
    { order: 'CDAB', int: [0x5678, 0x1234], neg: [0xfffe, 0xffff], float: [0xe979, 0x42f6] },
    { order: 'BADC', int: [0x3412, 0x7856], neg: [0xffff, 0xfeff], float: [0xf642, 0x79e9] },
    { order: 'DCBA', int: [0x7856, 0x3412], neg: [0xfeff, 0xffff], float: [0x79e9, 0xf642] },
  ] as const;

  for (const vector of vectors) {
    it(`reads 32-bit registers in byte order ${vector.order}`, () => {
      expect(decodeRaw(vector.int, 'int32', vector.order)).toBe(0x12345678);
      expect(decodeRaw(vector.int, 'uint32', vector.order)).toBe(0x12345678);
      expect(decodeRaw(vector.neg, 'int32', vector.order)).toBe(-2);
      expect(decodeRaw(vector.neg, 'uint32', vector.order)).toBe(0xfffffffe);
      expect(decodeRaw(vector.float, 'float32', vector.order)).toBe(Math.fround(123.456));
      expect(encodeRaw(0x12345678, 'int32', vector.order)).toEqual(vector.int);
      expect(encodeRaw(123.456, 'float32', vector.order)).toEqual(vector.float);
    });
  }

  it('round-trips every type and byte order', () => {
    const order = fc.constantFrom('ABCD' as const, 'CDAB' as const, 'BADC' as const, 'DCBA' as const);
    fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), order, (value, byteOrder) => decodeRaw(encodeRaw(value, 'int32', byteOrder), 'int32', byteOrder) === value));
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), order, (value, byteOrder) => decodeRaw(encodeRaw(value, 'uint32', byteOrder), 'uint32', byteOrder) === value));
    fc.assert(
      fc.property(fc.float({ noNaN: true }), order, (value, byteOrder) => Object.is(decodeRaw(encodeRaw(value, 'float32', byteOrder), 'float32', byteOrder), Math.fround(value))),
    );
  });

  it('applies scale and offset without float noise', () => {
    expect(decodeRegister([215], spec({ scale: 0.1 }))).toEqual({ value: 21.5 });
    expect(decodeRegister([0xffff], spec({ scale: 0.1 }))).toEqual({ value: -0.1 });
    expect(decodeRegister([650], spec({ type: 'uint16', scale: 0.1, offset: -40 }))).toEqual({ value: 25 });
    expect(decodeRegister([0x4000, 0x41ac], spec({ type: 'float32', byteOrder: 'CDAB' }))).toEqual({ value: 21.53125 });
  });

  it('turns NaN, infinities, sentinels and out-of-range values into NULL with a reason', () => {
    expect(decodeRegister([0x7fc0, 0x0000], spec({ type: 'float32' }))).toEqual({ value: null, reason: 'nan' });
    expect(decodeRegister([0x7f80, 0x0000], spec({ type: 'float32' }))).toEqual({ value: null, reason: 'nan' });
    expect(decodeRegister([0xff80, 0x0000], spec({ type: 'float32' }))).toEqual({ value: null, reason: 'nan' });
    expect(decodeRegister([0x8000], spec({ sentinels: [0x7fff, 0x8000] }))).toEqual({ value: null, reason: 'sentinel' });
    expect(decodeRegister([0xffff], spec({ type: 'uint16', metric: 'humidity', min: 0, max: 100, sentinels: [0x7fff, 0x8000, 0xffff] }))).toEqual({
      value: null,
      reason: 'sentinel',
    });
    expect(decodeRegister([1600], spec({ scale: 0.1 }))).toEqual({ value: null, reason: 'out_of_range' });
    expect(decodeRegister([1001], spec({ type: 'uint16', metric: 'humidity', scale: 0.1, min: 0, max: 100 }))).toEqual({ value: null, reason: 'out_of_range' });
    expect(decodeRegister([1600], spec({ scale: 0.1, max: 200 }))).toEqual({ value: 160 });
  });
});
