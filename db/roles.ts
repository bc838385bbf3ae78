import { sql, type Kysely } from 'kysely';
import pg from 'pg';

export type Component = 'collector' | 'aggregator' | 'api';
/** A table privilege, or SELECT of some columns only. */
type Privilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE' | `SELECT (${string})`;

/** Every component's login role, in the order `plant-climate roles` reports them. */
export const COMPONENTS: readonly Component[] = ['collector', 'aggregator', 'api'];

/**
 * Exactly what each component may do, table by table: the one definition of least privilege.
 * `*` is every table of the schema, now and later (through default privileges). Tables that a
 * later migration adds are listed too; a grant on a table that does not exist (yet) is skipped,
 * so re-running `plant-climate roles` after `plant-climate migrate` picks it up.
 *
 * - collector: inserts raw readings (COPY and INSERT ... ON CONFLICT DO NOTHING, which needs to
 *   read the key columns), upserts its devices. raw_dirty_hour is written by the raw table's triggers, which run with the writer's
 *   rights. It reads no aggregate.
 * - aggregator: reads raw rows and deletes them for retention, writes the hourly table, its
 *   dirty-hour marks and its state; reads the master data the rollup needs.
 * - api: reads everything, writes only location master data (and its threshold versions and
 *   audit entries, when those tables exist).
 * - location_threshold and audit_log are history: INSERT only, for every role. No role gets
 *   UPDATE, DELETE or TRUNCATE on them, and their triggers refuse those even to the owner
 *   (migration 0004). Their other side effects (dirty marks, the hash chain) run in SECURITY
 *   DEFINER trigger functions, so the writer needs no right on raw_dirty_hour.
 * Every role reads kysely_migration: each command checks that the schema is current.
 */
export const ROLE_GRANTS: Readonly<Record<Component, Readonly<Record<string, readonly Privilege[]>>>> = {
  collector: {
    kysely_migration: ['SELECT'],
    // ON CONFLICT (loc_id, capture_dt) DO NOTHING reads the key columns, and only those.
    temperature_raw: ['INSERT', 'SELECT (loc_id, capture_dt)'],
    raw_dirty_hour: ['SELECT', 'INSERT', 'UPDATE'],
    device: ['SELECT', 'INSERT', 'UPDATE'],
    // dead-letter replay records an audit entry.
    audit_log: ['INSERT'],
  },
  aggregator: {
    kysely_migration: ['SELECT'],
    temperature_raw: ['SELECT', 'DELETE'],
    raw_dirty_hour: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    temperature: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    // The revision trigger (SECURITY DEFINER) writes history and tombstones; the prune removes
    // what is older than HISTORY_RETENTION.
    temperature_history: ['SELECT', 'DELETE'],
    temperature_tombstone: ['SELECT', 'DELETE'],
    aggregator_state: ['SELECT', 'INSERT', 'UPDATE'],
    location: ['SELECT'],
    location_threshold: ['SELECT'],
    device: ['SELECT'],
    // backfill, prune and verify --repair record audit entries, and read back the id that the
    // hourly history links to (INSERT ... RETURNING id).
    audit_log: ['INSERT', 'SELECT (id)'],
  },
  api: {
    '*': ['SELECT'],
    location: ['SELECT', 'INSERT', 'UPDATE'],
    location_threshold: ['SELECT', 'INSERT'],
    audit_log: ['SELECT', 'INSERT'],
  },
};

/**
 * Functions each component may call, beyond PUBLIC's: the raw table's partition maintenance
 * (migration 0005), SECURITY DEFINER because only the tables' owner may attach and detach
 * partitions. A function that does not exist (yet) is skipped, like a table.
 */
export const ROUTINE_GRANTS: Readonly<Record<Component, readonly string[]>> = {
  collector: [],
  aggregator: ['raw_partition_create(date)', 'raw_partition_drop(text, boolean)', 'raw_readings_outside_partitions()'],
  api: [],
};

export interface RoleOptions {
  /** Role names are PREFIX + component: plant_collector, plant_aggregator, plant_api. */
  readonly prefix: string;
  /** Passwords to set; a role without one keeps its password (a new one gets none and cannot log in by password). */
  readonly passwords: Partial<Record<Component, string>>;
}

export interface RoleReport {
  readonly component: Component;
  readonly role: string;
  readonly created: boolean;
  readonly passwordSet: boolean;
  /** `table: PRIVILEGES` as granted now. */
  readonly grants: readonly string[];
}

/**
 * Creates or updates the three login roles and makes their rights in `schema` exactly
 * ROLE_GRANTS: everything else is revoked first, so a re-run also takes back what was removed
 * from the list. Runs in one transaction, as the owner of the schema's tables (the role that
 * runs `plant-climate migrate`); re-runnable at any time, and meant to be re-run after each
 * migration (compose's migrate service does both).
 */
