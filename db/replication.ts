import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { errors } from '../runtime/errors.js';
import { BREAKS_PLANT_PREFIX, plantPrefixOf } from './location-ids.js';
import { redactUrl } from './pool.js';
import { schemaStatus } from './migrator.js';
import type { Database } from './schema.js';

/**
 * A headquarters mirror on PostgreSQL's logical replication (issue 14): each plant's database
 * publishes what the headquarters API serves (`replication publish`), and the headquarters
 * database subscribes to every plant (`replication subscribe --from URL`), one subscription per
 * plant, all into the same tables. Keys do not collide there because every published table's key
 * starts with `loc_id`, and a plant's loc_ids start with its code (db/location-ids.ts), or, for
 * `device`, because `subscribe` refuses gateway/device ids another plant already uses.
 *
 * The apply workers at headquarters run with session_replication_role = replica, so ordinary
 * triggers do not fire for replicated rows: the dirty-hour marks of a threshold version, the
 * append-only guards and any revision trigger stay at the plant, which is what we want (the plant
 * has computed every value already; headquarters only stores them).
 */

/** The publication's name in every plant database (one plant-climate schema per database). */
export const PUBLICATION = 'plant_climate';

/**
 * The tables a plant publishes: the one list. The headquarters API answers its location, hourly,
 * daily, history, threshold and alarm routes from these (tombstones and history keep the plant's
 * revisions; every key starts with a plant-prefixed loc_id). Not published: the raw table (large; `--with-raw`
 * adds it), the aggregator's own state and marks (plant-local work queues), `audit_log` (each
 * plant's gapless hash chain has ids 1, 2, … of its own: they would collide at headquarters, and
 * the chain is verified at the plant), `headquarters_plant` (headquarters-local).
 */
export const PUBLISHED_TABLES: readonly string[] = ['location', 'location_threshold', 'temperature', 'temperature_tombstone', 'temperature_history', 'device'];

/** Published with `--with-raw`: partitioned by day, so published through its root. */
export const RAW_TABLE = 'temperature_raw';

export interface PublishOptions {
  /** Publish the raw readings too (headquarters then answers `latest` from them). */
  readonly withRaw: boolean;
  /** An existing role with REPLICATION that headquarters connects as: gets CONNECT, USAGE and SELECT on the published tables. */
  readonly replicator?: string;
}

export interface PublishReport {
  readonly publication: string;
  readonly created: boolean;
  readonly tables: readonly string[];
  readonly granted: string | undefined;
}

function list(items: readonly string[], limit = 20): string {
  return items.length > limit ? `${items.slice(0, limit).join(', ')} and ${items.length - limit} more` : items.join(', ');
}

async function walLevel(db: Kysely<unknown>): Promise<string> {
  const { rows } = await sql<{ wal_level: string }>`SHOW wal_level`.execute(db);
  return rows[0]?.wal_level ?? '';
}

/**
 * Creates the publication, or sets its table list to the current one (re-runnable: a new table
 * in PUBLISHED_TABLES is added, `--with-raw` toggles the raw table). Refuses, saying how to fix,
 * when the server does not run with wal_level=logical, a location breaks the plant-prefix rule,
 * or a table has no replica identity (headquarters could not apply its updates and deletes).
 */
