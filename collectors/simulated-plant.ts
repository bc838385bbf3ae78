import type net from 'node:net';
import { ServerTCP, type IServiceVector } from 'modbus-serial';
import { stringify } from 'yaml';
import type { Logger } from '../runtime/logger.js';
import { errors } from '../runtime/errors.js';
import { encodeRaw } from './register-decoding.js';
import { simulatedLimits } from './simulated-values.js';
import { simulatedValues } from './simulated-values.js';
import { SimulatedRtuLine, type UnitAnswer } from './simulated-rtu-line.js';
import type { SerialFormat } from './gateway-types.js';

export const FAULT_KINDS = ['timeout', 'slow', 'exception', 'gap', 'drop', 'stuck', 'out-of-range', 'nan'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  /** A device id (`sim-3`) or `*` for every device. */
  readonly device: string;
  readonly kind: FaultKind;
  readonly arg: number | undefined;
}

export const FAULTS_HINT =
  'comma-separated DEVICE:KIND[:N] with DEVICE a simulated device id (sim-1) or *, KIND one of ' +
  'timeout (never answers), slow:MS (answers after MS), exception[:CODE] (always answers exception CODE, default 4), ' +
  'gap (input registers 2-3 unimplemented: exception 2 for reads spanning them), drop:N (closes the connection every N-th request), ' +
  'stuck (values frozen), out-of-range (temperature 200 °C), nan (PCV temperature NaN)';

export function parseFaults(spec: string | undefined): Fault[] {
  if (!spec || spec.trim() === '') return [];
  return spec.split(',').map((entry) => {
    const [device = '', kind = '', arg] = entry.trim().split(':');
    if (!device || !(FAULT_KINDS as readonly string[]).includes(kind) || (arg !== undefined && !/^\d+$/.test(arg))) {
      throw errors.usage(`--faults: cannot read ${JSON.stringify(entry)}: expected ${FAULTS_HINT}`);
    }
    return { device, kind: kind as FaultKind, arg: arg === undefined ? undefined : Number(arg) };
  });
}

export interface SimulatedDevice {
  readonly id: string;
  readonly loc_id: string;
  readonly port: number;
  readonly unit_id: number;
  readonly index: number;
}

export interface SimulatedPlantOptions {
  readonly host: string;
  /** First port; 0 lets the system pick a free port for each listener. */
  readonly port: number;
  readonly devices: number;
  readonly unitsPerPort: number;
  readonly faults: readonly Fault[];
  readonly log: Logger;
  /** `tcp` (default): Modbus TCP servers; `rtu-over-tcp`: serial device servers, one RS-485 bus per port. */
  readonly transport?: SimulatedTransport;
  /** The simulated buses' speed (rtu-over-tcp; default 9600). */
  readonly baudRate?: number;
}

export const SIMULATED_TRANSPORTS = ['tcp', 'rtu-over-tcp'] as const;
export type SimulatedTransport = (typeof SIMULATED_TRANSPORTS)[number];

interface Closable {
  close(done: () => void): void;
}

/** Register map every simulated transmitter implements (addresses 2-3 are a gap). */
export const SIMULATED_PROFILE = {
  temperature: { table: 'input', address: 0, type: 'int16', scale: 0.1 },
  humidity: { table: 'input', address: 1, type: 'uint16', scale: 0.1 },
  pcv_temperature: { table: 'input', address: 4, type: 'float32', byte_order: 'CDAB' },
} as const;

const REGISTER_COUNT = 6;

const SIMULATED_ROOMS = ['Raw materials store', 'Finished goods store', 'Packaging line', 'Quarantine room', 'Dispatch bay', 'Oven hall', 'Cold room'];

export function locationName(index: number, total: number): string {
  return `SIM-${String(index + 1).padStart(Math.max(2, String(total).length), '0')}`;
}

interface ModbusError {
  readonly modbusErrorCode: number;
  readonly msg: string;
}

type Callback = (error: ModbusError | null, values?: number[]) => void;

export class SimulatedPlant {
  readonly devices: SimulatedDevice[] = [];
  readonly #servers: Closable[] = [];
  readonly #options: SimulatedPlantOptions;
  readonly #started = Date.now();
  readonly #requests = new Map<string, number>();
  readonly #byUnit = new Map<string, SimulatedDevice>();

  private constructor(options: SimulatedPlantOptions) {
    this.#options = options;
  }

