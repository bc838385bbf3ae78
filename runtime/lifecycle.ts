import type { Logger } from 'pino';

type Hook = { readonly name: string; readonly fn: () => Promise<void> | void };

/**
 * Orderly shutdown for a process: components register what must happen before exit (flush the
 * collector's batches, stop the scheduler, close pools, stop the embedded PostgreSQL) and it runs
 * in reverse order of registration, so what started last stops first. SIGINT and SIGTERM start it;
 * a second signal exits at once, for the operator whose Ctrl-C is not being answered.
 */
export class Lifecycle {
  readonly #hooks: Hook[] = [];
  readonly #abort = new AbortController();
  #shutdown: Promise<void> | undefined;
  #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Aborted when shutdown begins: long-running loops watch it to stop taking new work. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get stopping(): boolean {
    return this.#abort.signal.aborted;
  }

  onShutdown(name: string, fn: () => Promise<void> | void): void {
    this.#hooks.push({ name, fn });
  }

  /** Runs every hook once, newest first; a failing hook is logged and does not stop the others. */
  shutdown(reason: string): Promise<void> {
    this.#shutdown ??= (async () => {
      this.#log.info({ reason }, 'shutting down');
      this.#abort.abort(new Error(reason));
      for (const hook of this.#hooks.reverse()) {
        try {
          await hook.fn();
        } catch (error) {
          this.#log.error({ err: error, hook: hook.name }, 'shutdown step failed');
        }
      }
    })();
    return this.#shutdown;
  }

  /** Resolves when SIGINT or SIGTERM has been received and shutdown has finished. */
  untilSignalled(): Promise<NodeJS.Signals> {
    return new Promise((resolve) => {
      // Signal listeners alone do not keep Node's event loop alive.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      const onSignal = (signal: NodeJS.Signals) => {
        clearInterval(keepAlive);
        if (this.#shutdown) {
          this.#log.warn({ signal }, 'second signal: exiting without waiting for shutdown');
          process.exit(130);
        }
        void this.shutdown(signal).then(() => resolve(signal));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
  }
}
