/**
 * One database read per Prometheus scrape, shared by the gauges it feeds. prom-client runs every
 * metric's `collect()` of a scrape concurrently, so gauges set from one query must each await the
 * same read (a gauge without a collect of its own would show the previous scrape's value). A
 * read that fails resolves to `undefined` after `onError`: the scrape still answers with every
 * other metric, and the gauges fed by the read are left without values.
 */
export function scrapeRead<T>(read: () => Promise<T>, onError: (error: unknown) => void): () => Promise<T | undefined> {
  let inFlight: Promise<T | undefined> | undefined;
  return () => {
    inFlight ??= read()
      .catch((error: unknown) => {
        onError(error);
        return undefined;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
}
