import { promisify } from 'node:util';
import { brotliCompress, gzip, constants } from 'node:zlib';
import { BoundedCache } from './bounded-cache.js';

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);

export type ContentCoding = 'br' | 'gzip';

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
  /** The same body brotli- or gzip-compressed, once a client asked for it (see ResponseCache.encoded). */
  encoded: Partial<Record<ContentCoding, Buffer>>;
  /** The latest database snapshot in which the page's version was read (see versionSince). */
  snapshot: string | undefined;
}

// Brotli at quality 5 compresses this JSON smaller than gzip -6 in comparable time; the top
// qualities cost several times the CPU for a few % (measured in bench/api-hourly.ts).
const compress = (body: Buffer, coding: ContentCoding): Promise<Buffer> =>
  coding === 'br'
    ? brotli(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: body.length, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } })
    : gzipAsync(body, { level: 6 });

const sizeOf = (page: CachedPage) => page.payload.length + (page.encoded.br?.length ?? 0) + (page.encoded.gzip?.length ?? 0);

export class ResponseCache {
  readonly #pages: BoundedCache<string, CachedPage>;
  readonly #compressing = new WeakMap<CachedPage, Set<ContentCoding>>();

  constructor(maxEntries = 256, maxBytes = 64 * 1024 * 1024) {
    this.#pages = new BoundedCache({ maxEntries, maxBytes, sizeOf });
  }

  /** The page kept for `key` whatever its version (worth checking before making it afresh). */
  peek(key: string): CachedPage | undefined {
    return this.#pages.peek(key);
  }

  /** The page for `key` if it has `checked.version`; it is then known fresh as of `checked.snapshot`. */
  get(key: string, checked: { readonly version: string; readonly snapshot?: string }): CachedPage | undefined {
    const page = this.#pages.get(key);
    if (page && page.version !== checked.version) {
      this.#pages.delete(key);
      return undefined;
    }
    if (page && checked.snapshot !== undefined) page.snapshot = checked.snapshot;
    return page;
  }

  /** Keeps a page (uncompressed; see `encoded`). */
  set(key: string, page: Omit<CachedPage, 'encoded' | 'snapshot'>): void {
    this.#pages.set(key, { ...page, encoded: {}, snapshot: undefined });
  }

  /**
   * The page's body in `coding`, or undefined while it is not compressed yet. The first request
   * that asks for a coding starts compressing the page in that coding in the background (zlib's
   * thread pool, off the event loop); it and the requests before the result is in get the body
   * uncompressed. Pages asked for once, and codings nobody asks for, cost no compression.
   */
  encoded(key: string, page: CachedPage, coding: ContentCoding): Buffer | undefined {
    const ready = page.encoded[coding];
    if (ready !== undefined) return ready;
    let pending = this.#compressing.get(page);
    if (pending?.has(coding)) return undefined;
    if (!pending) this.#compressing.set(page, (pending = new Set()));
    pending.add(coding);
    void compress(page.payload, coding).then(
      (body) => {
        pending.delete(coding);
        if (this.#pages.peek(key) !== page) return;
        page.encoded = { ...page.encoded, [coding]: body };
        // Counted again with its compressed body (which may evict older pages).
        this.#pages.set(key, page);
      },
      () => pending.delete(coding),
    );
    return undefined;
  }

  /** Pages and bytes kept (tests hold them to the bounds). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.#pages.size, bytes: this.#pages.bytes };
  }
}
