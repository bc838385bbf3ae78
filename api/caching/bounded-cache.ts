export interface BoundedCacheOptions<V> {
  /** Entries kept at most. */
  readonly maxEntries: number;
  /** Bytes kept at most, as `sizeOf` counts them. */
  readonly maxBytes: number;
  /** An entry's size in bytes (keys are counted as two bytes a character on top). */
  readonly sizeOf: (value: V) => number;
}

/**
 * The one cache shape of the API: least recently used entries go first once either bound is
 * passed, so no input, however varied, grows the process past `maxBytes`. A value bigger than a
 * quarter of the budget is not kept (it would evict everything else for one request).
 */
export class BoundedCache<K extends string, V> {
  readonly #entries = new Map<K, { value: V; bytes: number }>();
  readonly #options: BoundedCacheOptions<V>;
  #bytes = 0;

  constructor(options: BoundedCacheOptions<V>) {
    this.#options = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** The value, leaving the order of use alone. */
  peek(key: K): V | undefined {
    return this.#entries.get(key)?.value;
  }

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    // Map keeps insertion order: re-inserting makes the first key the eviction candidate.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  set(key: K, value: V): void {
    this.delete(key);
    const bytes = this.#options.sizeOf(value) + key.length * 2;
    if (bytes > this.#options.maxBytes / 4) return;
    this.#entries.set(key, { value, bytes });
    this.#bytes += bytes;
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size <= this.#options.maxEntries && this.#bytes <= this.#options.maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
  }

  delete(key: K): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}
