import { BoundedCache } from '../caching/bounded-cache.js';

/**
 * Calendar dates in an IANA time zone, from Intl's tz database (the same IANA data PostgreSQL
 * uses). Needed to turn `from=2024-03-31` into the instant midnight is in PLANT_TIMEZONE or `tz`.
 *
 * Intl accepts any capitalisation of a zone name (`eUROPE/berlin`) and each formatter costs about
 * 29 KB, so formatters are kept by the zone's resolved (canonical) name, and the spellings seen
 * map to it in a cache of their own; both are bounded, whatever clients send.
 */
const FORMATTER_BYTES = 32 * 1024;
const formatters = new BoundedCache<string, Intl.DateTimeFormat>({ maxEntries: 64, maxBytes: 64 * FORMATTER_BYTES, sizeOf: () => FORMATTER_BYTES });
const spellings = new BoundedCache<string, string>({ maxEntries: 1024, maxBytes: 256 * 1024, sizeOf: (zone) => zone.length * 2 });

function newFormatter(zone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

/** The canonical IANA name of `zone` (any capitalisation, aliases resolved by Intl), or undefined when Intl does not know it. */
export function canonicalZone(zone: string): string | undefined {
  const known = spellings.get(zone);
  if (known !== undefined) return known;
  let format: Intl.DateTimeFormat;
  try {
    format = newFormatter(zone);
  } catch {
    return undefined;
  }
  const name = format.resolvedOptions().timeZone;
  spellings.set(zone, name);
  if (!formatters.has(name)) formatters.set(name, format);
  return name;
}

function formatter(zone: string): Intl.DateTimeFormat {
  const name = canonicalZone(zone);
  if (name === undefined) throw new RangeError(`not an IANA time zone: ${JSON.stringify(zone)}`);
  let format = formatters.get(name);
  if (!format) {
    format = newFormatter(name);
    formatters.set(name, format);
  }
  return format;
}

/** Entries and bytes of the two caches (tests hold them to their bounds). */
export function timeZoneCacheSizes(): { formatters: number; formatterBytes: number; spellings: number; spellingBytes: number } {
  return { formatters: formatters.size, formatterBytes: formatters.bytes, spellings: spellings.size, spellingBytes: spellings.bytes };
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
