/**
 * The collector's core types: what a validated gateway config holds (gateway-config.ts parses
 * YAML into these) and the register facts decoding and planning share. The list of metrics is
 * the database's (db/schema.ts): a register, a reading and a column are the same three things.
 */
import type { Metric } from '../db/index.js';

export type { Metric };
export const REGISTER_TYPES = ['int16', 'uint16', 'int32', 'uint32', 'float32'] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];
export const BYTE_ORDERS = ['ABCD', 'CDAB', 'BADC', 'DCBA'] as const;
export type ByteOrder = (typeof BYTE_ORDERS)[number];
export type RegisterTable = 'input' | 'holding';
export const SPOOL_POLICIES = ['drop-oldest', 'drop-newest'] as const;
export type SpoolPolicy = (typeof SPOOL_POLICIES)[number];

/** Physical ranges outside which a transmitter is faulty rather than the room extreme. */
export const DEFAULT_RANGES: Readonly<Record<Metric, { min: number; max: number }>> = {
  temperature: { min: -50, max: 150 },
  humidity: { min: 0, max: 100 },
  pcv_temperature: { min: -50, max: 150 },
};

/**
 * Raw words transmitters send when the sensing element fails. 0xFFFF is left out for int16
 * because it is −1 there, a real reading (−0.1 °C at scale 0.1); a register may list its own.
 */
export function defaultSentinels(type: RegisterType): readonly number[] {
  if (type === 'int16') return [0x7fff, 0x8000];
  if (type === 'uint16') return [0x7fff, 0x8000, 0xffff];
  return [];
}

export interface RegisterSpec {
  readonly metric: Metric;
  readonly table: RegisterTable;
  readonly address: number;
  readonly type: RegisterType;
  readonly byteOrder: ByteOrder;
  readonly scale: number;
  readonly offset: number;
  readonly min: number;
  readonly max: number;
  readonly sentinels: readonly number[];
}

/**
 * How an endpoint's frames travel. `tcp`: Modbus TCP (MBAP header, no CRC). `rtu-over-tcp`: raw
 * RTU frames (unit, PDU, CRC) over a TCP connection, what a serial device server in "TCP server"
 * mode passes through to its RS-485 port. `rtu`: the gateway's own serial port.
 */
export const TRANSPORTS = ['tcp', 'rtu-over-tcp', 'rtu'] as const;
export type Transport = (typeof TRANSPORTS)[number];
export const PARITIES = ['none', 'even', 'odd'] as const;
export type Parity = (typeof PARITIES)[number];

/** The character format of an RS-485 line (for rtu-over-tcp: the device server's serial side). */
export interface SerialFormat {
  readonly baudRate: number;
  readonly parity: Parity;
  readonly dataBits: 7 | 8;
  readonly stopBits: 1 | 2;
}

/**
 * One line: what carries one request at a time for every unit id on it. For Modbus TCP the
 * endpoint host:port (one connection, requests in turn); for RTU the RS-485 bus behind a device
 * server's TCP port, or behind a serial device path. `key` names the line in logs and metrics.
 */
export type LineSpec =
  | { readonly transport: 'tcp'; readonly key: string; readonly host: string; readonly port: number }
  | { readonly transport: 'rtu-over-tcp'; readonly key: string; readonly host: string; readonly port: number; readonly serial: SerialFormat; readonly turnaroundMs: number }
  | { readonly transport: 'rtu'; readonly key: string; readonly device: string; readonly serial: SerialFormat; readonly turnaroundMs: number };

export type RtuLineSpec = Exclude<LineSpec, { transport: 'tcp' }>;

export interface DeviceSpec {
  readonly id: string;
  readonly locId: string;
  /** The line the device hangs off. */
  readonly line: LineSpec;
  /** For the device table: the TCP host, or the serial device path for `rtu`. */
  readonly host: string;
  /** For the device table: the TCP port, 0 for `rtu`. */
  readonly port: number;
  readonly unitId: number;
  readonly pollIntervalMs: number;
  readonly timeoutMs: number;
  readonly registers: readonly RegisterSpec[];
}

export interface GatewayConfig {
  readonly file: string;
  readonly gateway: string;
  readonly devices: readonly DeviceSpec[];
  readonly write: { readonly batchSize: number; readonly maxDelayMs: number; readonly timeoutMs: number };
  /** The on-disk journal every reading goes to on receipt (and stays in until it is stored). */
  readonly spool: { readonly maxBytes: number; readonly whenFull: SpoolPolicy; readonly syncIntervalMs: number };
  /** Registers further apart than this are read in separate requests. */
  readonly maxGap: number;
}

export function registerWords(type: RegisterType): number {
  return type === 'int16' || type === 'uint16' ? 1 : 2;
}
