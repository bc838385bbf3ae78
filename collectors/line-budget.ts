import type { DeviceSpec, GatewayConfig, LineSpec, RtuLineSpec, SerialFormat } from './gateway-types.js';
import { planRequests } from './request-plan.js';

/**
 * What a line can carry. An RTU character is a start bit, the data bits, a parity bit unless
 * parity is none, and the stop bits. Frames are separated by 3.5 characters of silence (fixed at
 * 1.75 ms above 19,200 baud, as the Modbus serial line spec says). A read of n registers (FC3/4)
 * is an 8-byte request and a 5 + 2n byte response, each followed by a silence, plus the line's
 * turnaround delay.
 */
export function characterMs(serial: SerialFormat): number {
  const bits = 1 + serial.dataBits + (serial.parity === 'none' ? 0 : 1) + serial.stopBits;
  return (bits * 1000) / serial.baudRate;
}

export function silenceMs(serial: SerialFormat): number {
  return serial.baudRate > 19_200 ? 1.75 : 3.5 * characterMs(serial);
}

/** The pause between an answer (or a timeout) and the next request on an RTU line. */
export function lineGapMs(line: RtuLineSpec): number {
  return silenceMs(line.serial) + line.turnaroundMs;
}

const REQUEST_BYTES = 8;
const RESPONSE_OVERHEAD_BYTES = 5;

/** Line time of one register read of `registers` registers, silences and turnaround included. */
export function readCostMs(line: RtuLineSpec, registers: number): number {
  const bytes = REQUEST_BYTES + RESPONSE_OVERHEAD_BYTES + 2 * registers;
  return bytes * characterMs(line.serial) + 2 * silenceMs(line.serial) + line.turnaroundMs;
}

export interface LineBudget {
  readonly line: LineSpec;
  readonly devices: readonly DeviceSpec[];
  /** Requests of one poll of every device on the line. */
  readonly requestsPerRound: number;
  /** RTU only: line time one poll of every device takes, and its share of the time. */
  readonly roundMs?: number;
  readonly utilization?: number;
  /** RTU only: the shortest common poll interval the devices on the line fit in. */
  readonly fastestIntervalMs?: number;
}

/** One entry per line, in config order, with the RTU lines' budgets. */
export function lineBudgets(gateway: Pick<GatewayConfig, 'devices' | 'maxGap'>): LineBudget[] {
  const byLine = new Map<string, DeviceSpec[]>();
  for (const device of gateway.devices) byLine.set(device.line.key, [...(byLine.get(device.line.key) ?? []), device]);
  return [...byLine.values()].map((devices) => {
    const line = devices[0].line;
    const plans = devices.map((device) => ({ device, plan: planRequests(device.registers, gateway.maxGap) }));
    const requestsPerRound = plans.reduce((sum, { plan }) => sum + plan.length, 0);
    if (line.transport === 'tcp') return { line, devices, requestsPerRound };
    const costs = plans.map(({ device, plan }) => ({ device, ms: plan.reduce((sum, request) => sum + readCostMs(line, request.length), 0) }));
    const roundMs = costs.reduce((sum, { ms }) => sum + ms, 0);
    const utilization = costs.reduce((sum, { device, ms }) => sum + ms / device.pollIntervalMs, 0);
    return { line, devices, requestsPerRound, roundMs, utilization, fastestIntervalMs: Math.ceil(roundMs) };
  });
}

function describeSerial(serial: SerialFormat): string {
  return `${serial.baudRate} ${serial.dataBits}${serial.parity[0].toUpperCase()}${serial.stopBits}`;
}

function units(devices: readonly DeviceSpec[]): string {
  return devices.map((device) => device.unitId).join(',');
}

/** Lines above this share are reported as oversubscribed: no room left for a retry or a timeout. */
export const OVERSUBSCRIBED = 1;

/** `collector --check`'s report of the lines: which endpoints share one, and each RTU line's budget. */
export function describeLines(budgets: readonly LineBudget[]): { lines: string[]; warnings: string[] } {
  const lines: string[] = [];
  const warnings: string[] = [];
  for (const budget of budgets) {
    const { line, devices } = budget;
    const head = `line ${line.key} (${line.transport}${line.transport === 'tcp' ? '' : `, ${describeSerial(line.serial)}${line.turnaroundMs ? `, turnaround ${line.turnaroundMs} ms` : ''}`}): ${devices.length} device(s) [${devices.map((device) => device.id).join(', ')}], unit ids ${units(devices)}, ${budget.requestsPerRound} request(s) per poll round`;
    if (budget.utilization === undefined || budget.roundMs === undefined) {
      lines.push(head);
      continue;
    }
    const percent = Math.round(budget.utilization * 1000) / 10;
    lines.push(`${head}; a round takes ${budget.roundMs.toFixed(1)} ms of line time, ${percent}% of the line at the configured intervals (fastest common interval ${budget.fastestIntervalMs} ms)`);
    if (budget.utilization > OVERSUBSCRIBED) {
      warnings.push(
        `WARNING: line ${line.key} is oversubscribed: its devices need ${percent}% of the line. Polls will be skipped (plant_collector_line_overruns_total). ` +
          `Poll them every ${budget.fastestIntervalMs} ms or slower, split them over more lines, or raise the baud rate.`,
      );
    }
  }
  return { lines, warnings };
}
