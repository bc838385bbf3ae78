import fs from 'node:fs/promises';
import path from 'node:path';
import Type from 'typebox';
import Value from 'typebox/value';
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Document, type Node } from 'yaml';
import { errors } from '../runtime/errors.js';
import { parseDuration } from '../runtime/duration.js';
import { METRICS } from '../db/index.js';
import {
  BYTE_ORDERS,
  DEFAULT_RANGES,
  PARITIES,
  TRANSPORTS,
  REGISTER_TYPES,
  SPOOL_POLICIES,
  defaultSentinels,
  registerWords,
  type DeviceSpec,
  type GatewayConfig,
  type LineSpec,
  type Parity,
  type RegisterSpec,
  type Transport,
} from './gateway-types.js';

export { REGISTER_TYPES, BYTE_ORDERS, SPOOL_POLICIES, DEFAULT_RANGES, TRANSPORTS, PARITIES, defaultSentinels, registerWords } from './gateway-types.js';
export type { Metric, RegisterType, ByteOrder, RegisterTable, SpoolPolicy, RegisterSpec, DeviceSpec, GatewayConfig, LineSpec, RtuLineSpec, SerialFormat, Transport, Parity } from './gateway-types.js';

/** The longest delay setTimeout takes as given. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** 1 TiB: far beyond a gateway's disk, well within what byte counts hold exactly. */
const MAX_SPOOL_BYTES = 2 ** 40;

const literals = (values: readonly string[]) => Type.Union(values.map((value) => Type.Literal(value)));
const DURATION_PATTERN = '^\\d+(\\.\\d+)?(ms|s|m|h|d)$';
/** The turnaround delay may be zero (the default): a duration or a plain 0. */
const TURNAROUND_PATTERN = '^(0|\\d+(\\.\\d+)?(ms|s))$';
const duration = () => Type.String({ pattern: DURATION_PATTERN, description: 'a duration such as 500ms, 10s or 1m' });

const RegisterSchema = Type.Object(
  {
    table: literals(['input', 'holding']),
    address: Type.Integer({ minimum: 0, maximum: 65535 }),
    type: literals(REGISTER_TYPES),
    byte_order: Type.Optional(literals(BYTE_ORDERS)),
    scale: Type.Optional(Type.Number()),
    offset: Type.Optional(Type.Number()),
    min: Type.Optional(Type.Number()),
    max: Type.Optional(Type.Number()),
    sentinels: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 65535 }))),
  },
  { additionalProperties: false },
);

const RegistersSchema = Type.Object(
  {
    temperature: Type.Optional(RegisterSchema),
    humidity: Type.Optional(RegisterSchema),
    pcv_temperature: Type.Optional(RegisterSchema),
  },
  { additionalProperties: false, minProperties: 1 },
);

const DeviceSchema = Type.Object(
  {
    id: Type.String({ minLength: 1 }),
    loc_id: Type.String({ minLength: 1 }),
    transport: Type.Optional(literals(TRANSPORTS)),
    host: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    device: Type.Optional(Type.String({ minLength: 1 })),
    baud_rate: Type.Optional(Type.Integer({ minimum: 300, maximum: 4_000_000 })),
    parity: Type.Optional(literals(PARITIES)),
    data_bits: Type.Optional(Type.Integer({ minimum: 7, maximum: 8 })),
    stop_bits: Type.Optional(Type.Integer({ minimum: 1, maximum: 2 })),
    turnaround: Type.Optional(Type.String({ pattern: TURNAROUND_PATTERN, description: 'a duration such as 0ms, 20ms or 1s' })),
    unit_id: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    profile: Type.Optional(Type.String({ minLength: 1 })),
    registers: Type.Optional(RegistersSchema),
    poll_interval: Type.Optional(duration()),
    timeout: Type.Optional(duration()),
  },
  { additionalProperties: false },
);

