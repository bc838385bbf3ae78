import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { waitFor } from './modbus-processes.js';

/**
 * Registers served by pymodbus, spread over three unit ids: the layouts every pymodbus test
 * polls, whatever the transport (tests/support/modbus-pymodbus-server.py encodes them).
 */
export const PYMODBUS_REGISTERS = [
  { unit: 1, table: 'input', address: 0, type: 'int16', value: -123 },
  { unit: 1, table: 'input', address: 1, type: 'uint16', value: 654 },
  { unit: 1, table: 'holding', address: 10, type: 'float32', order: 'CDAB', value: 31.125 },
  { unit: 2, table: 'holding', address: 0, type: 'float32', order: 'ABCD', value: -12.5 },
  { unit: 2, table: 'input', address: 7, type: 'uint16', value: 4321 },
  { unit: 2, table: 'holding', address: 20, type: 'float32', order: 'CDAB', value: 88.0625 },
  { unit: 3, table: 'input', address: 3, type: 'int16', value: 250 },
  { unit: 3, table: 'input', address: 4, type: 'uint16', value: 999 },
  { unit: 3, table: 'holding', address: 2, type: 'float32', order: 'ABCD', value: 45.75 },
] as const;

/** A device's line fields (`transport: …\nhost: …`), indented as keys of a device list entry. */
export function deviceFields(line: string): string {
  return line
    .trim()
    .split('\n')
    .map((field) => `    ${field.trim()}`)
    .join('\n');
}

/** The devices that poll PYMODBUS_REGISTERS, each with `line` (the transport's YAML fields) merged in. */
export function pymodbusDevicesYaml(line: string): string {
  const indented = deviceFields(line);
  return `
  - id: py-1
    loc_id: PY-01
${indented}
    unit_id: 1
    registers:
      temperature: { table: input, address: 0, type: int16, scale: 0.1 }
      humidity: { table: input, address: 1, type: uint16, scale: 0.1 }
      pcv_temperature: { table: holding, address: 10, type: float32, byte_order: CDAB }
  - id: py-2
    loc_id: PY-02
${indented}
    unit_id: 2
    registers:
      temperature: { table: holding, address: 0, type: float32, byte_order: ABCD }
      humidity: { table: input, address: 7, type: uint16, scale: 0.01 }
      pcv_temperature: { table: holding, address: 20, type: float32, byte_order: CDAB }
  - id: py-3
    loc_id: PY-03
${indented}
    unit_id: 3
    registers:
      temperature: { table: input, address: 3, type: int16, scale: 0.1 }
      humidity: { table: input, address: 4, type: uint16, scale: 0.1, offset: -50 }
      pcv_temperature: { table: holding, address: 2, type: float32 }
`;
}

/** What the collector stores from PYMODBUS_REGISTERS, one row per location. */
export const PYMODBUS_EXPECTED_ROWS = [
  { loc_id: 'PY-01', temperature: -12.3, humidity: 65.4, pcv_temperature: 31.125 },
  { loc_id: 'PY-02', temperature: -12.5, humidity: 43.21, pcv_temperature: 88.0625 },
  { loc_id: 'PY-03', temperature: 25, humidity: 49.9, pcv_temperature: 45.75 },
];

export interface PymodbusServer {
  /** What the server printed once serving: its TCP port, or its serial device. */
  readonly ready: { port?: number; device?: string };
  stop(): Promise<void>;
}

export interface PymodbusOptions {
  readonly transport?: 'tcp' | 'rtu-over-tcp' | 'rtu';
  readonly device?: string;
  readonly baudrate?: number;
  /** Units that implement only their listed registers: a read across a gap gets exception 2. */
  readonly sparse?: readonly number[];
}

/** Starts tests/support/modbus-pymodbus-server.py and waits until it serves. */
export async function startPymodbus(registers: readonly object[], options: PymodbusOptions = {}): Promise<PymodbusServer> {
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn('/usr/bin/python3', ['tests/support/modbus-pymodbus-server.py', JSON.stringify(registers), JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    child.stdin.end();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  try {
    const ready = await waitFor('pymodbus to serve', () => {
      if (child.exitCode !== null) throw new Error(`pymodbus server exited: ${errors}`);
      const line = output.split('\n').find((candidate) => candidate.startsWith('{'));
      return line ? (JSON.parse(line) as { port?: number; device?: string }) : undefined;
    });
    return { ready, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
