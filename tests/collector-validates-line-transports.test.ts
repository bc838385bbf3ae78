import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../collectors/index.js';
import { gatewayConfigProblems as problems } from './support/gateway-config-problems.js';

const run = promisify(execFile);

/** One device per transport, and a second unit on the device server's line (YAML merge keys share its settings). */
const VALID = `gateway: gw-rtu
poll_interval: 10s
profiles:
  th:
    temperature: { table: input, address: 0, type: int16, scale: 0.1 }
    humidity:    { table: input, address: 1, type: uint16, scale: 0.1 }
devices:
  - id: hall-tcp
    loc_id: A-01
    host: 10.0.0.12
    profile: th
  - &nport
    id: line1-u1
    loc_id: B-01
    transport: rtu-over-tcp
    host: 10.0.0.50
    port: 4001
    baud_rate: 9600
    parity: even
    turnaround: 20ms
    unit_id: 1
    profile: th
  - <<: *nport
    id: line1-u2
    loc_id: B-02
    unit_id: 2
  - id: rs485-u7
    loc_id: C-07
    transport: rtu
    device: /dev/ttyUSB0
    baud_rate: 19200
    stop_bits: 2
    unit_id: 7
    profile: th
`;

describe('gateway config: transports', () => {
  it('builds one line per endpoint, with serial defaults of 9600 8N1 and no turnaround', () => {
    const config = parseGatewayConfig(VALID, 'gw.yaml');
    expect(config.devices.map((device) => device.line)).toEqual([
      { transport: 'tcp', key: '10.0.0.12:502', host: '10.0.0.12', port: 502 },
      { transport: 'rtu-over-tcp', key: '10.0.0.50:4001', host: '10.0.0.50', port: 4001, serial: { baudRate: 9600, parity: 'even', dataBits: 8, stopBits: 1 }, turnaroundMs: 20 },
      { transport: 'rtu-over-tcp', key: '10.0.0.50:4001', host: '10.0.0.50', port: 4001, serial: { baudRate: 9600, parity: 'even', dataBits: 8, stopBits: 1 }, turnaroundMs: 20 },
      { transport: 'rtu', key: '/dev/ttyUSB0', device: '/dev/ttyUSB0', serial: { baudRate: 19200, parity: 'none', dataBits: 8, stopBits: 2 }, turnaroundMs: 0 },
    ]);
    // The device table keeps host and port: the serial path, port 0, for a serial line.
    expect(config.devices.map((device) => [device.host, device.port, device.unitId])).toEqual([
      ['10.0.0.12', 502, 1],
      ['10.0.0.50', 4001, 1],
      ['10.0.0.50', 4001, 2],
      ['/dev/ttyUSB0', 0, 7],
    ]);
  });

  const cases: { name: string; edit: (text: string) => string; expected: string[] }[] = [
    {
      name: 'an unknown transport',
      edit: (text) => text.replace('transport: rtu\n', 'transport: serial\n'),
      expected: ['gw.yaml:29 devices[3].transport: expected one of tcp, rtu-over-tcp, rtu'],
    },
    {
      name: 'rtu without a device path, and with a host',
      edit: (text) => text.replace('    device: /dev/ttyUSB0\n', '    host: 10.0.0.9\n'),
      expected: [
        'gw.yaml:27 devices[3].device: is required for transport rtu (the serial port, e.g. /dev/ttyUSB0 or /dev/serial/by-id/...)',
        'gw.yaml:30 devices[3].host: applies to transport tcp and rtu-over-tcp (rtu names its serial port in device) only (this device\'s transport is rtu)',
      ],
    },
    {
      name: 'rtu-over-tcp without a port (there is no standard one)',
      edit: (text) => text.replace('    port: 4001\n', ''),
      // devices[2] takes its line from devices[1] through the merge key, so it lacks the port too.
      expected: [
        'gw.yaml:13 devices[1].port: is required for transport rtu-over-tcp (the device server\'s TCP server port, 4001 on a Moxa NPort)',
        'gw.yaml:22 devices[2].port: is required for transport rtu-over-tcp (the device server\'s TCP server port, 4001 on a Moxa NPort)',
      ],
    },
    {
      name: 'serial settings on a Modbus TCP endpoint',
      edit: (text) => text.replace('    host: 10.0.0.12\n', '    host: 10.0.0.12\n    baud_rate: 9600\n'),
      expected: ['gw.yaml:11 devices[0].baud_rate: applies to transport rtu and rtu-over-tcp only (this device\'s transport is tcp)'],
    },
    {
      name: 'a baud rate, parity, data bits and stop bits out of range',
      edit: (text) => text.replace('baud_rate: 19200\n    stop_bits: 2', 'baud_rate: 10\n    stop_bits: 3\n    data_bits: 9\n    parity: mark'),
      expected: [
        'gw.yaml:31 devices[3].baud_rate: must be >= 300',
        'gw.yaml:32 devices[3].stop_bits: must be <= 2',
        'gw.yaml:33 devices[3].data_bits: must be <= 8',
        'gw.yaml:34 devices[3].parity: expected one of none, even, odd',
      ],
    },
    {
      name: 'an RTU unit id the bus cannot answer',
      edit: (text) => text.replace('unit_id: 7', 'unit_id: 0'),
      expected: ['gw.yaml:33 devices[3].unit_id: an RTU unit id is 1 to 247 (0 is broadcast, which no unit answers; 248-255 are reserved), not 0'],
    },
    {
      name: 'two units with one id on one line',
      edit: (text) => text.replace('    unit_id: 2\n', '    unit_id: 1\n'),
      expected: ['gw.yaml:26 devices[2].unit_id: unit 1 on 10.0.0.50:4001 is already devices[1]'],
    },
    {
      name: 'devices that disagree about their line',
      edit: (text) => text.replace('    unit_id: 2\n', '    unit_id: 2\n    baud_rate: 19200\n    turnaround: 0ms\n'),
      expected: [
        'gw.yaml:27 devices[2].baud_rate: 19200 differs from devices[1] on the same line 10.0.0.50:4001 (9600): every device on a line shares its settings',
        'gw.yaml:28 devices[2].turnaround: 0 differs from devices[1] on the same line 10.0.0.50:4001 (20): every device on a line shares its settings',
      ],
    },
    {
      name: 'one endpoint spoken to in two transports',
      edit: (text) => text.replace('    host: 10.0.0.12\n', '    host: 10.0.0.50\n    port: 4001\n'),
      expected: [
        'gw.yaml:16 devices[1].transport: 10.0.0.50:4001 is already tcp in devices[0]: one endpoint speaks one transport',
        'gw.yaml:22 devices[1].unit_id: unit 1 on 10.0.0.50:4001 is already devices[0]',
        'gw.yaml:24 devices[2].transport: 10.0.0.50:4001 is already tcp in devices[0]: one endpoint speaks one transport',
      ],
    },
    {
      name: 'a turnaround that is not a duration',
      edit: (text) => text.replace('turnaround: 20ms', 'turnaround: "20"'),
      expected: [
        'gw.yaml:20 devices[1].turnaround: expected a duration such as 0ms, 20ms or 1s',
        'gw.yaml:23 devices[2].turnaround: expected a duration such as 0ms, 20ms or 1s',
      ],
    },
  ];

  for (const { name, edit, expected } of cases) {
    it(`rejects ${name}, naming file, line and field`, () => {
      const text = edit(VALID);
      expect(text).not.toBe(VALID);
      expect(problems(text)).toEqual(expected);
    });
  }

  it('collector --check reports which endpoints share a line, exit 2 on a bad transport', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-lines-'));
    try {
      const good = path.join(dir, 'good.yaml');
      const bad = path.join(dir, 'bad.yaml');
      await fs.writeFile(good, VALID);
      await fs.writeFile(bad, VALID.replace('transport: rtu\n', 'transport: serial\n'));
      const ok = await run(process.execPath, ['dist/bin/collector.js', '--config', good, '--check']);
      expect(ok.stdout).toContain('4 devices on 3 endpoints');
      expect(ok.stdout).toMatch(/line 10\.0\.0\.50:4001 \(rtu-over-tcp, 9600 8E1, turnaround 20 ms\): 2 device\(s\) \[line1-u1, line1-u2\], unit ids 1,2/);
      expect(ok.stdout).toMatch(/line \/dev\/ttyUSB0 \(rtu, 19200 8N2\): 1 device\(s\) \[rs485-u7\]/);
      expect(ok.stdout).toMatch(/line 10\.0\.0\.12:502 \(tcp\): 1 device\(s\) \[hall-tcp\]/);
      expect(ok.stdout).not.toContain('WARNING');
      const failed = await run(process.execPath, ['dist/bin/collector.js', '--config', bad, '--check']).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failed?.code).toBe(2);
      expect(failed?.stderr).toContain('bad.yaml:29 devices[3].transport: expected one of tcp, rtu-over-tcp, rtu');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('collector simulate refuses an unknown transport and a baud rate without RTU, exit 2', async () => {
    const refused = async (args: string[]) =>
      run(process.execPath, ['dist/bin/collector.js', 'simulate', '--port', '0', ...args]).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
    const unknown = await refused(['--transport', 'rtu']);
    expect(unknown?.code).toBe(2);
    expect(unknown?.stderr).toContain('--transport: expected one of tcp, rtu-over-tcp, got "rtu"');
    const baud = await refused(['--baud-rate', '9600']);
    expect(baud?.code).toBe(2);
    expect(baud?.stderr).toContain('--baud-rate applies to --transport rtu-over-tcp only');
  });
});
