import { apiErrors } from '../problems/api-errors.js';

// Nobody reads the answer; a 503 rather than an Error keeps it out of the 5xx error log.
const clientGone = () => apiErrors.unavailable('the client went away while waiting for a download slot', 1);

interface Waiter {
  readonly grant: () => void;
  readonly fail: (error: Error) => void;
}

/**
 * A counting semaphore for streamed responses: at most `size` streams hold a pooled connection
 * at once, so that the rest of the pool is always there for JSON requests. A request waits for a
 * slot for at most `waitMs` (then 503 with Retry-After), and stops waiting when its client hangs
 * up or the server stops, so that no waiter outlives its request.
 */
export class StreamSlots {
  readonly #size: number;
  readonly #waitMs: number;
  readonly #waiters = new Set<Waiter>();
  #used = 0;
  #closed = false;

  constructor(size: number, waitMs: number) {
    this.#size = Math.max(1, size);
    this.#waitMs = waitMs;
  }

  get size(): number {
    return this.#size;
  }

  get inUse(): number {
    return this.#used;
  }

  /** Resolves with the release function of a slot; rejects when `signal` aborts, on timeout or on close. */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (this.#closed) return Promise.reject(apiErrors.unavailable('the server is shutting down', 1));
    if (signal.aborted) return Promise.reject(clientGone());
    if (this.#used < this.#size) {
      this.#used += 1;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#waiters.delete(waiter);
      };
      const waiter: Waiter = {
        grant: () => {
          settle();
          resolve(this.#releaser());
        },
        fail: (error) => {
          settle();
          reject(error);
        },
      };
      const onAbort = () => waiter.fail(clientGone());
      const timer = setTimeout(
        () => waiter.fail(apiErrors.unavailable(`all ${this.#size} download slot(s) are busy; retry shortly or ask for JSON pages`, Math.ceil(this.#waitMs / 1000))),
        this.#waitMs,
      );
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  /** Refuses new and waiting requests (server shutdown); slots already held are released by their streams. */
  close(): void {
    this.#closed = true;
    for (const waiter of [...this.#waiters]) waiter.fail(apiErrors.unavailable('the server is shutting down', 1));
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // Hand the slot straight to the oldest waiter, or give it back.
      const next = this.#waiters.values().next();
      if (!next.done) next.value.grant();
      else this.#used -= 1;
    };
  }
}