const GatewaySchema = Type.Object(
  {
    gateway: Type.String({ minLength: 1 }),
    poll_interval: Type.Optional(duration()),
    timeout: Type.Optional(duration()),
    max_gap: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    profiles: Type.Optional(Type.Record(Type.String(), RegistersSchema)),
    devices: Type.Array(DeviceSchema, { minItems: 1 }),
    write: Type.Optional(
      Type.Object(
        {
          batch_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
          max_delay: Type.Optional(duration()),
          timeout: Type.Optional(duration()),
        },
        { additionalProperties: false },
      ),
    ),
    spool: Type.Optional(
      Type.Object(
        {
          max_bytes: Type.Optional(Type.Integer({ minimum: 65_536, maximum: MAX_SPOOL_BYTES })),
          when_full: Type.Optional(literals(SPOOL_POLICIES)),
          sync_interval: Type.Optional(duration()),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

type RawRegister = Type.Static<typeof RegisterSchema>;
type RawRegisters = Type.Static<typeof RegistersSchema>;
type RawGateway = Type.Static<typeof GatewaySchema>;
type RawDevice = Type.Static<typeof DeviceSchema>;
type PathPart = string | number;

interface Problem {
  readonly path: readonly PathPart[];
  readonly message: string;
}

function pointerToPath(pointer: string): PathPart[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

interface SchemaNode {
  readonly anyOf?: readonly { readonly const?: unknown }[];
  readonly description?: string;
}

function schemaAt(schemaPath: string): SchemaNode | undefined {
  let node: unknown = GatewaySchema;
  for (const part of pointerToPath(schemaPath.replace(/^#/, ''))) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[String(part)];
  }
  return typeof node === 'object' && node !== null ? node : undefined;
}

function formatPath(parts: readonly PathPart[]): string {
  return parts.map((part, index) => (typeof part === 'number' ? `[${part}]` : index === 0 ? part : `.${part}`)).join('');
}

/** One message per offending field, in the words an operator editing the file needs. */
function schemaProblems(value: unknown): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(GatewaySchema, value)) {
    const at = pointerToPath(error.instancePath);
    let message: string | undefined;
    const params = error.params as Record<string, unknown>;
    switch (error.keyword) {
      case 'boolean':
        continue;
      case 'const':
        continue;
      case 'additionalProperties': {
        const keys = (params.additionalProperties as string[] | undefined) ?? [];
        for (const key of keys) {
          problems.push({ path: [...at, key], message: `unknown key (not part of the gateway config)` });
        }
        continue;
      }
      case 'required': {
        const keys = (params.requiredProperties as string[] | undefined) ?? [];
        for (const key of keys) problems.push({ path: [...at, key], message: 'is required' });
        continue;
      }
      case 'anyOf': {
        const schema = schemaAt(error.schemaPath);
        const options = (schema?.anyOf ?? []).map((option) => String(option.const)).filter((option) => option !== 'undefined');
        message = options.length > 0 ? `expected one of ${options.join(', ')}` : error.message;
        break;
      }
      case 'pattern': {
        const schema = schemaAt(error.schemaPath);
        message = `expected ${schema?.description ?? `a value matching ${String(params.pattern)}`}`;
        break;
      }
      case 'type':
        message = `expected ${String(params.type)}`;
        break;
      default:
        message = error.message;
    }
    const key = `${formatPath(at)}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ path: at, message });
  }
  return problems;
}

function lineOf(document: Document, lineCounter: LineCounter, parts: readonly PathPart[]): number {
  // Walk down as far as the document goes; a missing key is reported at its parent.
  for (let depth = parts.length; depth >= 0; depth -= 1) {
    const prefix = parts.slice(0, depth);
    if (depth > 0) {
      const parent = prefix.length > 1 ? document.getIn(prefix.slice(0, -1), true) : document.contents;
      const last = prefix[prefix.length - 1];
      if (isMap(parent)) {
        const pair = parent.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === String(last));
        const keyNode = pair?.key as Node | undefined;
        if (keyNode?.range) return lineCounter.linePos(keyNode.range[0]).line;
      }
    }
    const node = (depth === 0 ? document.contents : document.getIn(prefix, true)) as Node | null | undefined;
    if (node && typeof node === 'object' && 'range' in node && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return 1;
}

function overlaps(registers: readonly RegisterSpec[]): [RegisterSpec, RegisterSpec] | undefined {
  const sorted = [...registers].sort((a, b) => (a.table === b.table ? a.address - b.address : a.table < b.table ? -1 : 1));
  for (let i = 1; i < sorted.length; i += 1) {
    const previous = sorted[i - 1];
    const current = sorted[i];
    if (previous.table === current.table && previous.address + registerWords(previous.type) > current.address) return [previous, current];
  }
  return undefined;
}


function buildRegisters(raw: RawRegisters, where: readonly PathPart[], problems: Problem[]): RegisterSpec[] {
  const specs: RegisterSpec[] = [];
  for (const metric of METRICS) {
    const register: RawRegister | undefined = raw[metric];
    if (!register) continue;
    const at = [...where, metric];
    const words = registerWords(register.type);
    if (register.byte_order !== undefined && words === 1) {
      problems.push({ path: [...at, 'byte_order'], message: `applies to 32-bit types only (${String(register.type)} is 16-bit)` });
    }
    if (register.address + words > 65536) problems.push({ path: [...at, 'address'], message: `${String(register.type)} at ${register.address} runs past register 65535` });
    const range = DEFAULT_RANGES[metric];
    const min = register.min ?? range.min;
    const max = register.max ?? range.max;
    if (min > max) problems.push({ path: [...at, 'min'], message: `min ${min} is above max ${max}` });
    specs.push({
      metric,
      table: register.table,
      address: register.address,
      type: register.type,
      byteOrder: (register.byte_order ?? 'ABCD'),
      scale: register.scale ?? 1,
      offset: register.offset ?? 0,
      min,
      max,
      sentinels: register.sentinels ?? defaultSentinels(register.type),
    });
  }
  const clash = overlaps(specs);
  if (clash) {
    problems.push({
      path: [...where, clash[1].metric, 'address'],
      message: `overlaps ${clash[0].metric} (${clash[0].table} ${clash[0].address}, ${clash[0].type})`,
    });
  }
  return specs;
}

/**
 * A duration that matched the pattern but is not usable: zero, or longer than a Node timer can
 * hold (2^31-1 ms, about 24.8 days; a longer one fires at once, a busy loop).
 */
function positiveDuration(text: string | undefined, fallback: number, where: readonly PathPart[], problems: Problem[]): number {
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined) {
    problems.push({ path: where, message: 'expected a duration above zero' });
    return fallback;
  }
  if (ms > MAX_TIMER_MS) {
    problems.push({ path: where, message: `${text} is longer than a timer can hold (at most ${MAX_TIMER_MS} ms, about 24.8 days)` });
    return fallback;
  }
  return ms;
}

const SERIAL_FIELDS = ['baud_rate', 'parity', 'data_bits', 'stop_bits', 'turnaround'] as const;

/** Milliseconds of a turnaround delay (0 allowed), checked against the timer limit. */
function turnaroundMs(text: string | undefined, where: readonly PathPart[], problems: Problem[]): number {
  if (text === undefined || /^0(\.0+)?(ms|s)?$/.test(text)) return 0;
  return positiveDuration(text, 0, where, problems);
}

/**
 * The line a device hangs off, from its transport's fields. A field of another transport is an
 * error rather than ignored: `device:` on a tcp endpoint is a config written for something else.
 */
function buildLine(device: RawDevice, at: readonly PathPart[], problems: Problem[]): LineSpec {
  const transport = (device.transport ?? 'tcp') as Transport;
  const misplaced = (field: keyof RawDevice, applies: string) => {
    if (device[field] !== undefined) problems.push({ path: [...at, field], message: `applies to ${applies} only (this device's transport is ${transport})` });
  };
  const serial = {
    baudRate: device.baud_rate ?? 9600,
    parity: (device.parity ?? 'none') as Parity,
    dataBits: (device.data_bits ?? 8) as 7 | 8,
    stopBits: (device.stop_bits ?? 1) as 1 | 2,
  };
  if (transport === 'rtu') {
    misplaced('host', 'transport tcp and rtu-over-tcp (rtu names its serial port in device)');
    misplaced('port', 'transport tcp and rtu-over-tcp (rtu names its serial port in device)');
    if (device.device === undefined) problems.push({ path: [...at, 'device'], message: 'is required for transport rtu (the serial port, e.g. /dev/ttyUSB0 or /dev/serial/by-id/...)' });
    const path = device.device ?? '';
    return { transport, key: path, device: path, serial, turnaroundMs: turnaroundMs(device.turnaround, [...at, 'turnaround'], problems) };
  }
  misplaced('device', 'transport rtu');
  if (device.host === undefined) problems.push({ path: [...at, 'host'], message: `is required for transport ${transport}` });
  const host = device.host ?? '';
  if (transport === 'tcp') {
    for (const field of SERIAL_FIELDS) misplaced(field, 'transport rtu and rtu-over-tcp');
    const port = device.port ?? 502;
    return { transport, key: `${host}:${port}`, host, port };
  }
  if (device.port === undefined) problems.push({ path: [...at, 'port'], message: 'is required for transport rtu-over-tcp (the device server\'s TCP server port, 4001 on a Moxa NPort)' });
  const port = device.port ?? 0;
  return { transport, key: `${host}:${port}`, host, port, serial, turnaroundMs: turnaroundMs(device.turnaround, [...at, 'turnaround'], problems) };
}

/** Devices on one line must describe it alike: one transport, one baud rate, one turnaround. */
function sameLine(first: { index: number; line: LineSpec }, line: LineSpec, at: readonly PathPart[], problems: Problem[]): void {
  const other = first.line;
  if (other.transport !== line.transport) {
    problems.push({ path: [...at, 'transport'], message: `${line.key} is already ${other.transport} in devices[${first.index}]: one endpoint speaks one transport` });
    return;
  }
  if (other.transport === 'tcp' || line.transport === 'tcp') return;
  const pairs: [string, unknown, unknown][] = [
    ['baud_rate', other.serial.baudRate, line.serial.baudRate],
    ['parity', other.serial.parity, line.serial.parity],
    ['data_bits', other.serial.dataBits, line.serial.dataBits],
    ['stop_bits', other.serial.stopBits, line.serial.stopBits],
    ['turnaround', other.turnaroundMs, line.turnaroundMs],
  ];
  for (const [field, theirs, ours] of pairs) {
    if (theirs !== ours) problems.push({ path: [...at, field], message: `${String(ours)} differs from devices[${first.index}] on the same line ${line.key} (${String(theirs)}): every device on a line shares its settings` });
  }
}

/** The gateway's journal directory name escapes each byte to at most 3 (collector.ts). */
const MAX_GATEWAY_BYTES = 85;

function build(raw: RawGateway, problems: Problem[], file: string): GatewayConfig {
  if (Buffer.byteLength(raw.gateway) > MAX_GATEWAY_BYTES) problems.push({ path: ['gateway'], message: `at most ${MAX_GATEWAY_BYTES} bytes (it names the journal directory)` });
  const defaultInterval = positiveDuration(raw.poll_interval, 10_000, ['poll_interval'], problems);
  const defaultTimeout = positiveDuration(raw.timeout, 1_000, ['timeout'], problems);
  const profiles = new Map<string, RegisterSpec[]>();
  for (const [name, registers] of Object.entries(raw.profiles ?? {})) {
    profiles.set(name, buildRegisters(registers, ['profiles', name], problems));
  }
  const ids = new Map<string, number>();
  const locations = new Map<string, number>();
  const units = new Map<string, number>();
  const lines = new Map<string, { index: number; line: LineSpec }>();
  const devices: DeviceSpec[] = [];
  raw.devices.forEach((device, index) => {
    const at: PathPart[] = ['devices', index];
    const firstId = ids.get(device.id);
    if (firstId !== undefined) problems.push({ path: [...at, 'id'], message: `duplicate device id ${JSON.stringify(device.id)} (also devices[${firstId}])` });
    else ids.set(device.id, index);
    const firstLoc = locations.get(device.loc_id);
    if (firstLoc !== undefined) problems.push({ path: [...at, 'loc_id'], message: `location ${JSON.stringify(device.loc_id)} is already polled by devices[${firstLoc}]` });
    else locations.set(device.loc_id, index);
    const line = buildLine(device, at, problems);
    const first = lines.get(line.key);
    if (first === undefined) lines.set(line.key, { index, line });
    else sameLine(first, line, at, problems);
    const unitId = device.unit_id ?? 1;
    if (line.transport !== 'tcp' && (unitId < 1 || unitId > 247)) {
      problems.push({ path: [...at, 'unit_id'], message: `an RTU unit id is 1 to 247 (0 is broadcast, which no unit answers; 248-255 are reserved), not ${unitId}` });
    }
    const unitKey = `${line.key}#${unitId}`;
    const firstUnit = units.get(unitKey);
    if (firstUnit !== undefined) problems.push({ path: [...at, 'unit_id'], message: `unit ${unitId} on ${line.key} is already devices[${firstUnit}]` });
    else units.set(unitKey, index);
    let registers: RegisterSpec[] = [];
    if (device.profile !== undefined && device.registers !== undefined) {
      problems.push({ path: [...at, 'registers'], message: 'give either profile or registers, not both' });
    } else if (device.profile !== undefined) {
      const profile = profiles.get(device.profile);
      if (!profile) {
        const known = [...profiles.keys()];
        problems.push({ path: [...at, 'profile'], message: `unknown profile ${JSON.stringify(device.profile)}${known.length ? ` (profiles: ${known.join(', ')})` : ' (no profiles defined)'}` });
      } else registers = profile;
    } else if (device.registers !== undefined) {
      registers = buildRegisters(device.registers, [...at, 'registers'], problems);
    } else {
      problems.push({ path: at, message: 'needs a profile or a registers map' });
    }
    devices.push({
      id: device.id,
      locId: device.loc_id,
      line,
      host: line.transport === 'rtu' ? line.device : line.host,
      port: line.transport === 'rtu' ? 0 : line.port,
      unitId,
      pollIntervalMs: positiveDuration(device.poll_interval, defaultInterval, [...at, 'poll_interval'], problems),
      timeoutMs: positiveDuration(device.timeout, defaultTimeout, [...at, 'timeout'], problems),
      registers,
    });
  });
  return {
    file,
    gateway: raw.gateway,
    devices,
    maxGap: raw.max_gap ?? 16,
    write: {
      batchSize: raw.write?.batch_size ?? 1_000,
      maxDelayMs: positiveDuration(raw.write?.max_delay, 1_000, ['write', 'max_delay'], problems),
      timeoutMs: positiveDuration(raw.write?.timeout, 10_000, ['write', 'timeout'], problems),
    },
    spool: {
      maxBytes: raw.spool?.max_bytes ?? 1024 * 1024 * 1024,
      whenFull: (raw.spool?.when_full ?? 'drop-oldest'),
      syncIntervalMs: positiveDuration(raw.spool?.sync_interval, 1_000, ['spool', 'sync_interval'], problems),
    },
  };
}

/**
 * Parses and validates a gateway config once. Every problem is reported, each as
 * `file:line path: message`, in one PC_CONFIG error (exit code 2).
 */
export function parseGatewayConfig(text: string, file: string): GatewayConfig {
  const name = path.basename(file);
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  if (document.errors.length > 0) {
    const lines = document.errors.map((error) => `${name}:${lineCounter.linePos(error.pos[0]).line} ${error.message.split('\n')[0]}`);
    throw errors.config(file, `invalid YAML\n${lines.join('\n')}`);
  }
  const value: unknown = document.toJS();
  const problems = schemaProblems(value);
  let config: GatewayConfig | undefined;
  if (problems.length === 0) config = build(value as RawGateway, problems, file);
  if (problems.length > 0 || !config) {
    const lines = problems
      .map((problem) => ({ line: lineOf(document, lineCounter, problem.path), problem }))
      .sort((a, b) => a.line - b.line)
      .map(({ line, problem }) => `${name}:${line} ${formatPath(problem.path) || '(top level)'}: ${problem.message}`);
    throw errors.config(file, `${problems.length} problem(s)\n${lines.join('\n')}`);
  }
  return config;
}

export async function loadGatewayConfig(file: string): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw errors.config(file, `cannot read the gateway config: ${(error as Error).message}`);
  }
  return parseGatewayConfig(text, file);
}
