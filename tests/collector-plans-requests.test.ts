import { describe, expect, it } from 'vitest';
import { planRequests, splitRequest, MAX_REGISTERS_PER_REQUEST, type RegisterSpec } from '../collectors/index.js';

let metricIndex = 0;
const register = (table: 'input' | 'holding', address: number, type: RegisterSpec['type'] = 'int16'): RegisterSpec => ({
  metric: (['temperature', 'humidity', 'pcv_temperature'] as const)[metricIndex++ % 3],
  table,
  address,
  type,
  byteOrder: 'ABCD',
  scale: 1,
  offset: 0,
  min: -1e9,
  max: 1e9,
  sentinels: [],
});

const shape = (plan: ReturnType<typeof planRequests>) => plan.map((request) => `${request.table}:${request.address}+${request.length}`);

describe('request planning', () => {
  it('reads a typical transmitter in one request, the gap included', () => {
    expect(shape(planRequests([register('input', 0), register('input', 1, 'uint16'), register('input', 4, 'float32')], 16))).toEqual(['input:0+6']);
  });

  it('keeps input and holding registers in separate requests', () => {
    expect(shape(planRequests([register('input', 0), register('holding', 10, 'float32'), register('input', 1)], 16))).toEqual(['input:0+2', 'holding:10+2']);
  });

  it('does not coalesce across a gap wider than max_gap', () => {
    expect(shape(planRequests([register('input', 0), register('input', 30)], 16))).toEqual(['input:0+1', 'input:30+1']);
    expect(shape(planRequests([register('input', 0), register('input', 30)], 29))).toEqual(['input:0+31']);
  });

  it('never asks for more than 125 registers in one request', () => {
    const registers = [register('input', 0), register('input', 100), register('input', 124, 'float32'), register('input', 200)];
    const plan = planRequests(registers, 100);
    expect(shape(plan)).toEqual(['input:0+101', 'input:124+77']);
    for (const request of plan) expect(request.length).toBeLessThanOrEqual(MAX_REGISTERS_PER_REQUEST);
  });

  it('splits a refused request at its widest gap until single registers remain', () => {
    const [request] = planRequests([register('input', 0), register('input', 1), register('input', 8, 'float32')], 16);
    const halves = splitRequest(request);
    expect(halves && shape(halves)).toEqual(['input:0+2', 'input:8+2']);
    const quarters = splitRequest(halves![0]);
    expect(quarters && shape(quarters)).toEqual(['input:0+1', 'input:1+1']);
    expect(splitRequest(quarters![0])).toBeUndefined();
  });
});