export async function publish(db: Kysely<unknown>, schema: string, options: PublishOptions): Promise<PublishReport> {
  const level = await walLevel(db);
  if (level !== 'logical') {
    throw errors.replication(
      `this PostgreSQL runs with wal_level=${level}; publishing needs wal_level=logical. Set it (ALTER SYSTEM SET wal_level = logical, or -c wal_level=logical) and restart the server; ` +
        'the embedded server gets it on its next start (stop every plant-climate process using PLANT_DATA_DIR, then start again)',
    );
  }
  const tables = [...PUBLISHED_TABLES, ...(options.withRaw ? [RAW_TABLE] : [])];
  return db.transaction().execute(async (trx) => {
    const { rows: breaking } = await sql<{ loc_id: string; plant: string }>`
      SELECT loc_id, plant FROM location WHERE ${sql.raw(BREAKS_PLANT_PREFIX)} ORDER BY loc_id LIMIT 21`.execute(trx);
    if (breaking.length > 0) {
      throw errors.replication(
        `location ids must start with their plant's code before a plant publishes to a headquarters (PA-01 in plant PA): ` +
          `${list(breaking.map((row) => `${row.loc_id} (plant ${row.plant})`))}; give each a prefixed id, or set its plant to NULL if it is not part of a multi-plant setup`,
      );
    }
    const { rows: identities } = await sql<{ table: string; found: boolean; replident: string | null; has_key: boolean }>`
      SELECT t.name AS table, c.oid IS NOT NULL AS found, c.relreplident::text AS replident,
             EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND (i.indisprimary OR i.indisreplident)) AS has_key
      FROM unnest(${tables}::text[]) WITH ORDINALITY AS t(name, n)
      LEFT JOIN pg_class c ON c.relname = t.name AND c.relnamespace = ${schema}::regnamespace
      ORDER BY t.n`.execute(trx);
    const missing = identities.filter((row) => !row.found).map((row) => row.table);
    if (missing.length > 0) throw errors.replication(`schema ${schema} has no table ${list(missing)}: run plant-climate migrate first`);
    const keyless = identities.filter((row) => row.replident === 'n' || (row.replident !== 'f' && !row.has_key)).map((row) => row.table);
    if (keyless.length > 0) {
      throw errors.replication(
        `${list(keyless)} ha${keyless.length === 1 ? 's' : 've'} no replica identity (primary key): headquarters could not apply updates and deletes of its rows; ` +
          `give it a primary key (ALTER TABLE … ADD PRIMARY KEY) or ALTER TABLE … REPLICA IDENTITY USING INDEX a unique index`,
      );
    }
    const names = sql.join(tables.map((table) => sql.id(schema, table)));
    const { rows: existing } = await sql<{ exists: boolean }>`SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = ${PUBLICATION}) AS exists`.execute(trx);
    const created = existing[0]?.exists !== true;
    // The raw table is partitioned by day: through its root, new day partitions are published
    // as they are created and headquarters needs only the root table.
    if (created) await sql`CREATE PUBLICATION ${sql.id(PUBLICATION)} FOR TABLE ${names} WITH (publish_via_partition_root = true)`.execute(trx);
    else {
      await sql`ALTER PUBLICATION ${sql.id(PUBLICATION)} SET TABLE ${names}`.execute(trx);
      await sql`ALTER PUBLICATION ${sql.id(PUBLICATION)} SET (publish_via_partition_root = true)`.execute(trx);
    }
    let granted: string | undefined;
    if (options.replicator !== undefined) {
      const { rows: role } = await sql<{ can: boolean }>`SELECT rolreplication OR rolsuper AS can FROM pg_roles WHERE rolname = ${options.replicator}`.execute(trx);
      if (role.length === 0) throw errors.replication(`--replicator: no role ${JSON.stringify(options.replicator)}; create it first: CREATE ROLE ${options.replicator} LOGIN REPLICATION PASSWORD '…'`);
      if (!role[0]?.can) throw errors.replication(`--replicator: role ${options.replicator} lacks REPLICATION; ALTER ROLE ${options.replicator} REPLICATION (as a superuser)`);
      const id = sql.id(options.replicator);
      const { rows: database } = await sql<{ name: string }>`SELECT current_database() AS name`.execute(trx);
      await sql`GRANT CONNECT ON DATABASE ${sql.id(database[0]?.name ?? '')} TO ${id}`.execute(trx);
      await sql`GRANT USAGE ON SCHEMA ${sql.id(schema)} TO ${id}`.execute(trx);
      // kysely_migration too: `subscribe` compares the plant's migrations with headquarters'.
      await sql`GRANT SELECT ON ${names}, ${sql.id(schema, 'kysely_migration')} TO ${id}`.execute(trx);
      granted = `${options.replicator}: CONNECT, USAGE on ${schema}, SELECT on ${tables.join(', ')}, kysely_migration`;
    }
    return { publication: PUBLICATION, created, tables, granted };
  });
}

