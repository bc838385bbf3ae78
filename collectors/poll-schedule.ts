/**
 * Fixed-rate ticks aligned to multiples of `intervalMs` since the Unix epoch: each tick's time is
 * computed from the schedule, not from when the previous timer fired, so polls never drift, and
 * every gateway polls a 10 s device at :00, :10, :20. Ticks missed because the event loop was
 * blocked are reported to `onMissed` instead of being run late in a burst.
 */
export class PollSchedule {
  readonly #intervalMs: number;
  readonly #onTick: (scheduledAt: number) => void;
  readonly #onMissed: (ticks: number) => void;
  #next: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(intervalMs: number, onTick: (scheduledAt: number) => void, onMissed: (ticks: number) => void = () => {}) {
    this.#intervalMs = intervalMs;
    this.#onTick = onTick;
    this.#onMissed = onMissed;
    this.#next = (Math.floor(Date.now() / intervalMs) + 1) * intervalMs;
    this.#arm();
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, this.#next - Date.now()));
  }

  #fire(): void {
    const now = Date.now();
    if (now < this.#next) {
      this.#arm();
      return;
    }
    const late = Math.floor((now - this.#next) / this.#intervalMs);
    if (late > 0) {
      this.#onMissed(late);
      this.#next += late * this.#intervalMs;
    }
    const scheduledAt = this.#next;
    this.#next += this.#intervalMs;
    this.#onTick(scheduledAt);
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
