import { createHash } from 'node:crypto';
import { userInfo } from 'node:os';
import { sql, type Kysely, type Transaction } from 'kysely';
import type pg from 'pg';
import type { Database } from './schema.js';

/**
 * The audit trail: who changed what, when and why, as one append-only hash chain (migration
 * 0004). Entries are written here and only here; their id, time, previous hash and hash are
 * set by the table's insert trigger, which serialises appends so that concurrent writers never
 * fork the chain. `verifyAuditChain` recomputes every hash in Node, independently of the
 * database's own function, so an edited function cannot vouch for an edited entry.
 */

export type AuditAction =
  | 'location.create'
  | 'location.update'
  | 'thresholds.change'
  | 'aggregator.backfill'
  | 'aggregator.prune'
  | 'aggregator.verify-repair'
  | 'collector.dead-letter-replay';

export interface AuditEntryInput {
  /** API key id (`key-1`), or `os:<user>` for a command (commandActor()). */
  readonly actor: string;
  readonly action: AuditAction;
  /** What the entry is about: a loc_id, a range, a spool directory. */
  readonly subject?: string | null | undefined;
  readonly reason?: string | null | undefined;
  readonly before?: unknown;
  readonly after?: unknown;
}

export interface AuditEntry {
  readonly id: number;
  /** ISO 8601 UTC with microseconds, as hashed. */
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly subject: string | null;
  readonly reason: string | null;
  readonly before: unknown;
  readonly after: unknown;
  readonly prev_hash: string | null;
  readonly hash: string;
}

/** The actor of a command run from a shell or a scheduler: the operating-system user. */
export function commandActor(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = process.env.USER ?? process.env.LOGNAME ?? 'unknown';
  }
  return `os:${user}`;
}

const jsonOrNull = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));

/** Appends one entry, in the caller's transaction when given one (then it commits or rolls back with the change it records). */
export async function appendAudit(db: Kysely<Database> | Transaction<Database>, entry: AuditEntryInput): Promise<void> {
  await db.insertInto('audit_log').values(auditValues(entry)).execute();
}

const auditValues = (entry: AuditEntryInput) => ({
  actor: entry.actor,
  action: entry.action,
  subject: entry.subject ?? null,
  reason: entry.reason ?? null,
  before: jsonOrNull(entry.before),
  after: jsonOrNull(entry.after),
});

/** appendAudit that gives back the entry's id, so the change it records can link to it (the hourly history). */
export async function appendAuditReturningId(db: Kysely<Database> | Transaction<Database>, entry: AuditEntryInput): Promise<number> {
  const row = await db.insertInto('audit_log').values(auditValues(entry)).returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** appendAudit for code that holds a plain pg pool (the collector's dead-letter replay). */
export async function appendAuditWithPool(pool: pg.Pool, entry: AuditEntryInput): Promise<void> {
  await pool.query('INSERT INTO audit_log (actor, action, subject, reason, before, after) VALUES ($1, $2, $3, $4, $5, $6)', [
    entry.actor,
    entry.action,
    entry.subject ?? null,
    entry.reason ?? null,
    jsonOrNull(entry.before),
    jsonOrNull(entry.after),
  ]);
}

const ENTRY_COLUMNS = sql`id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at, actor, action, subject, reason,
  before::text AS before_text, after::text AS after_text, prev_hash, hash`;

interface EntryRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  subject: string | null;
  reason: string | null;
  before_text: string | null;
  after_text: string | null;
  prev_hash: string | null;
  hash: string;
}

const toEntry = (row: EntryRow): AuditEntry => ({
  id: row.id,
  at: row.at,
  actor: row.actor,
  action: row.action,
  subject: row.subject,
  reason: row.reason,
  before: row.before_text === null ? null : (JSON.parse(row.before_text) as unknown),
  after: row.after_text === null ? null : (JSON.parse(row.after_text) as unknown),
  prev_hash: row.prev_hash,
  hash: row.hash,
});

/** One page of entries in id order, after `after` (exclusive). */
export async function listAudit(db: Kysely<Database>, options: { after: number | undefined; limit: number; subject?: string | undefined }): Promise<AuditEntry[]> {
  const { rows } = await sql<EntryRow>`
    SELECT ${ENTRY_COLUMNS} FROM audit_log
    WHERE id > ${options.after ?? 0} ${options.subject === undefined ? sql`` : sql`AND subject = ${options.subject}`}
    ORDER BY id LIMIT ${options.limit}`.execute(db);
  return rows.map(toEntry);
}

/** PostgreSQL's quote_nullable: NULL, or a literal with quotes doubled (E'' with doubled backslashes when it has any). */
function quoteNullable(value: string | null): string {
  if (value === null) return 'NULL';
  const quoted = `'${value.replaceAll("'", "''")}'`;
  return value.includes('\\') ? `E${quoted.replaceAll('\\', '\\\\')}` : quoted;
}

/** The hash of an entry as migration 0004's audit_entry_hash computes it. */
function entryHash(row: EntryRow): string {
  const text = [
    String(row.id),
    quoteNullable(row.prev_hash),
    row.at,
    quoteNullable(row.actor),
    quoteNullable(row.action),
    quoteNullable(row.subject),
    quoteNullable(row.reason),
    quoteNullable(row.before_text),
    quoteNullable(row.after_text),
  ].join('|');
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export interface ChainBreak {
  readonly id: number;
  readonly problem: string;
}

export interface ChainReport {
  readonly entries: number;
  /** The newest entry: record it somewhere else to detect a deleted tail later. */
  readonly head: { readonly id: number; readonly hash: string } | null;
  readonly breaks: readonly ChainBreak[];
}

/**
 * Walks the whole chain in id order, a page at a time: each entry's hash must be the hash of
 * its own fields and the previous entry's hash, its prev_hash that previous hash, and ids must
 * run 1, 2, 3 … without a gap. An edited entry fails its own hash; a deleted one leaves a gap
 * and a broken link. (Deleting the newest entries leaves a shorter valid chain: compare `head`
 * with one recorded earlier.)
 */
export async function verifyAuditChain(db: Kysely<Database>, pageSize = 5000): Promise<ChainReport> {
  const breaks: ChainBreak[] = [];
  let previous = null as { id: number; hash: string } | null;
  let entries = 0;
  for (;;) {
    const after = previous?.id ?? 0;
    const { rows } = await sql<EntryRow>`
      SELECT ${ENTRY_COLUMNS} FROM audit_log WHERE id > ${after} ORDER BY id LIMIT ${pageSize}`.execute(db);
    for (const row of rows) {
      entries += 1;
      const expectedId: number = (previous?.id ?? 0) + 1;
      if (row.id !== expectedId) breaks.push({ id: row.id, problem: `entries ${expectedId}..${row.id - 1} are missing (deleted)` });
      if (row.prev_hash !== (previous?.hash ?? null)) {
        breaks.push({ id: row.id, problem: `prev_hash ${row.prev_hash ?? 'NULL'} is not the hash of the entry before it (${previous?.hash ?? 'none'})` });
      }
      if (entryHash(row) !== row.hash) breaks.push({ id: row.id, problem: 'its fields do not match its hash (edited)' });
      previous = { id: row.id, hash: row.hash };
    }
    if (rows.length < pageSize) break;
  }
  return { entries, head: previous, breaks };
}
