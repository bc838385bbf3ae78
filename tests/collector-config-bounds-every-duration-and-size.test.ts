import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../collectors/index.js';
import { gatewayConfigProblems as problems } from './support/gateway-config-problems.js';

const run = promisify(execFile);

const CONFIG = `gateway: gw-1
poll_interval: 10s
write: { max_delay: 1s, timeout: 10s, batch_size: 1000 }
spool: { max_bytes: 1073741824, when_full: drop-oldest, sync_interval: 1s }
devices:
  - id: oven-1
    loc_id: A-01
    host: 10.0.0.12
    timeout: 1s
    registers:
      temperature: { table: input, address: 0, type: int16, scale: 0.1 }
`;


describe('gateway config bounds', () => {
  it('accepts the journal sync interval and defaults it to 1 s', () => {
    expect(parseGatewayConfig(CONFIG, 'gw.yaml').spool).toEqual({ maxBytes: 1_073_741_824, whenFull: 'drop-oldest', syncIntervalMs: 1_000 });
    expect(parseGatewayConfig(CONFIG.replace(', sync_interval: 1s', ''), 'gw.yaml').spool.syncIntervalMs).toBe(1_000);
  });

  it('refuses every duration a timer cannot hold, naming the line and field', () => {
    const text = CONFIG.replace('poll_interval: 10s', 'poll_interval: 25d')
      .replace('max_delay: 1s', 'max_delay: 30d')
      .replace('sync_interval: 1s', 'sync_interval: 600h')
      .replace('    timeout: 1s', '    timeout: 24.9d');
    expect(problems(text)).toEqual([
      'gw.yaml:2 poll_interval: 25d is longer than a timer can hold (at most 2147483647 ms, about 24.8 days)',
      'gw.yaml:3 write.max_delay: 30d is longer than a timer can hold (at most 2147483647 ms, about 24.8 days)',
      'gw.yaml:4 spool.sync_interval: 600h is longer than a timer can hold (at most 2147483647 ms, about 24.8 days)',
      'gw.yaml:9 devices[0].timeout: 24.9d is longer than a timer can hold (at most 2147483647 ms, about 24.8 days)',
    ]);
    expect(problems(CONFIG.replace('poll_interval: 10s', 'poll_interval: 24d'))).toEqual([]);
  });

  it('bounds batch and spool sizes and the gateway name that names the journal directory', () => {
    const text = CONFIG.replace('batch_size: 1000', 'batch_size: 1000000').replace('max_bytes: 1073741824', 'max_bytes: 9007199254740993');
    expect(problems(text)).toEqual([
      'gw.yaml:3 write.batch_size: must be <= 100000',
      'gw.yaml:4 spool.max_bytes: must be <= 1099511627776',
    ]);
    expect(problems(CONFIG.replace('gateway: gw-1', `gateway: ${'g'.repeat(86)}`))).toEqual(['gw.yaml:1 gateway: at most 85 bytes (it names the journal directory)']);
  });

  it('collector --check exits 2 on a duration too long for a timer', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'collector-bounds-'));
    try {
      const file = path.join(dir, 'gw.yaml');
      await fs.writeFile(file, CONFIG.replace('poll_interval: 10s', 'poll_interval: 30d'));
      const failed = await run(process.execPath, ['dist/bin/collector.js', '--config', file, '--check']).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failed?.code).toBe(2);
      expect(failed?.stderr).toContain('gw.yaml:2 poll_interval: 30d is longer than a timer can hold');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
