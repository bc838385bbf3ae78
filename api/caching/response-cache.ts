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
  /** The same body brotli- and gzip-compressed, once compressed (in the background, after the page is kept). */
  encoded: Partial<Record<ContentCoding, Buffer>>;
  /** The latest database snapshot in which the page's version was read (see versionSince). */
  snapshot: string | undefined;
}

const sizeOf = (page: CachedPage) => page.payload.length + (page.encoded.br?.length ?? 0) + (page.encoded.gzip?.length ?? 0);

export class ResponseCache {
  readonly #pages: BoundedCache<string, CachedPage>;

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

  /**
   * Keeps a page, and compresses it once in the background (zlib's thread pool, off the event
   * loop): requests that come before that is done get it uncompressed, later ones the smaller body.
   */
  set(key: string, page: Omit<CachedPage, 'encoded' | 'snapshot'>): void {
    const kept: CachedPage = { ...page, encoded: {}, snapshot: undefined };
    this.#pages.set(key, kept);
    if (!this.#pages.has(key)) return;
    void Promise.all([brotli(page.payload, { params: { [constants.BROTLI_PARAM_QUALITY]: 9, [constants.BROTLI_PARAM_SIZE_HINT]: page.payload.length } }), gzipAsync(page.payload, { level: 6 })]).then(
      ([br, gz]) => {
        if (this.#pages.peek(key) !== kept) return;
        kept.encoded = { br, gzip: gz };
        // Counted again with its compressed bodies (which may evict older pages).
        this.#pages.set(key, kept);
      },
      () => undefined,
    );
  }

  /** Pages and bytes kept (tests hold them to the bounds). */
  get size(): { entries: number; bytes: number } {
    return { entries: this.#pages.size, bytes: this.#pages.bytes };
  }
}