export async function applyRoles(db: Kysely<unknown>, schema: string, options: RoleOptions): Promise<RoleReport[]> {
  return db.transaction().execute(async (trx) => {
    const { rows: tables } = await sql<{ name: string }>`
      SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${schema} AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY c.relname`.execute(trx);
    const existing = new Set(tables.map((table) => table.name));
    // A partitioned table's grants are given on each of its partitions too, so a writer may name a
    // partition (the collector COPYs into temperature_raw's day partitions); partitions created
    // later get the parent's privileges from raw_partition_create (migration 0005).
    const { rows: partitionRows } = await sql<{ parent: string; partition: string }>`
      SELECT p.relname AS parent, c.relname AS partition
      FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent JOIN pg_class c ON c.oid = i.inhrelid
      JOIN pg_namespace n ON n.oid = p.relnamespace
      WHERE n.nspname = ${schema} AND p.relkind = 'p' ORDER BY c.relname`.execute(trx);
    const partitionsOf = (table: string) => partitionRows.filter((row) => row.parent === table).map((row) => row.partition);
    const { rows: database } = await sql<{ name: string }>`SELECT current_database() AS name`.execute(trx);
    const reports: RoleReport[] = [];
    for (const component of COMPONENTS) {
      const role = `${options.prefix}${component}`;
      const id = sql.id(role);
      const { rows } = await sql<{ exists: boolean }>`SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${role}) AS exists`.execute(trx);
      const created = rows[0]?.exists !== true;
      // A component role never owns anything, never creates roles or databases, never bypasses row security.
      const attributes = sql.raw('LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT');
      const password = options.passwords[component];
      const passwordClause = password !== undefined ? sql.raw(` PASSWORD ${pg.escapeLiteral(password)}`) : sql``;
      if (created) await sql`CREATE ROLE ${id} ${attributes}${passwordClause}`.execute(trx);
      else await sql`ALTER ROLE ${id} ${attributes}${passwordClause}`.execute(trx);
      await sql`GRANT CONNECT ON DATABASE ${sql.id(database[0]?.name ?? '')} TO ${id}`.execute(trx);
      await sql`GRANT USAGE ON SCHEMA ${sql.id(schema)} TO ${id}`.execute(trx);
      await sql`REVOKE ALL ON ALL TABLES IN SCHEMA ${sql.id(schema)} FROM ${id}`.execute(trx);
      // Column grants survive a table-level REVOKE: take back those of the tables granted by column.
      for (const table of existing) {
        const columns = await sql<{ column: string }>`
          SELECT column_name AS column FROM information_schema.column_privileges
          WHERE table_schema = ${schema} AND table_name = ${table} AND grantee = ${role}`.execute(trx);
        if (columns.rows.length > 0) {
          await sql`REVOKE ALL (${sql.join(columns.rows.map((row) => sql.id(row.column)))}) ON ${sql.id(schema, table)} FROM ${id}`.execute(trx);
        }
      }
      await sql`REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${sql.id(schema)} FROM ${id}`.execute(trx);
      await sql`ALTER DEFAULT PRIVILEGES IN SCHEMA ${sql.id(schema)} REVOKE ALL ON TABLES FROM ${id}`.execute(trx);
      const grants: string[] = [];
      for (const [table, privileges] of Object.entries(ROLE_GRANTS[component])) {
        const list = sql.raw(privileges.join(', '));
        if (table === '*') {
          await sql`GRANT ${list} ON ALL TABLES IN SCHEMA ${sql.id(schema)} TO ${id}`.execute(trx);
          // Tables that later migrations create (as the same owner) are readable without a re-run.
          await sql`ALTER DEFAULT PRIVILEGES IN SCHEMA ${sql.id(schema)} GRANT ${list} ON TABLES TO ${id}`.execute(trx);
          grants.push(`every table (also future ones): ${privileges.join(', ')}`);
        } else if (existing.has(table)) {
          const partitions = partitionsOf(table);
          const names = sql.join([table, ...partitions].map((name) => sql.id(schema, name)));
          await sql`GRANT ${list} ON ${names} TO ${id}`.execute(trx);
          grants.push(`${table}${partitions.length > 0 ? ` (and its ${partitions.length} partitions)` : ''}: ${privileges.join(', ')}`);
        }
      }
      await sql`REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA ${sql.id(schema)} FROM ${id}`.execute(trx);
      for (const routine of ROUTINE_GRANTS[component]) {
        const { rows: found } = await sql<{ exists: boolean }>`SELECT to_regprocedure(${`${schema}.${routine}`}) IS NOT NULL AS exists`.execute(trx);
        if (!found[0]?.exists) continue;
        await sql`GRANT EXECUTE ON FUNCTION ${sql.raw(`${pg.escapeIdentifier(schema)}.${routine}`)} TO ${id}`.execute(trx);
        grants.push(`function ${routine}: EXECUTE`);
      }
      // Writers that insert into a table with a generated key need its sequence.
      if (component !== 'collector') await sql`GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${sql.id(schema)} TO ${id}`.execute(trx);
      // Revisions are drawn by the revision trigger alone (SECURITY DEFINER, migration 0006): no
      // role may call nextval on them; the API may read the last one.
      const { rows: revisions } = await sql<{ exists: boolean }>`SELECT to_regclass(${`${schema}.temperature_revision_seq`}) IS NOT NULL AS exists`.execute(trx);
      if (revisions[0]?.exists) {
        const sequence = sql.id(schema, 'temperature_revision_seq');
        await sql`REVOKE ALL ON SEQUENCE ${sequence} FROM ${id}`.execute(trx);
        if (component === 'api') await sql`GRANT SELECT ON SEQUENCE ${sequence} TO ${id}`.execute(trx);
      }
      reports.push({ component, role, created, passwordSet: password !== undefined, grants });
    }
    return reports;
  });
}