  static async start(options: SimulatedPlantOptions): Promise<SimulatedPlant> {
    const plant = new SimulatedPlant(options);
    const ports = Math.ceil(options.devices / options.unitsPerPort);
    for (let p = 0; p < ports; p += 1) {
      const listenPort = options.port === 0 ? 0 : options.port + p;
      const server = options.transport === 'rtu-over-tcp' ? await plant.#listenRtu(listenPort, p) : await plant.#listen(listenPort, p);
      plant.#servers.push(server.server);
      for (let u = 0; u < options.unitsPerPort; u += 1) {
        const index = p * options.unitsPerPort + u;
        if (index >= options.devices) break;
        const device = { id: `sim-${index + 1}`, loc_id: locationName(index, options.devices), port: server.port, unit_id: u + 1, index };
        plant.devices.push(device);
        plant.#byUnit.set(`${p}#${u + 1}`, device);
      }
    }
    return plant;
  }

  /** The character format of the simulated buses (rtu-over-tcp). */
  get serial(): SerialFormat {
    return { baudRate: this.#options.baudRate ?? 9600, parity: 'none', dataBits: 8, stopBits: 1 };
  }

  get ports(): number[] {
    return [...new Set(this.devices.map((device) => device.port))];
  }

  #faultsOf(device: SimulatedDevice): Fault[] {
    return this.#options.faults.filter((fault) => fault.device === '*' || fault.device === device.id);
  }

  #words(device: SimulatedDevice, faults: readonly Fault[]): number[] {
    const stuck = faults.some((fault) => fault.kind === 'stuck');
    const values = simulatedValues(device.index, stuck ? this.#started : Date.now());
    const temperature = faults.some((fault) => fault.kind === 'out-of-range') ? 200 : values.temperature;
    const pcv = faults.some((fault) => fault.kind === 'nan') ? Number.NaN : values.pcvTemperature;
    return [...encodeRaw(Math.round(temperature * 10), 'int16'), ...encodeRaw(Math.round(values.humidity * 10), 'uint16'), 0, 0, ...encodeRaw(pcv, 'float32', 'CDAB')];
  }

  /** What a unit answers a read, and how late (the `slow` fault); `drop` closes the line's connections first. */
  #answer(serverIndex: number, table: 'input' | 'holding', address: number, length: number, unitId: number): { outcome: UnitAnswer; delayMs: number; drop: boolean } {
    const device = this.#byUnit.get(`${serverIndex}#${unitId}`);
    const now = (outcome: UnitAnswer) => ({ outcome, delayMs: 0, drop: false });
    // Modbus TCP: the gateway answers for a missing unit (0x0B); on an RTU bus nobody does.
    if (!device) return now(this.#options.transport === 'rtu-over-tcp' ? { silent: true } : { exception: 0x0b });
    const faults = this.#faultsOf(device);
    const count = (this.#requests.get(device.id) ?? 0) + 1;
    this.#requests.set(device.id, count);
    const drop = faults.find((fault) => fault.kind === 'drop');
    if (drop && count % Math.max(1, drop.arg ?? 10) === 0) return { outcome: { silent: true }, delayMs: 0, drop: true };
    if (faults.some((fault) => fault.kind === 'timeout')) return now({ silent: true });
    const exception = faults.find((fault) => fault.kind === 'exception');
    if (exception) return now({ exception: exception.arg ?? 4 });
    if (table === 'holding' || address + length > REGISTER_COUNT) return now({ exception: 2 });
    if (faults.some((fault) => fault.kind === 'gap') && address <= 3 && address + length > 2) return now({ exception: 2 });
    const words = this.#words(device, faults).slice(address, address + length);
    const slow = faults.find((fault) => fault.kind === 'slow');
    return { outcome: { words }, delayMs: slow ? (slow.arg ?? 500) : 0, drop: false };
  }

  #read(serverIndex: number, server: () => ServerTCP, table: 'input' | 'holding', address: number, length: number, unitId: number, callback: Callback): void {
    const { outcome, delayMs, drop } = this.#answer(serverIndex, table, address, length, unitId);
    if (drop) {
      for (const socket of server().socks.keys()) (socket).destroy();
      return;
    }
    if ('silent' in outcome) return;
    if ('exception' in outcome) {
      callback({ modbusErrorCode: outcome.exception, msg: outcome.exception === 2 ? 'illegal data address' : 'simulated exception' });
      return;
    }
    if (delayMs > 0) setTimeout(() => callback(null, [...outcome.words]), delayMs);
    else callback(null, [...outcome.words]);
  }

