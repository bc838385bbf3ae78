/**
 * Lets concurrent requests share one freshness check per key without ever trusting a check that
 * started before a request arrived: a caller joins the check queued behind the running one (it
 * starts when the running one settles, so after the caller asked), or starts one when none runs.
 * Under N concurrent requests for the same page this is one database round trip per batch instead
 * of one per request, and a late change committed before a request arrived is still seen by the
 * check that answers it (the same guarantee as one query per request).
 */
export class SharedChecks<T> {
  readonly #running = new Map<string, Promise<T>>();
  readonly #queued = new Map<string, Promise<T>>();

  run(key: string, check: () => Promise<T>): Promise<T> {
    const running = this.#running.get(key);
    if (running === undefined) return this.#start(key, check);
    const queued = this.#queued.get(key);
    if (queued !== undefined) return queued;
    const settled = () => undefined;
    const next = running.then(settled, settled).then(() => {
      this.#queued.delete(key);
      return this.#start(key, check);
    });
    this.#queued.set(key, next);
    return next;
  }

  #start(key: string, check: () => Promise<T>): Promise<T> {
    const started = check();
    this.#running.set(key, started);
    const done = () => {
      if (this.#running.get(key) === started) this.#running.delete(key);
    };
    started.then(done, done);
    return started;
  }
}