export interface SubscribeOptions {
  /** The plant's database (the publisher), as headquarters' PostgreSQL will connect to it. */
  readonly from: string;
  /** The plant's code (location.plant); found in the plant's locations when it has exactly one. */
  readonly plant?: string;
}

export interface SubscribeReport {
  readonly plant: string;
  readonly subscription: string;
  readonly created: boolean;
  readonly tables: readonly string[];
}

const PLANT_CODE = /^[A-Za-z0-9_]{1,40}$/;

/** The subscription (and so the replication slot at the plant) of one plant. */
export function subscriptionName(plant: string): string {
  return `plant_climate_${plant.toLowerCase()}`;
}

async function onPublisher<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'plant-climate replication subscribe' });
  try {
    await client.connect();
  } catch (error) {
    throw errors.replication(`cannot connect to the plant's database ${redactUrl(url)}: ${(error as Error).message}`);
  }
  try {
    return await fn(client);
  } catch (error) {
    if ((error as { code?: string }).code === '42501') {
      const user = new URL(url).username || 'the URL\'s user';
      throw errors.replication(`${user} may not read the plant's tables (${(error as Error).message}): run plant-climate replication publish --replicator ${user} at the plant`);
    }
    throw error;
  } finally {
    await client.end();
  }
}

interface PlantFacts {
  readonly migrations: readonly string[] | undefined;
  readonly walLevel: string;
  readonly canReplicate: boolean;
  readonly publishedTables: readonly string[];
  readonly plants: readonly string[];
  readonly devices: readonly { gateway_id: string; device_id: string }[];
}

async function plantFacts(client: pg.Client, schema: string): Promise<PlantFacts> {
  const table = (name: string) => `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`;
  const hasSchema = (await client.query<{ ok: boolean }>('SELECT to_regclass($1) IS NOT NULL AS ok', [`${schema}.kysely_migration`])).rows[0]?.ok === true;
  const migrations = hasSchema ? (await client.query<{ name: string }>(`SELECT name FROM ${table('kysely_migration')} ORDER BY name`)).rows.map((row) => row.name) : undefined;
  const walLevel = (await client.query<{ wal_level: string }>('SHOW wal_level')).rows[0]?.wal_level ?? '';
  const canReplicate = (await client.query<{ can: boolean }>('SELECT rolreplication OR rolsuper AS can FROM pg_roles WHERE rolname = current_user')).rows[0]?.can === true;
  const publishedTables = (
    await client.query<{ name: string }>('SELECT tablename AS name FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 ORDER BY 1', [PUBLICATION, schema])
  ).rows.map((row) => row.name);
  const plants = hasSchema ? (await client.query<{ plant: string }>(`SELECT DISTINCT plant FROM ${table('location')} WHERE plant IS NOT NULL ORDER BY 1`)).rows.map((row) => row.plant) : [];
  const devices = hasSchema ? (await client.query<{ gateway_id: string; device_id: string }>(`SELECT gateway_id, device_id FROM ${table('device')}`)).rows : [];
  return { migrations, walLevel, canReplicate, publishedTables, plants, devices };
}

/**
 * Subscribes the headquarters database `db` (already migrated by the caller with the project's
 * own migrations) to one plant's publication. Refuses, saying how to fix, when the two schemas
 * are at different migrations, the plant has not published, its user may not replicate, its
 * locations lack the plant's prefix, a device key is already another plant's, or the target
 * holds raw readings (it is a plant, not a headquarters). Re-running updates the connection
 * and refreshes the table list (tables added to the publication since are copied).
 */
