import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import type { SerialFormat } from './gateway-types.js';

/**
 * modbus-serial's own RTU transports, with one guard added. Raw RTU over TCP is its TelnetPort
 * (`connectTelnet`): its TcpRTUBufferedPort, despite the name, sends Modbus TCP (MBAP header, no
 * CRC), which a device server in TCP server mode passes to the bus as garbage
 * (yaacov/node-modbus-serial#408, #447). Serial RTU is its RTUBufferedPort.
 *
 * Both ports keep unparsed bytes in `_buffer` and look for the next answer from its start. A
 * reply that arrives after its request timed out (a slow unit, a device server's buffering) would
 * stay there: the next request's answer is then searched for behind it, a data byte that happens
 * to equal the next unit's address and function code frames a wrong response, and the buffer of
 * TelnetPort, which has no cap, grows with every late reply. So each request starts on an empty
 * buffer: bytes received before a request is written cannot be its answer. The ports pick their
 * reply by unit id and function code, so a late reply arriving after the next request has gone
 * out is skipped too (the Modbus serial line spec's "reply from an unexpected slave").
 * tests/collector-rtu-line-guards-against-late-replies.test.ts pins this down against the
 * installed modbus-serial.
 */
interface RtuPort extends EventEmitter {
  _buffer: Buffer;
  write(data: Buffer): void;
}
type RtuPortClass<Options> = new (target: string, options: Options) => RtuPort;

interface TelnetOptions {
  readonly port: number;
}
interface SerialOptions {
  readonly baudRate: number;
  readonly parity: string;
  readonly dataBits: number;
  readonly stopBits: number;
}

const require = createRequire(import.meta.url);
const library = require('modbus-serial') as { TelnetPort: RtuPortClass<TelnetOptions>; RTUBufferedPort?: RtuPortClass<SerialOptions> };

/** Called with the number of stale bytes dropped before a request. */
export type StaleBytesHook = (bytes: number) => void;

function freshBeforeWrite<Options>(Base: RtuPortClass<Options>) {
  return class extends Base {
    onStale: StaleBytesHook | undefined;
    override write(data: Buffer): void {
      if (this._buffer.length > 0) {
        this.onStale?.(this._buffer.length);
        this._buffer = Buffer.alloc(0);
      }
      super.write(data);
    }
  };
}

const FreshTelnetPort = freshBeforeWrite(library.TelnetPort);

export function rtuOverTcpPort(host: string, port: number, onStale: StaleBytesHook): RtuPort {
  const created = new FreshTelnetPort(host, { port });
  created.onStale = onStale;
  return created;
}

export function serialRtuPort(device: string, serial: SerialFormat, onStale: StaleBytesHook): RtuPort {
  // modbus-serial loads its serial port only when `serialport` (and its native binding) loads.
  if (!library.RTUBufferedPort) throw new Error('serial ports are unavailable: the serialport package did not load');
  const FreshSerialPort = freshBeforeWrite(library.RTUBufferedPort);
  const created = new FreshSerialPort(device, { baudRate: serial.baudRate, parity: serial.parity, dataBits: serial.dataBits, stopBits: serial.stopBits });
  created.onStale = onStale;
  return created;
}
