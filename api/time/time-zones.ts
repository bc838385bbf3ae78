/**
 * Calendar dates in an IANA time zone, from Intl's tz database (the same IANA data PostgreSQL
 * uses). Needed to turn `from=2024-03-31` into the instant midnight is in PLANT_TIMEZONE.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, format);
  }
  return format;
}

/** Milliseconds the zone's wall clock is ahead of UTC at `instant`. */
function offsetAt(instant: number, zone: string): number {
  const parts = Object.fromEntries(formatter(zone).formatToParts(instant).map((part) => [part.type, part.value]));
  const wall = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return wall - Math.floor(instant / 1000) * 1000;
}

/**
 * The first instant of the local date in `zone` (midnight, or the first minute after it where
 * a DST change skips midnight).
 */
export function startOfLocalDay(year: number, month: number, day: number, zone: string): Date {
  const wall = Date.UTC(year, month - 1, day);
  let instant = wall - offsetAt(wall, zone);
  const corrected = wall - offsetAt(instant, zone);
  if (corrected !== instant) {
    // Midnight falls in a DST gap for one of the two offsets: take the later instant that is
    // still on that date.
    instant = Math.max(instant, corrected);
  }
  return new Date(instant);
}

/** The local calendar date of `instant` in `zone`, as [year, month, day]. */
export function localDate(instant: Date, zone: string): [number, number, number] {
  const parts = Object.fromEntries(formatter(zone).formatToParts(instant).map((part) => [part.type, part.value]));
  return [Number(parts.year), Number(parts.month), Number(parts.day)];
}
