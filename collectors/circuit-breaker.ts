/**
 * Per-unit circuit breaker: after `threshold` failed polls in a row the unit is left alone for a
 * pause that doubles on every failed probe (up to `maxPauseMs`), then one probe poll decides.
 * Behind a shared serial gateway every request to a dead unit costs the bus a full timeout, which
 * is what would otherwise make its neighbours late. Times are monotonic (`performance.now()`), so
 * a wall-clock step neither stretches nor cuts a pause.
 */
export class CircuitBreaker {
  #failures = 0;
  #pauseMs: number;
  #openUntil = 0;
  readonly #threshold: number;
  readonly #basePauseMs: number;
  readonly #maxPauseMs: number;

  constructor(options: { threshold?: number; basePauseMs: number; maxPauseMs?: number }) {
    this.#threshold = options.threshold ?? 3;
    this.#basePauseMs = options.basePauseMs;
    this.#pauseMs = options.basePauseMs;
    this.#maxPauseMs = options.maxPauseMs ?? 60_000;
  }

  get failures(): number {
    return this.#failures;
  }

  get open(): boolean {
    return this.#failures >= this.#threshold;
  }

  /** Whether a poll may run now (a probe when the breaker is open and its pause is over). */
  allows(now: number): boolean {
    return !this.open || now >= this.#openUntil;
  }

  success(): void {
    this.#failures = 0;
    this.#pauseMs = this.#basePauseMs;
    this.#openUntil = 0;
  }

  failure(now: number): void {
    this.#failures += 1;
    if (this.#failures < this.#threshold) return;
    if (this.#failures > this.#threshold) this.#pauseMs = Math.min(this.#maxPauseMs, this.#pauseMs * 2);
    this.#openUntil = now + this.#pauseMs;
  }
}
