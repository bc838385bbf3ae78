import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, ClockStepWatch, PollSchedule } from '../collectors/index.js';

const HOUR = 3_600_000;

describe('polling through a wall-clock step', () => {
  beforeEach(() => {
    // Date, timers and performance.now are all faked; setSystemTime moves only the wall clock.
    vi.useFakeTimers({ now: Date.UTC(2024, 5, 1, 12, 0, 0) });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  for (const step of [-2 * HOUR, 2 * HOUR]) {
    it(`keeps ticking every interval when the wall clock steps ${step > 0 ? '+' : '-'}2 h, reports no missed ticks, and counts the step`, () => {
      const ticks: number[] = [];
      const missed: number[] = [];
      const steps: number[] = [];
      const schedule = new PollSchedule(1_000, (at) => ticks.push(at), (n) => missed.push(n), 250);
      const watch = new ClockStepWatch((ms) => steps.push(ms));
      vi.advanceTimersByTime(5_000);
      expect(ticks).toHaveLength(5);
      vi.setSystemTime(Date.now() + step);
      vi.advanceTimersByTime(10_000);
      expect(ticks).toHaveLength(15);
      // Evenly spaced on the monotonic clock, through the step.
      expect(ticks.slice(1).map((at, i) => at - ticks[i])).toEqual(Array(14).fill(1_000));
      expect(missed).toEqual([]);
      expect(steps).toEqual([step]);
      schedule.stop();
      watch.stop();
    });
  }

  it('keeps a circuit breaker pause as long as configured through a step', () => {
    const breaker = new CircuitBreaker({ threshold: 1, basePauseMs: 10_000 });
    breaker.failure(performance.now());
    vi.setSystemTime(Date.now() + 2 * HOUR);
    vi.advanceTimersByTime(5_000);
    expect(breaker.allows(performance.now())).toBe(false);
    vi.setSystemTime(Date.now() - 4 * HOUR);
    vi.advanceTimersByTime(5_000);
    expect(breaker.allows(performance.now())).toBe(true);
  });
});
