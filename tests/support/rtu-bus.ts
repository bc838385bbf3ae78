import type { CollectorMetrics } from '../../collectors/index.js';
import { deviceFields } from './pymodbus-peer.js';

/**
 * Two more units for RTU line tests, next to PYMODBUS_REGISTERS: unit 5 implements input 0 and 3
 * but not 1-2 (served sparse), so the collector's coalesced read of input 0-3 gets exception 2;
 * unit 9 is configured but nobody answers it (a dead transmitter on the bus).
 */
export const RTU_BUS_REGISTERS = [
  { unit: 5, table: 'input', address: 0, type: 'int16', value: 215 },
  { unit: 5, table: 'input', address: 3, type: 'uint16', value: 480 },
  { unit: 5, table: 'holding', address: 10, type: 'float32', order: 'ABCD', value: 19.25 },
] as const;
export const RTU_BUS_SPARSE_UNITS = [5];

export function rtuBusDevicesYaml(line: string): string {
  const indented = deviceFields(line);
  return `
  - id: py-gap
    loc_id: PY-05
${indented}
    unit_id: 5
    registers:
      temperature: { table: input, address: 0, type: int16, scale: 0.1 }
      humidity: { table: input, address: 3, type: uint16, scale: 0.1 }
      pcv_temperature: { table: holding, address: 10, type: float32 }
  - id: py-dead
    loc_id: PY-09
${indented}
    unit_id: 9
    registers:
      temperature: { table: input, address: 0, type: int16, scale: 0.1 }
`;
}

/** plant_collector_polls_total as `device/result` → count. */
export async function pollCounts(metrics: CollectorMetrics): Promise<Map<string, number>> {
  const polls = await metrics.polls.get();
  return new Map(polls.values.map((value) => [`${String(value.labels.device)}/${String(value.labels.result)}`, value.value]));
}
