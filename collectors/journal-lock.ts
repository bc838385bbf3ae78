import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errors } from '../runtime/errors.js';
import type { Logger } from '../runtime/logger.js';

/**
 * One owner per journal directory. The owner holds `LOCK`, a file naming its pid, the pid's start
 * time (from /proc, so a recycled pid is not mistaken for the owner), its host and boot, and keeps
 * its mtime fresh every few seconds. A lock is stale, and taken over, when its process is gone on
 * this host and boot, or, for an owner on another host sharing the volume (a second container),
 * when it has not been refreshed for STALE_MS. No lock library does the pid check: proper-lockfile
 * only knows mtimes, which would make every restart after a SIGKILL wait out the stale period.
 */
const LOCK_FILE = 'LOCK';
const REFRESH_MS = 5_000;
const STALE_MS = 20_000;

interface LockOwner {
  readonly pid: number;
  readonly startTicks: string | null;
  readonly host: string;
  readonly bootId: string | null;
  readonly since: string;
}

function readOr(file: string, fallback: string | null): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
function startTicksOf(pid: number): string | null {
  const stat = readOr(`/proc/${pid}/stat`, null);
  if (stat === null) return null;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

function ownerIsAlive(owner: LockOwner, lockFile: string): boolean {
  const here = owner.host === os.hostname() && owner.bootId === readOr('/proc/sys/kernel/random/boot_id', null);
  if (here) {
    try {
      process.kill(owner.pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
    }
    return owner.startTicks === null || startTicksOf(owner.pid) === owner.startTicks;
  }
  try {
    return Date.now() - fs.statSync(lockFile).mtimeMs < STALE_MS;
  } catch {
    return false;
  }
}

export class JournalLock {
  readonly #file: string;
  readonly #owner: LockOwner;
  readonly #timer: NodeJS.Timeout;
  readonly #log: Logger;

  private constructor(file: string, owner: LockOwner, log: Logger) {
    this.#file = file;
    this.#owner = owner;
    this.#log = log;
    this.#timer = setInterval(() => this.#refresh(), REFRESH_MS);
    this.#timer.unref();
  }

  /** Takes the lock of `dir` or throws a usage error (exit 2) naming the process that holds it. */
  static acquire(dir: string, log: Logger): JournalLock {
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, LOCK_FILE);
    const owner: LockOwner = {
      pid: process.pid,
      startTicks: startTicksOf(process.pid),
      host: os.hostname(),
      bootId: readOr('/proc/sys/kernel/random/boot_id', null),
      since: new Date().toISOString(),
    };
    const candidate = `${file}.${process.pid}`;
    fs.writeFileSync(candidate, `${JSON.stringify(owner)}\n`);
    try {
      for (let attempt = 0; attempt < 3; attempt += 1) {
        try {
          // link() fails if LOCK exists: of two collectors starting together exactly one wins.
          fs.linkSync(candidate, file);
          return new JournalLock(file, owner, log);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        let holder: LockOwner | undefined;
        try {
          holder = JSON.parse(fs.readFileSync(file, 'utf8')) as LockOwner;
        } catch {
          holder = undefined;
        }
        if (holder && ownerIsAlive(holder, file)) {
          throw errors.config(
            dir,
            `the journal directory is in use by another collector: pid ${holder.pid} on ${holder.host} (since ${holder.since}). ` +
              'Two collectors must not share one directory: stop the other one, or give this gateway another name or PLANT_DATA_DIR.',
          );
        }
        log.warn({ dir, previousOwner: holder ?? 'unreadable' }, 'taking over the journal lock of a collector that is gone');
        fs.rmSync(file, { force: true });
      }
      throw errors.config(dir, 'could not take the journal lock (it kept changing hands); is another collector starting on this directory?');
    } finally {
      fs.rmSync(candidate, { force: true });
    }
  }

  #refresh(): void {
    try {
      const holder = JSON.parse(fs.readFileSync(this.#file, 'utf8')) as LockOwner;
      if (holder.pid !== this.#owner.pid || holder.since !== this.#owner.since || holder.host !== this.#owner.host) {
        this.#log.error({ file: this.#file, holder }, 'another process took this collector\'s journal lock: two collectors may be writing one journal');
        return;
      }
      const now = new Date();
      fs.utimesSync(this.#file, now, now);
    } catch (error) {
      this.#log.warn({ err: error, file: this.#file }, 'could not refresh the journal lock');
    }
  }

  release(): void {
    clearInterval(this.#timer);
    try {
      const holder = JSON.parse(fs.readFileSync(this.#file, 'utf8')) as LockOwner;
      if (holder.pid === this.#owner.pid && holder.since === this.#owner.since) fs.rmSync(this.#file, { force: true });
    } catch {
      // Already gone.
    }
  }
}