export async function subscribe(db: Kysely<unknown>, schema: string, options: SubscribeOptions): Promise<SubscribeReport> {
  const facts = await onPublisher(options.from, (client) => plantFacts(client, schema));
  const publisher = redactUrl(options.from);
  if (facts.migrations === undefined) throw errors.replication(`${publisher} has no plant-climate schema ${schema}: run plant-climate migrate and replication publish there first`);
  const local = (await schemaStatus(db, schema)).applied;
  if (facts.migrations.join(',') !== local.join(',')) {
    const only = (a: readonly string[], b: readonly string[]) => a.filter((name) => !b.includes(name));
    throw errors.replication(
      `the plant's schema and headquarters' differ (plant only: ${list(only(facts.migrations, local)) || 'none'}; headquarters only: ${list(only(local, facts.migrations)) || 'none'}): ` +
        'run the same plant-climate version\'s `plant-climate migrate` at both, then subscribe again',
    );
  }
  if (facts.walLevel !== 'logical') throw errors.replication(`the plant's PostgreSQL runs with wal_level=${facts.walLevel}: set wal_level=logical there and restart it, then run plant-climate replication publish`);
  if (facts.publishedTables.length === 0) throw errors.replication(`the plant's database has no publication ${PUBLICATION} of schema ${schema}: run plant-climate replication publish there first`);
  if (!facts.canReplicate) {
    throw errors.replication(`the user of ${publisher} may not replicate: give it REPLICATION (ALTER ROLE … REPLICATION) or connect as a role that has it (plant-climate replication publish --replicator ROLE grants it the tables)`);
  }
  const plant = options.plant ?? (facts.plants.length === 1 ? facts.plants[0] : undefined);
  if (plant === undefined) {
    throw errors.usage(
      facts.plants.length === 0
        ? `the plant's locations name no plant: give them their plant (and prefixed ids, PA-01 in plant PA), or pass --plant CODE`
        : `the plant's locations name several plants (${list(facts.plants)}): pass --plant CODE`,
    );
  }
  if (!PLANT_CODE.test(plant)) throw errors.usage(`--plant: expected letters, digits or _ (up to 40), got ${JSON.stringify(plant)}`);
  const subscription = subscriptionName(plant);

  await onPublisher(options.from, async (client) => {
    const { rows } = await client.query<{ loc_id: string }>(
      `SELECT loc_id FROM ${pg.escapeIdentifier(schema)}.location WHERE NOT starts_with(loc_id, $1) ORDER BY loc_id LIMIT 21`,
      [plantPrefixOf(plant)],
    );
    if (rows.length > 0) {
      throw errors.replication(
        `these locations of plant ${plant} do not start with ${plantPrefixOf(plant)}: ${list(rows.map((row) => row.loc_id))}; ` +
          'at a headquarters shared by several plants every location id carries its plant\'s code (rename them, or pass the right --plant)',
      );
    }
  });
  const { rows: raw } = await sql<{ any: boolean }>`SELECT EXISTS (SELECT 1 FROM temperature_raw) AS any`.execute(db);
  if (raw[0]?.any) {
    throw errors.replication(
      'this database holds raw readings: it is a plant\'s, not a headquarters. A headquarters is a database of its own, where neither collectors nor the aggregator run ' +
        '(`aggregator verify --repair` there would delete every replicated hour, having no raw rows for it)',
    );
  }
  const { rows: taken } = await sql<{ gateway_id: string; device_id: string; loc_id: string }>`
    SELECT d.gateway_id, d.device_id, d.loc_id FROM device d
    JOIN unnest(${facts.devices.map((device) => device.gateway_id)}::text[], ${facts.devices.map((device) => device.device_id)}::text[]) AS p(gateway_id, device_id)
      ON p.gateway_id = d.gateway_id AND p.device_id = d.device_id
    WHERE NOT starts_with(d.loc_id, ${plantPrefixOf(plant)}) ORDER BY 1, 2 LIMIT 21`.execute(db);
  if (taken.length > 0) {
    throw errors.replication(
      `devices of plant ${plant} have the gateway and device ids of another plant's at this headquarters: ${list(taken.map((row) => `${row.gateway_id}/${row.device_id} (${row.loc_id})`))}; ` +
        'give each gateway a plant-unique id (e.g. PA-gw-1) in its collector config',
    );
  }

  const { rows: existing } = await sql<{ exists: boolean }>`SELECT EXISTS (SELECT 1 FROM pg_subscription WHERE subname = ${subscription} AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())) AS exists`.execute(db);
  const created = existing[0]?.exists !== true;
  if (created) {
    // The first copy inserts every row of the plant: rows left from an earlier subscription
    // would collide with it and stop the subscription at its first duplicate key.
    const { rows: left } = await sql<{ any: boolean }>`SELECT EXISTS (SELECT 1 FROM location WHERE starts_with(loc_id, ${plantPrefixOf(plant)})) AS any`.execute(db);
    if (left[0]?.any) {
      throw errors.replication(
        `headquarters still holds plant ${plant}'s rows from an earlier subscription; the first copy would collide with them. Delete them first ` +
          `(DELETE FROM each of ${PUBLISHED_TABLES.join(', ')} WHERE starts_with(loc_id, '${plantPrefixOf(plant)}')), then subscribe again`,
      );
    }
  }
  const connection = sql.raw(pg.escapeLiteral(options.from));
  // Outside a transaction: CREATE SUBSCRIPTION creates the slot at the plant, which it may not
  // do inside a transaction block. copy_data: the first sync copies what the plant has.
  if (created) {
    await sql`CREATE SUBSCRIPTION ${sql.id(subscription)} CONNECTION ${connection} PUBLICATION ${sql.id(PUBLICATION)} WITH (copy_data = true)`.execute(db);
  } else {
    await sql`ALTER SUBSCRIPTION ${sql.id(subscription)} CONNECTION ${connection}`.execute(db);
    await sql`ALTER SUBSCRIPTION ${sql.id(subscription)} ENABLE`.execute(db);
    await sql`ALTER SUBSCRIPTION ${sql.id(subscription)} REFRESH PUBLICATION WITH (copy_data = true)`.execute(db);
  }
  await sql`
    INSERT INTO headquarters_plant (plant, subscription, publisher) VALUES (${plant}, ${subscription}, ${publisher})
    ON CONFLICT (plant) DO UPDATE SET subscription = excluded.subscription, publisher = excluded.publisher`.execute(db);
  return { plant, subscription, created, tables: facts.publishedTables };
}

