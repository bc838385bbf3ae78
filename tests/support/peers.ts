import { execFileSync } from 'node:child_process';
import { describe } from 'vitest';

/** A third-party program a test needs, and the Debian package that provides it. */
export interface Peer {
  readonly name: string;
  readonly debianPackage: string;
  /** True when the program is usable here. */
  available(): boolean;
}

export function commandPeer(name: string, debianPackage: string, command: string, args: readonly string[] = ['--version']): Peer {
  return {
    name,
    debianPackage,
    available: () => {
      try {
        execFileSync(command, args, { stdio: 'ignore', timeout: 20_000 });
        return true;
      } catch {
        return false;
      }
    },
  };
}

export const peers = {
  // The server module, not just the package: Debian's pymodbus server imports serial_asyncio,
  // which python3-pymodbus only recommends.
  pymodbus: commandPeer('pymodbus', 'python3-pymodbus python3-serial-asyncio', '/usr/bin/python3', ['-c', 'import pymodbus.server']),
  // pymodbus serving RTU on a serial port needs pyserial (python3-serial) as well.
  pymodbusSerial: commandPeer('pymodbus with pyserial', 'python3-pymodbus python3-serial python3-serial-asyncio', '/usr/bin/python3', ['-c', 'import serial, pymodbus.server']),
  socat: commandPeer('socat', 'socat', 'socat', ['-V']),
  chromium: commandPeer('Chromium', 'chromium', '/usr/bin/chromium', ['--version']),
  promtool: commandPeer('promtool', 'prometheus', 'promtool', ['--version']),
  prometheus: commandPeer('Prometheus', 'prometheus', 'prometheus', ['--version']),
  dockerCompose: commandPeer('docker-compose', 'docker-compose', 'docker-compose', ['version']),
  mbpoll: commandPeer('mbpoll', 'mbpoll', 'mbpoll', ['-h']),
} as const;

/**
 * `describe` for tests that need programs from Debian: where it is missing they are skipped
 * with a loud line naming the package; under CI (CI set) they fail instead, so CI cannot pass
 * without them.
 */
export function describeWithPeer(needed: Peer | readonly Peer[], title: string, fn: () => void): void {
  const peer = (Array.isArray(needed) ? (needed as readonly Peer[]) : [needed as Peer]).find((candidate) => !candidate.available());
  if (!peer) {
    describe(title, fn);
    return;
  }
  const message = `${peer.name} is not installed: apt-get install -y ${peer.debianPackage}`;
  if (process.env.CI) {
    describe(title, () => {
      throw new Error(`${message} (CI requires it; .ci/run installs it)`);
    });
    return;
  }
  process.stderr.write(`\n*** SKIPPING "${title}": ${message} ***\n\n`);
  describe.skip(`${title} [SKIPPED: ${message}]`, fn);
}
