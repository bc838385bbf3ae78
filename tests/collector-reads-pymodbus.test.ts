import { spawn, type ChildProcessByStdio } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseGatewayConfig, startCollector } from '../collectors/index.js';
import { Lifecycle } from '../runtime/lifecycle.js';
import { createLogger } from '../runtime/logger.js';
import { useTestDatabase } from './support/database.js';
import { describeWithPeer, peers } from './support/peers.js';
import { waitFor } from './support/modbus-processes.js';

/** Registers served by pymodbus on one endpoint, spread over three unit ids. */
const REGISTERS = [
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

describeWithPeer(peers.pymodbus, 'collector against pymodbus', () => {
  const database = useTestDatabase();
  const log = createLogger('silent');
  let server: ChildProcessByStdio<Writable, Readable, Readable>;
  let port: number;
  let dir: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-pymodbus-'));
    server = spawn('/usr/bin/python3', ['tests/support/modbus-pymodbus-server.py', JSON.stringify(REGISTERS)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let errors = '';
    server.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    server.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    port = await waitFor('pymodbus to listen', () => {
      if (server.exitCode !== null) throw new Error(`pymodbus server exited: ${errors}`);
      const line = output.split('\n').find((candidate) => candidate.startsWith('{'));
      return line ? (JSON.parse(line) as { port: number }).port : undefined;
    });
  });

  afterAll(async () => {
    server.stdin.end();
    if (server.exitCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('decodes int16, uint16 and float32 (CDAB and ABCD) from several unit ids on one endpoint', async () => {
    const text = `
gateway: gw-py
poll_interval: 500ms
timeout: 1s
write: { max_delay: 100ms }
devices:
  - id: py-1
    loc_id: PY-01
    host: 127.0.0.1
    port: ${port}
    unit_id: 1
    registers:
      temperature: { table: input, address: 0, type: int16, scale: 0.1 }
      humidity: { table: input, address: 1, type: uint16, scale: 0.1 }
      pcv_temperature: { table: holding, address: 10, type: float32, byte_order: CDAB }
  - id: py-2
    loc_id: PY-02
    host: 127.0.0.1
    port: ${port}
    unit_id: 2
    registers:
      temperature: { table: holding, address: 0, type: float32, byte_order: ABCD }
      humidity: { table: input, address: 7, type: uint16, scale: 0.01 }
      pcv_temperature: { table: holding, address: 20, type: float32, byte_order: CDAB }
  - id: py-3
    loc_id: PY-03
    host: 127.0.0.1
    port: ${port}
    unit_id: 3
    registers:
      temperature: { table: input, address: 3, type: int16, scale: 0.1 }
      humidity: { table: input, address: 4, type: uint16, scale: 0.1, offset: -50 }
      pcv_temperature: { table: holding, address: 2, type: float32 }
`;
    const lifecycle = new Lifecycle(log);
    try {
      await startCollector({
        gateway: parseGatewayConfig(text, 'gw.yaml'),
        config: { databaseUrl: database().url, dbSchema: database().schema, dataDir: dir, collector: { metricsPort: 0 } },
        log,
        lifecycle,
        metricsHost: '127.0.0.1',
      });
      const { db } = database();
      const rows = await waitFor('a reading from each unit', async () => {
        const found = await db.selectFrom('temperature_raw').select(['loc_id', 'temperature', 'humidity', 'pcv_temperature']).distinctOn('loc_id').orderBy('loc_id').execute();
        return found.length === 3 ? found : undefined;
      });
      expect(rows).toEqual([
        { loc_id: 'PY-01', temperature: -12.3, humidity: 65.4, pcv_temperature: 31.125 },
        { loc_id: 'PY-02', temperature: -12.5, humidity: 43.21, pcv_temperature: 88.0625 },
        { loc_id: 'PY-03', temperature: 25, humidity: 49.9, pcv_temperature: 45.75 },
      ]);
    } finally {
      await lifecycle.shutdown('test done');
    }
  });
});