/**
 * Drops a plant's subscription at headquarters, which also drops its replication slot at the
 * plant (so the plant stops keeping WAL for it). The plant's rows stay at headquarters.
 */
export async function unsubscribe(db: Kysely<unknown>, plant: string): Promise<{ subscription: string; dropped: boolean }> {
  const subscription = subscriptionName(plant);
  const { rows } = await sql<{ exists: boolean }>`SELECT EXISTS (SELECT 1 FROM pg_subscription WHERE subname = ${subscription}) AS exists`.execute(db);
  if (rows[0]?.exists) {
    try {
      await sql`DROP SUBSCRIPTION ${sql.id(subscription)}`.execute(db);
    } catch (error) {
      throw errors.replication(
        `dropping ${subscription} failed (${(error as Error).message}). When the plant cannot be reached: ALTER SUBSCRIPTION ${subscription} DISABLE; ` +
          `ALTER SUBSCRIPTION ${subscription} SET (slot_name = NONE); DROP SUBSCRIPTION ${subscription}; and at the plant: SELECT pg_drop_replication_slot('${subscription}')`,
      );
    }
  }
  await sql`DELETE FROM headquarters_plant WHERE plant = ${plant}`.execute(db);
  return { subscription, dropped: rows[0]?.exists === true };
}

export interface HeadquartersFacts {
  /** The plants this database subscribes to; empty at a plant. */
  readonly plants: readonly string[];
  /** The raw table is among the subscribed tables (the plants publish `--with-raw`). */
  readonly rawReplicated: boolean;
}

/** Whether this database is a headquarters (it subscribes to plants), and what it replicates. */
export async function headquartersFacts(db: Kysely<Database>): Promise<HeadquartersFacts> {
  const { rows } = await sql<{ plants: string[]; raw: boolean }>`
    SELECT coalesce((SELECT array_agg(plant ORDER BY plant) FROM headquarters_plant), '{}') AS plants,
           EXISTS (SELECT 1 FROM pg_subscription_rel WHERE srrelid = to_regclass(${RAW_TABLE})) AS raw`.execute(db);
  return { plants: rows[0]?.plants ?? [], rawReplicated: rows[0]?.raw === true };
}