  /** A simulated serial device server (RTU over TCP) in front of an RS-485 bus at the plant's baud rate. */
  async #listenRtu(port: number, serverIndex: number): Promise<{ server: Closable; port: number }> {
    const line: SimulatedRtuLine = new SimulatedRtuLine(this.serial, (unitId, table, address, length, answer) => {
      const { outcome, delayMs, drop } = this.#answer(serverIndex, table, address, length, unitId);
      if (drop) line.dropConnections();
      else answer(outcome, delayMs);
    });
    const tcp = line.server;
    await this.#bound(tcp, port, () => tcp.listen(port, this.#options.host));
    const address = tcp.address();
    return { server: { close: (done) => void line.close().then(done) }, port: typeof address === 'object' && address ? address.port : port };
  }

  async #bound(tcp: net.Server, port: number, listen?: () => void): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) =>
        reject(error.code === 'EADDRINUSE' ? errors.portInUse('the simulator', `${this.#options.host}:${port}`, 'Use --port 0 to pick free ports.') : error);
      tcp.once('error', onError);
      if (tcp.listening) resolve();
      else
        tcp.once('listening', () => {
          tcp.off('error', onError);
          resolve();
        });
      listen?.();
    });
  }

  async #listen(port: number, serverIndex: number): Promise<{ server: Closable; port: number }> {
    const holder: { server?: ServerTCP } = {};
    const self = () => holder.server as ServerTCP;
    const vector: IServiceVector = {
      // modbus-serial indexes the values even when an error is passed, so an error without an
      // (empty) array would reach the client as exception 4 instead of the intended code.
      getMultipleInputRegisters: (address: number, length: number, unitId: number, callback: Callback) =>
        this.#read(serverIndex, self, 'input', address, length, unitId, (error, values) => callback(error, values ?? [])),
      getInputRegister: (address: number, unitId: number, callback: (error: ModbusError | null, value?: number) => void) =>
        this.#read(serverIndex, self, 'input', address, 1, unitId, (error, values) => callback(error, values?.[0])),
      getMultipleHoldingRegisters: (address: number, length: number, unitId: number, callback: Callback) =>
        this.#read(serverIndex, self, 'holding', address, length, unitId, (error, values) => callback(error, values ?? [])),
      getHoldingRegister: (address: number, unitId: number, callback: (error: ModbusError | null, value?: number) => void) =>
        this.#read(serverIndex, self, 'holding', address, 1, unitId, (error, values) => callback(error, values?.[0])),
    } as unknown as IServiceVector;
    // ServerTCP turns a falsy port into 502; the string '0' reaches net.listen, which picks a free port.
    const server = new ServerTCP(vector, { host: this.#options.host, port: (port === 0 ? '0' : port) as number, unitID: 255 });
    holder.server = server;
    const created = server;
    created.on('socketError', (error) => this.#options.log.debug({ err: error }, 'simulator socket error'));
    created.on('error', (error) => this.#options.log.debug({ err: error }, 'simulator error'));
    created.on('serverError', (error) => this.#options.log.debug({ err: error }, 'simulator listener error'));
    const tcp = (created as unknown as { _server: net.Server })._server;
    await this.#bound(tcp, port);
    const address = tcp.address();
    const close = (done: () => void) => {
      for (const socket of created.socks.keys()) socket.destroy();
      created.close(done);
    };
    return { server: { close }, port: typeof address === 'object' && address ? address.port : port };
  }

  /** The gateway config (YAML, contract format) that polls this plant. */
  gatewayConfig(options: { gateway: string; host: string; pollInterval: string; timeout: string }): string {
    return stringify({
      gateway: options.gateway,
      poll_interval: options.pollInterval,
      timeout: options.timeout,
      profiles: { 'sim-transmitter': SIMULATED_PROFILE },
      devices: this.devices.map((device) => ({
        id: device.id,
        loc_id: device.loc_id,
        ...(this.#options.transport === 'rtu-over-tcp' ? { transport: 'rtu-over-tcp' } : {}),
        host: options.host,
        port: device.port,
        ...(this.#options.transport === 'rtu-over-tcp' ? { baud_rate: this.serial.baudRate } : {}),
        unit_id: device.unit_id,
        profile: 'sim-transmitter',
      })),
    });
  }

  /**
   * The plant's locations as `plant-climate locations import` reads them: names, an area and the
   * limits of the value model (simulatedLimits), in force from `validFrom` (the start of any
   * seeded history, so its excursions count too).
   */
  locationsFile(validFrom: Date): string {
    return stringify({
      locations: this.devices.map((device) => ({
        loc_id: device.loc_id,
        name: `${SIMULATED_ROOMS[device.index % SIMULATED_ROOMS.length] ?? 'Room'}${device.index >= SIMULATED_ROOMS.length ? ` ${device.index + 1}` : ''}`,
        plant: 'SIM',
        area: device.index % 2 === 0 ? 'Hall A' : 'Hall B',
        ...simulatedLimits(device.index),
        valid_from: validFrom.toISOString(),
        reason: 'simulated plant: the limits of its value model',
      })),
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.#servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}
