import { expect } from 'vitest';
import type { CollectorMetrics, RunningCollector } from '../../collectors/index.js';
import { readingOfEachLocation, withTestCollector, type TestCollectorOptions } from './collector-in-process.js';
import { waitFor } from './modbus-processes.js';
import { deviceFields, PYMODBUS_EXPECTED_ROWS, pymodbusDevicesYaml } from './pymodbus-peer.js';

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

/** The units' rows the collector stores from PYMODBUS_REGISTERS and RTU_BUS_REGISTERS (none for the dead unit). */
export const RTU_BUS_EXPECTED_ROWS = [...PYMODBUS_EXPECTED_ROWS, { loc_id: 'PY-05', temperature: 21.5, humidity: 48, pcv_temperature: 19.25 }];

const LIVE = ['py-1', 'py-2', 'py-3', 'py-gap'];

async function skippedLive(metrics: CollectorMetrics): Promise<Record<string, number>> {
  const skipped = await metrics.pollsSkipped.get();
  return Object.fromEntries(LIVE.map((device) => [device, skipped.values.find((value) => value.labels.device === device)?.value ?? 0]));
}

/**
 * The bus semantics every RTU line test checks once the collector reads every live unit: the
 * refused read was split for good; the dead unit timed out until its breaker opened and then
 * cost only the breaker's probes; and from then on no live unit's poll was ever skipped for want
 * of the line (the dead unit's rare probes queue behind the live units' reads).
 */
export async function expectDeadUnitContained(collector: RunningCollector): Promise<void> {
  const { metrics, pollers } = collector;
  expect(pollers.find((poller) => poller.device.id === 'py-gap')?.plan.map((request) => `${request.table}:${request.address}+${request.length}`)).toEqual(['input:0+1', 'input:3+1', 'holding:10+2']);
  await waitFor('the dead unit\'s breaker to open', async () => ((await pollCounts(metrics)).get('py-dead/timeout') ?? 0) >= 3);
  const skippedBefore = await skippedLive(metrics);
  const okBefore = await pollCounts(metrics);
  const counts = await waitFor('ten more ok polls of every live unit', async () => {
    const polls = await pollCounts(metrics);
    return LIVE.every((device) => (polls.get(`${device}/ok`) ?? 0) >= (okBefore.get(`${device}/ok`) ?? 0) + 10) ? polls : undefined;
  });
  // Threshold 3, then probes after 1 s and 2 s: at most two more in the ~4 s of ten rounds.
  const deadTimeouts = counts.get('py-dead/timeout') ?? 0;
  expect(deadTimeouts).toBeGreaterThanOrEqual(3);
  expect(deadTimeouts).toBeLessThanOrEqual(6);
  expect(counts.get('py-dead/ok')).toBeUndefined();
  expect(await skippedLive(metrics)).toEqual(skippedBefore);
}

/**
 * The whole check of an RTU line to pymodbus's bus (PYMODBUS_REGISTERS and RTU_BUS_REGISTERS),
 * whatever carries it (`line`: the transport's fields): the collector reads every live unit, then
 * expectDeadUnitContained. Polled every 400 ms with a 250 ms timeout, so the dead unit's breaker
 * opens within a few rounds.
 */
export async function expectRtuBusRead(gateway: string, line: string, options: Omit<TestCollectorOptions, 'text'>): Promise<void> {
  const text = `
gateway: ${gateway}
poll_interval: 400ms
timeout: 250ms
write: { max_delay: 100ms }
devices:${pymodbusDevicesYaml(line)}${rtuBusDevicesYaml(line)}`;
  await withTestCollector({ ...options, text }, async (running) => {
    expect(await readingOfEachLocation(options.database, 4)).toEqual(RTU_BUS_EXPECTED_ROWS);
    await expectDeadUnitContained(running);
  });
}
