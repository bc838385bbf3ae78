/**
 * Recently sent pages of complete past hours, kept with the version of the rows they were made
 * from (see hourlyVersion). Dashboards ask for the same past windows again and again; checking
 * the version reads the page's rows but builds no JSON (and concurrent requests for one page
 * share one check, see SharedChecks), so a repeated request costs a fraction of a fresh one, and
 * any change to those rows (late readings re-aggregated, a backfill, a deletion) changes the
 * version and the page is made afresh.
 */
export interface CachedPage {
  readonly version: string;
  /** The body as bytes: sent as is, without encoding a 200 KB string again for each request. */
  readonly payload: Buffer;
  readonly etag: string;
  /** The Link header sent with it (there is a next page). */
  readonly link: string | undefined;
}

export class ResponseCache {
  readonly #entries = new Map<string, CachedPage>();
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxEntries = 256, maxBytes = 64 * 1024 * 1024) {
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
  }

  /** Whether a page is kept for `key` (worth checking its version before making it afresh). */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  get(key: string, version: string): CachedPage | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.version !== version) {
      this.#bytes -= entry.payload.length;
      return undefined;
    }
    // Most recently used last: Map keeps insertion order, so the first key is the eviction candidate.
    this.#entries.set(key, entry);
    return entry;
  }

  set(key: string, entry: CachedPage): void {
    if (entry.payload.length > this.#maxBytes / 4) return;
    const previous = this.#entries.get(key);
    if (previous) {
      this.#bytes -= previous.payload.length;
      this.#entries.delete(key);
    }
    this.#entries.set(key, entry);
    this.#bytes += entry.payload.length;
    for (const [oldest, value] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries && this.#bytes <= this.#maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= value.payload.length;
    }
  }
}
