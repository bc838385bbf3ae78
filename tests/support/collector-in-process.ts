import { parseGatewayConfig, startCollector, type RunningCollector } from '../../collectors/index.js';
import { Lifecycle } from '../../runtime/lifecycle.js';
import type { Logger } from '../../runtime/logger.js';
import type { TestDatabase } from './database.js';
import { waitFor } from './modbus-processes.js';

export interface TestCollectorOptions {
  /** Gateway YAML, parsed as the bin parses a file named gw.yaml. */
  readonly text: string;
  readonly database: TestDatabase;
  /** The collector's data directory (its journal goes below it). */
  readonly dataDir: string;
  readonly log: Logger;
}

/**
 * Runs a collector in this process, on the test's database, for as long as `use` runs, and always
 * shuts it down after: what a test that polls peers and looks at the stored rows needs.
 */
export async function withTestCollector<T>(options: TestCollectorOptions, use: (running: RunningCollector) => Promise<T>): Promise<T> {
  const lifecycle = new Lifecycle(options.log);
  try {
    const running = await startCollector({
      gateway: parseGatewayConfig(options.text, 'gw.yaml'),
      config: { databaseUrl: options.database.url, dbSchema: options.database.schema, dataDir: options.dataDir, collector: { metricsPort: 0 } },
      log: options.log,
      lifecycle,
      metricsHost: '127.0.0.1',
    });
    return await use(running);
  } finally {
    await lifecycle.shutdown('test done');
  }
}

/** Waits until `count` locations have a stored reading; returns one reading's values per location, by loc_id. */
export function readingOfEachLocation(database: TestDatabase, count: number) {
  return waitFor(`a reading from each of ${count} locations`, async () => {
    const found = await database.db
      .selectFrom('temperature_raw')
      .select(['loc_id', 'temperature', 'humidity', 'pcv_temperature'])
      .distinctOn('loc_id')
      .orderBy('loc_id')
      .execute();
    return found.length === count ? found : undefined;
  });
}
