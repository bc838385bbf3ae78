/**
 * Fixed-rate ticks at `phaseMs` past multiples of `intervalMs` since the Unix epoch: each tick's
 * time is computed from the schedule, not from when the previous timer fired, so polls never
 * drift. Ticks missed because the event loop was blocked are reported to `onMissed` instead of
 * being run late in a burst.
 */
export class PollSchedule {
  readonly #intervalMs: number;
  readonly #onTick: (scheduledAt: number) => void;
  readonly #onMissed: (ticks: number) => void;
  #next: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(intervalMs: number, onTick: (scheduledAt: number) => void, onMissed: (ticks: number) => void = () => {}, phaseMs = 0) {
    this.#intervalMs = intervalMs;
    this.#onTick = onTick;
    this.#onMissed = onMissed;
    this.#next = (Math.floor((Date.now() - phaseMs) / intervalMs) + 1) * intervalMs + phaseMs;
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

/**
 * Where in its interval each device is polled. Endpoints are spread evenly over the interval, so
 * that a gateway's requests (and its database writes) come as an even stream instead of a burst
 * at every tick, which would make each endpoint wait for the others' traffic. The unit ids behind
 * one endpoint keep one phase: they share a serial line, and polling them together lets the
 * endpoint's queue put healthy units ahead of failing ones, which a failing unit's timeout would
 * otherwise hold up.
 */
export function pollPhases(devices: readonly { readonly endpoint: string; readonly intervalMs: number }[]): number[] {
  const endpoints = [...new Set(devices.map((device) => device.endpoint))];
  return devices.map((device) => Math.floor((endpoints.indexOf(device.endpoint) / endpoints.length) * device.intervalMs));
}
