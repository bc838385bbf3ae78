import { registerWords, type RegisterSpec, type RegisterTable } from './gateway-types.js';

/** Modbus caps a register read at 125 registers (250 bytes of data). */
export const MAX_REGISTERS_PER_REQUEST = 125;

export interface PlannedRequest {
  readonly table: RegisterTable;
  readonly address: number;
  readonly length: number;
  readonly registers: readonly RegisterSpec[];
}

function request(registers: readonly RegisterSpec[]): PlannedRequest {
  const first = registers[0];
  const last = registers[registers.length - 1];
  return { table: first.table, address: first.address, length: last.address + registerWords(last.type) - first.address, registers };
}

/**
 * The fewest reads that cover a register map: registers of one table at most `maxGap`
 * unused registers apart share a request, up to 125 registers per request.
 */
export function planRequests(registers: readonly RegisterSpec[], maxGap: number): PlannedRequest[] {
  const plan: PlannedRequest[] = [];
  for (const table of ['input', 'holding'] as const) {
    const sorted = registers.filter((register) => register.table === table).sort((a, b) => a.address - b.address);
    let group: RegisterSpec[] = [];
    for (const register of sorted) {
      const first = group[0];
      const last = group[group.length - 1];
      if (first && last) {
        const gap = register.address - (last.address + registerWords(last.type));
        const length = register.address + registerWords(register.type) - first.address;
        if (gap > maxGap || length > MAX_REGISTERS_PER_REQUEST) {
          plan.push(request(group));
          group = [];
        }
      }
      group.push(register);
    }
    if (group.length > 0) plan.push(request(group));
  }
  return plan;
}

/**
 * Splits a request a device refused with exception 2 (illegal data address), at its widest gap
 * between registers, since the unimplemented addresses are usually in a gap. `undefined` when it
 * holds a single register and cannot be split.
 */
export function splitRequest(refused: PlannedRequest): [PlannedRequest, PlannedRequest] | undefined {
  if (refused.registers.length < 2) return undefined;
  let cut = 1;
  let widest = -1;
  for (let i = 1; i < refused.registers.length; i += 1) {
    const previous = refused.registers[i - 1];
    const current = refused.registers[i];
    const gap = current.address - (previous.address + registerWords(previous.type));
    if (gap > widest) {
      widest = gap;
      cut = i;
    }
  }
  return [request(refused.registers.slice(0, cut)), request(refused.registers.slice(cut))];
}

/** The words of one register within a request's response. */
export function wordsOf(response: readonly number[], planned: PlannedRequest, register: RegisterSpec): number[] {
  const start = register.address - planned.address;
  return response.slice(start, start + registerWords(register.type));
}
