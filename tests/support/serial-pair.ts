import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { waitFor } from './modbus-processes.js';

export interface SerialPair {
  /** The end the collector opens. */
  readonly collectorEnd: string;
  /** The end the peer (pymodbus) opens. */
  readonly peerEnd: string;
  stop(): Promise<void>;
}

/**
 * A virtual serial line: socat joins two pseudo-terminals, raw and without echo, and links them
 * at `dir/collector` and `dir/peer`. Stopped by its own pid.
 */
export async function startSerialPair(dir: string): Promise<SerialPair> {
  const collectorEnd = path.join(dir, 'collector');
  const peerEnd = path.join(dir, 'peer');
  const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${collectorEnd}`, `pty,raw,echo=0,link=${peerEnd}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  try {
    // socat logs "starting data transfer loop" once both ptys exist and are linked.
    await waitFor('socat to link the pty pair', () => {
      if (child.exitCode !== null) throw new Error(`socat exited: ${errors}`);
      return errors.includes('starting data transfer loop') && fs.existsSync(collectorEnd) && fs.existsSync(peerEnd);
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { collectorEnd, peerEnd, stop };
}
