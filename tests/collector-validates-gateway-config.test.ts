import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../collectors/index.js';
import { gatewayConfigProblems as problems } from './support/gateway-config-problems.js';

const run = promisify(execFile);

const VALID = `gateway: gw-1
poll_interval: 10s
profiles:
  th-transmitter:
    temperature:     { table: input,   address: 0,  type: int16,   scale: 0.1 }
    humidity:        { table: input,   address: 1,  type: uint16,  scale: 0.1 }
    pcv_temperature: { table: holding, address: 10, type: float32, byte_order: CDAB }
devices:
  - id: oven-1
    loc_id: A-01
    host: 10.0.0.12
    port: 502
    unit_id: 1
    profile: th-transmitter
  - id: oven-2
    loc_id: A-02
    host: 10.0.0.12
    unit_id: 2
    poll_interval: 500ms
    registers:
      temperature: { table: holding, address: 0, type: int32, byte_order: DCBA, scale: 0.01, offset: -10, min: -20, max: 60 }
`;


describe('gateway config', () => {
  it('accepts the contract example with defaults filled in', () => {
    const config = parseGatewayConfig(VALID, 'gw.yaml');
    expect(config.gateway).toBe('gw-1');
    expect(config.devices.map((device) => [device.id, device.port, device.unitId, device.pollIntervalMs])).toEqual([
      ['oven-1', 502, 1, 10_000],
      ['oven-2', 502, 2, 500],
    ]);
    expect(config.devices[0]?.registers.find((register) => register.metric === 'pcv_temperature')).toMatchObject({ table: 'holding', address: 10, byteOrder: 'CDAB', scale: 1, offset: 0, min: -50, max: 150 });
    expect(config.devices[1]?.registers[0]).toMatchObject({ type: 'int32', byteOrder: 'DCBA', scale: 0.01, offset: -10, min: -20, max: 60 });
  });

  it('names the file, line and field of a wrong value', () => {
    const text = VALID.replace('registers:\n      temperature: { table: holding, address: 0, type: int32', 'registers:\n      humidity: { table: holding, address: 0, type: int8');
    expect(problems(text)).toEqual(['gw.yaml:21 devices[1].registers.humidity.type: expected one of int16, uint16, int32, uint32, float32']);
  });

  it('reports unknown keys, bad durations and missing fields at their lines', () => {
    const text = VALID.replace('poll_interval: 10s', 'poll_interval: 10 seconds').replace('    port: 502\n', '    port: 502\n    unitid: 3\n').replace('  - id: oven-2\n', '  - name: oven-2\n');
    expect(problems(text)).toEqual([
      'gw.yaml:2 poll_interval: expected a duration such as 500ms, 10s or 1m',
      'gw.yaml:13 devices[0].unitid: unknown key (not part of the gateway config)',
      'gw.yaml:16 devices[1].id: is required',
      'gw.yaml:16 devices[1].name: unknown key (not part of the gateway config)',
    ]);
  });

  it('rejects duplicate device ids, two devices for one location and overlapping registers', () => {
    const text = VALID.replace('id: oven-2\n    loc_id: A-02', 'id: oven-1\n    loc_id: A-01').replace(
      'humidity:        { table: input,   address: 1,  type: uint16',
      'humidity:        { table: holding, address: 11, type: uint16',
    );
    expect(problems(text)).toEqual([
      'gw.yaml:6 profiles.th-transmitter.humidity.address: overlaps pcv_temperature (holding 10, float32)',
      'gw.yaml:15 devices[1].id: duplicate device id "oven-1" (also devices[0])',
      'gw.yaml:16 devices[1].loc_id: location "A-01" is already polled by devices[0]',
    ]);
  });

  it('rejects a zero duration', () => {
    expect(problems(VALID.replace('poll_interval: 500ms', 'poll_interval: 0ms'))).toEqual(['gw.yaml:19 devices[1].poll_interval: expected a duration above zero']);
  });

  it('rejects an unknown profile and a byte order on a 16-bit register', () => {
    const text = VALID.replace('profile: th-transmitter', 'profile: th-transmiter').replace('address: 1,  type: uint16,  scale: 0.1', 'address: 1,  type: uint16,  scale: 0.1, byte_order: CDAB');
    expect(problems(text)).toEqual([
      'gw.yaml:6 profiles.th-transmitter.humidity.byte_order: applies to 32-bit types only (uint16 is 16-bit)',
      'gw.yaml:14 devices[0].profile: unknown profile "th-transmiter" (profiles: th-transmitter)',
    ]);
  });

  it('collector --check exits 0 on a valid config and 2 naming the problem otherwise', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-check-'));
    try {
      const good = path.join(dir, 'good.yaml');
      const bad = path.join(dir, 'gw.yaml');
      await fs.writeFile(good, VALID);
      await fs.writeFile(bad, VALID.replace('type: int16', 'type: int12'));
      const ok = await run(process.execPath, ['dist/bin/collector.js', '--config', good, '--check']);
      expect(ok.stdout).toMatch(/OK \(gateway gw-1: 2 devices on 1 endpoints, 3 requests per poll round\)/);
      const failed = await run(process.execPath, ['dist/bin/collector.js', '--config', bad, '--check']).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failed?.code).toBe(2);
      expect(failed?.stderr).toContain('gw.yaml:5 profiles.th-transmitter.temperature.type: expected one of int16, uint16, int32, uint32, float32');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
