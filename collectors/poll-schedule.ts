/**
 * Fixed-rate ticks at `phaseMs` past multiples of `intervalMs` since the Unix epoch: each tick's
 * time is computed from the schedule, not from when the previous timer fired, so polls never
 * drift. Ticks missed because the event loop was blocked are reported to `onMissed` instead of
 * being run late in a burst. The phase is taken from the wall clock once, at the start; from then
 * on the schedule runs on the monotonic clock (`performance.now()`), so a wall-clock step (NTP
 * correcting a clock kept in local time, an operator's `date -s`) neither stops polling nor
 * reports a burst of missed ticks. `onTick` gets the tick's monotonic time.
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
    const wall = Date.now();
    const firstWall = (Math.floor((wall - phaseMs) / intervalMs) + 1) * intervalMs + phaseMs;
    this.#next = performance.now() + (firstWall - wall);
    this.#arm();
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, this.#next - performance.now()));
  }

  #fire(): void {
    const now = performance.now();
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

/** How far the wall clock may move against the monotonic one before it counts as a step. */
export const CLOCK_STEP_THRESHOLD_MS = 5_000;

/**
 * Watches the wall clock against the monotonic one and reports steps of more than
 * CLOCK_STEP_THRESHOLD_MS: capture_dt is wall-clock time, so an operator needs to know when it
 * jumped, even though polling itself does not care.
 */
export class ClockStepWatch {
  #offset = Date.now() - performance.now();
  readonly #timer: NodeJS.Timeout;

  constructor(onStep: (stepMs: number) => void, everyMs = 1_000) {
    this.#timer = setInterval(() => {
      const offset = Date.now() - performance.now();
      const step = offset - this.#offset;
      this.#offset = offset;
      if (Math.abs(step) > CLOCK_STEP_THRESHOLD_MS) onStep(Math.round(step));
    }, everyMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
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
