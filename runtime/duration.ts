/** Durations as people write them in configs and env vars: `500ms`, `10s`, `1m`, `2h`, `90d`. */
const UNITS_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;

export const DURATION_HINT = 'a duration such as 500ms, 10s, 1m, 2h or 90d';

/** Milliseconds of a duration string, or `undefined` when it is not one. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const [, amount, unit] = match as unknown as [string, string, keyof typeof UNITS_MS];
  const ms = Number(amount) * UNITS_MS[unit];
  return Number.isFinite(ms) && ms > 0 ? Math.round(ms) : undefined;
}

export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNITS_MS[unit] && ms % UNITS_MS[unit] === 0) return `${ms / UNITS_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