export interface SubscriptionStatus {
  readonly subscription: string;
  /** From headquarters_plant; null for a subscription made by hand. */
  readonly plant: string | null;
  readonly enabled: boolean;
  readonly tablesReady: number;
  readonly tables: number;
  /** The last message from the plant (null while not connected). */
  readonly lastMessageAt: Date | null;
  /** Apply errors since the statistics were reset (a duplicate key stops the apply until fixed). */
  readonly applyErrors: number;
}

export interface SlotStatus {
  readonly slot: string;
  readonly active: boolean;
  /** WAL the plant keeps for this slot, in bytes: grows while headquarters is away. */
  readonly retainedBytes: number;
}

/**
 * What `replication status` reports: at headquarters, each plant's subscription; at a plant, the
 * slots headquarters replicates from (the WAL each holds back is what to watch for disk).
 */
export async function replicationStatus(db: Kysely<unknown>): Promise<{ subscriptions: SubscriptionStatus[]; slots: SlotStatus[] }> {
  return { subscriptions: await replicationSubscriptions(db), slots: await replicationSlots(db) };
}

/**
 * At headquarters, each plant's subscription in this database: tables ready, the last message
 * from the plant (a connected plant sends one at least every wal_sender_timeout / 2, 30 s by
 * default, even with nothing to replicate) and apply errors. Reads only what any role may read
 * (pg_subscription's public columns, the statistics views, headquarters_plant): `replication
 * status` and the API's metrics both read it here.
 */
export async function replicationSubscriptions<DB>(db: Kysely<DB>): Promise<SubscriptionStatus[]> {
  const { rows } = await sql<{ subscription: string; plant: string | null; enabled: boolean; ready: number; tables: number; last_msg: Date | null; errors: number }>`
    SELECT s.subname AS subscription, h.plant, s.subenabled AS enabled,
           (SELECT count(*) FILTER (WHERE r.srsubstate = 'r') FROM pg_subscription_rel r WHERE r.srsubid = s.oid)::int AS ready,
           (SELECT count(*) FROM pg_subscription_rel r WHERE r.srsubid = s.oid)::int AS tables,
           (SELECT max(st.last_msg_receipt_time) FROM pg_stat_subscription st WHERE st.subid = s.oid) AS last_msg,
           coalesce((SELECT ss.apply_error_count FROM pg_stat_subscription_stats ss WHERE ss.subid = s.oid), 0)::int AS errors
    FROM pg_subscription s LEFT JOIN headquarters_plant h ON h.subscription = s.subname
    WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    ORDER BY s.subname`.execute(db);
  return rows.map((row) => ({
    subscription: row.subscription,
    plant: row.plant,
    enabled: row.enabled,
    tablesReady: row.ready,
    tables: row.tables,
    lastMessageAt: row.last_msg,
    applyErrors: row.errors,
  }));
}

/**
 * At a plant, the slots of this database that headquarters replicate from (named by
 * subscriptionName) and the WAL each keeps. A slot nobody consumes (headquarters down, cut off,
 * or gone) keeps every WAL segment from its restart point on, until the disk is full. Readable by
 * any role (pg_replication_slots and pg_current_wal_lsn need no privilege): `replication status`
 * and the aggregator's metrics both read it here.
 */
export async function replicationSlots<DB>(db: Kysely<DB>): Promise<SlotStatus[]> {
  const { rows } = await sql<{ slot: string; active: boolean; retained: string }>`
    SELECT slot_name AS slot, active, coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint::text AS retained
    FROM pg_replication_slots WHERE database = current_database() AND slot_name LIKE 'plant\\_climate\\_%' ORDER BY slot_name`.execute(db);
  return rows.map((row) => ({ slot: row.slot, active: row.active, retainedBytes: Number(row.retained) }));
}
