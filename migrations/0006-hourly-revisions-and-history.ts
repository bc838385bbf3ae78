import { sql, type Kysely } from 'kysely';

/**
 * Downstream sync (issue 14, first half): every hourly row carries a `revision` that grows
 * whenever its values change, a removed hour leaves a tombstone with its own revision, and every
 * superseded version of a row is kept in `temperature_history` with the revision range in which
 * it was current and what produced it. The change feed (db/change-feed.ts, GET /v1/changes)
 * serves rows and tombstones in revision order.
 *
 * - Revisions come from `temperature_revision_seq`, with its default CACHE 1 on purpose: the feed
 *   relies on nextval being monotonic across sessions (a cached range per session would hand out
 *   values out of order) and on pg_sequence_last_value being the last value any session drew.
 * - They are drawn by a row trigger on every INSERT, on every UPDATE that changes a value
 *   (compared as jsonb without the bookkeeping columns, so a column a later migration adds is
 *   covered), and on every DELETE (the tombstone's revision), so every writer is covered: the
 *   aggregator, the import, a psql session. TRUNCATE is not: it bypasses the feed (consumers must
 *   restart from after=0) and is for tests and benches only.
 * - The first time a transaction draws a revision it reads the sequence's last value L0 and takes
 *   a shared transaction-level advisory lock (namespace of this schema, low 32 bits of L0) before
 *   its nextval: every revision it draws is > L0, and the lock tells the feed, until the
 *   transaction ends, that revisions above L0 may still commit (`temperature_revision_horizon`).
 *   The same moment queues one NOTIFY, delivered at commit, which wakes the API's long-polls.
 * - Why: revisions are drawn at write time, not commit time; a feed that served revision 6 while
 *   5 was still uncommitted would skip 5 for good.
 * - The cause of a change comes from the transaction-local setting `plant_climate.change_cause`
 *   (and `plant_climate.change_audit_id`, the audit entry of a backfill or a repair), set by the
 *   aggregator; a writer that sets nothing is `manual`. A scheduled run's re-aggregation of an
 *   hour that had a row is `late-data`, or `threshold-change` when only the excursion columns
 *   (which depend on the threshold versions) changed.
 *
 * SECURITY DEFINER trigger functions (schema pinned): the writer needs no right on the history,
 * tombstone or sequence. This SQL is a snapshot as of this migration, on purpose.
 */
const EXCURSION_COLUMNS = [
  'temperature_above_count',
  'temperature_below_count',
  'humidity_above_count',
  'humidity_below_count',
  'temperature_above_max_delta',
  'temperature_below_max_delta',
  'humidity_above_max_delta',
  'humidity_below_max_delta',
];
const BOOKKEEPING = ['revision', 'change_cause', 'change_audit_id', 'updated_at'];
const textArray = (values: readonly string[]) => sql.raw(`ARRAY[${values.map((value) => `'${value}'`).join(', ')}]::text[]`);

export async function up(db: Kysely<unknown>): Promise<void> {
  // CACHE 1 (the default), see above: do not raise it.
  await sql`CREATE SEQUENCE temperature_revision_seq AS bigint CACHE 1`.execute(db);
  await sql`ALTER TABLE temperature
    ADD COLUMN revision bigint,
    ADD COLUMN change_cause text,
    ADD COLUMN change_audit_id bigint`.execute(db);
  // Existing rows, in the order they were written last.
  await sql`
    UPDATE temperature t SET revision = o.revision, change_cause = 'migration'
    FROM (SELECT loc_id, bucket, nextval('temperature_revision_seq') AS revision
          FROM (SELECT loc_id, bucket FROM temperature ORDER BY updated_at, bucket, loc_id) AS s) AS o
    WHERE o.loc_id = t.loc_id AND o.bucket = t.bucket`.execute(db);
  await sql`ALTER TABLE temperature ALTER COLUMN revision SET NOT NULL, ALTER COLUMN change_cause SET NOT NULL`.execute(db);
  await sql`CREATE INDEX temperature_revision_idx ON temperature (revision)`.execute(db);

  await sql`
    CREATE TABLE temperature_tombstone (
      loc_id text NOT NULL,
      bucket timestamptz NOT NULL,
      revision bigint NOT NULL,
      deleted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      cause text NOT NULL,
      audit_id bigint,
      PRIMARY KEY (loc_id, bucket)
    )`.execute(db);
  // Not UNIQUE, like the hourly table's: the sequence makes revisions unique in one database, and a
  // headquarters copy of several plants' tables holds each plant's own revisions side by side.
  await sql`CREATE INDEX temperature_tombstone_revision_idx ON temperature_tombstone (revision)`.execute(db);
  await sql`CREATE INDEX temperature_tombstone_deleted_at_idx ON temperature_tombstone (deleted_at)`.execute(db);

  // A version's columns are the hourly row's (matched by name through jsonb, so the column
  // order does not matter; a migration that adds an hourly column adds it here too), its
  // revision range [revision_from, revision_to), and what ended it.
  await sql`CREATE TABLE temperature_history (LIKE temperature)`.execute(db);
  await sql`ALTER TABLE temperature_history RENAME COLUMN revision TO revision_from`.execute(db);
  await sql`ALTER TABLE temperature_history
    ADD COLUMN revision_to bigint NOT NULL,
    ADD COLUMN superseded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    ADD COLUMN superseded_by text NOT NULL,
    ADD COLUMN superseded_audit_id bigint,
    ADD PRIMARY KEY (loc_id, bucket, revision_from),
    ADD CHECK (revision_to > revision_from)`.execute(db);
  await sql`CREATE INDEX temperature_history_superseded_at_idx ON temperature_history (superseded_at)`.execute(db);

  // Tombstones (and history) older than HISTORY_RETENTION are pruned; a feed cursor below the
  // highest pruned tombstone revision could have missed a deletion and is refused (410).
  await sql`ALTER TABLE aggregator_state ADD COLUMN tombstones_pruned_through bigint NOT NULL DEFAULT 0`.execute(db);

  await sql`
    CREATE FUNCTION temperature_revision_lock_namespace() RETURNS integer
    LANGUAGE sql STABLE SET search_path FROM CURRENT
    RETURN hashtext('plant-climate:temperature-revision:' || current_schema())`.execute(db);

  await sql`
    CREATE FUNCTION next_temperature_revision() RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
    DECLARE l0 bigint;
    BEGIN
      IF coalesce(current_setting('plant_climate.revision_floor', true), '') = '' THEN
        -- Order matters: read L0, register it, only then draw (every revision drawn is > L0).
        l0 := coalesce(pg_sequence_last_value('temperature_revision_seq'), 0);
        PERFORM pg_advisory_xact_lock_shared(temperature_revision_lock_namespace(), l0::bit(32)::integer);
        PERFORM set_config('plant_climate.revision_floor', l0::text, true);
        -- Delivered at commit (never for a rollback): wakes the API's long-polls.
        PERFORM pg_notify('plant_climate_changes', current_schema());
      END IF;
      RETURN nextval('temperature_revision_seq');
    END
    $fn$`.execute(db);

  // What the feed may serve: revisions up to the lowest floor registered by a transaction still
  // in flight (or the sequence's last value). Read L first, then the locks: a writer seen here
  // has all its revisions above its floor; one that registers after the scan draws after L was
  // read, so above L. The floors' high bits come from a second read of the sequence, which is
  // at least every floor registered before the scan (no writer stays open over 2^32 draws).
  await sql`
    CREATE FUNCTION temperature_revision_horizon(OUT last_revision bigint, OUT safe_revision bigint, OUT writers integer)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
    DECLARE lows bigint[]; again bigint; lowest bigint;
    BEGIN
      last_revision := coalesce(pg_sequence_last_value('temperature_revision_seq'), 0);
      SELECT coalesce(array_agg(l.objid::bigint), '{}') INTO lows FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = temperature_revision_lock_namespace()::oid
        AND l.pid <> pg_backend_pid();
      again := coalesce(pg_sequence_last_value('temperature_revision_seq'), 0);
      SELECT min(again - ((again - low) % 4294967296)) INTO lowest FROM unnest(lows) AS low;
      writers := cardinality(lows);
      safe_revision := least(last_revision, coalesce(lowest, last_revision));
    END
    $fn$`.execute(db);

  await sql`
    CREATE FUNCTION temperature_revise() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
    DECLARE
      rev bigint;
      cause text := coalesce(nullif(current_setting('plant_climate.change_cause', true), ''), 'manual');
      audit bigint := nullif(current_setting('plant_climate.change_audit_id', true), '')::bigint;
      bookkeeping text[] := ${textArray(BOOKKEEPING)};
      excursion text[] := ${textArray(EXCURSION_COLUMNS)};
    BEGIN
      IF TG_OP = 'INSERT' THEN
        -- INSERT ... ON CONFLICT fires this for every proposed row, also one that will turn into
        -- an update (or nothing): such a row draws no revision here (its UPDATE does, if any).
        -- 0 is a placeholder; the AFTER INSERT check refuses it if the row is inserted after all.
        IF EXISTS (SELECT 1 FROM temperature t WHERE t.loc_id = NEW.loc_id AND t.bucket = NEW.bucket) THEN
          NEW.revision := 0;
          NEW.change_cause := cause;
          RETURN NEW;
        END IF;
        NEW.revision := next_temperature_revision();
        NEW.change_cause := cause;
        NEW.change_audit_id := audit;
        -- The hour is back: its upsert (higher revision) supersedes the tombstone.
        DELETE FROM temperature_tombstone WHERE loc_id = NEW.loc_id AND bucket = NEW.bucket;
        RETURN NEW;
      END IF;
      IF TG_OP = 'UPDATE' AND to_jsonb(NEW) - bookkeeping = to_jsonb(OLD) - bookkeeping THEN
        NEW.revision := OLD.revision;
        NEW.change_cause := OLD.change_cause;
        NEW.change_audit_id := OLD.change_audit_id;
        RETURN NEW;
      END IF;
      rev := next_temperature_revision();
      IF cause = 'scheduled-run' THEN
        cause := CASE WHEN TG_OP = 'UPDATE' AND to_jsonb(NEW) - bookkeeping - excursion = to_jsonb(OLD) - bookkeeping - excursion
                      THEN 'threshold-change' ELSE 'late-data' END;
      END IF;
      -- In FROM, not (f(...)).*, which would call the function once per column.
      INSERT INTO temperature_history
      SELECT * FROM jsonb_populate_record(NULL::temperature_history, to_jsonb(OLD) || jsonb_build_object(
        'revision_from', OLD.revision, 'revision_to', rev, 'superseded_at', clock_timestamp(),
        'superseded_by', cause, 'superseded_audit_id', audit));
      IF TG_OP = 'DELETE' OR (NEW.loc_id, NEW.bucket) IS DISTINCT FROM (OLD.loc_id, OLD.bucket) THEN
        INSERT INTO temperature_tombstone AS s (loc_id, bucket, revision, cause, audit_id)
        VALUES (OLD.loc_id, OLD.bucket, CASE WHEN TG_OP = 'DELETE' THEN rev ELSE next_temperature_revision() END, cause, audit)
        ON CONFLICT (loc_id, bucket) DO UPDATE
          SET revision = excluded.revision, deleted_at = excluded.deleted_at, cause = excluded.cause, audit_id = excluded.audit_id;
      END IF;
      IF TG_OP = 'DELETE' THEN
        RETURN OLD;
      END IF;
      IF (NEW.loc_id, NEW.bucket) IS DISTINCT FROM (OLD.loc_id, OLD.bucket) THEN
        DELETE FROM temperature_tombstone WHERE loc_id = NEW.loc_id AND bucket = NEW.bucket;
      END IF;
      NEW.revision := rev;
      NEW.change_cause := cause;
      NEW.change_audit_id := audit;
      RETURN NEW;
    END
    $fn$`.execute(db);
  await sql`CREATE TRIGGER temperature_revise BEFORE INSERT OR UPDATE OR DELETE ON temperature
            FOR EACH ROW EXECUTE FUNCTION temperature_revise()`.execute(db);

  await sql`
    CREATE FUNCTION temperature_refuse_placeholder_revision() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      RAISE EXCEPTION 'hourly row %/% was inserted without a revision: it was deleted by another transaction meanwhile', NEW.loc_id, NEW.bucket
        USING ERRCODE = 'serialization_failure', HINT = 'retry the transaction';
    END
    $fn$`.execute(db);
  await sql`CREATE TRIGGER temperature_refuse_placeholder_revision AFTER INSERT ON temperature
            FOR EACH ROW WHEN (NEW.revision = 0) EXECUTE FUNCTION temperature_refuse_placeholder_revision()`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TRIGGER temperature_refuse_placeholder_revision ON temperature`.execute(db);
  await sql`DROP FUNCTION temperature_refuse_placeholder_revision()`.execute(db);
  await sql`DROP TRIGGER temperature_revise ON temperature`.execute(db);
  await sql`DROP FUNCTION temperature_revise()`.execute(db);
  await sql`DROP FUNCTION temperature_revision_horizon()`.execute(db);
  await sql`DROP FUNCTION next_temperature_revision()`.execute(db);
  await sql`DROP FUNCTION temperature_revision_lock_namespace()`.execute(db);
  await sql`ALTER TABLE aggregator_state DROP COLUMN tombstones_pruned_through`.execute(db);
  await sql`DROP TABLE temperature_history`.execute(db);
  await sql`DROP TABLE temperature_tombstone`.execute(db);
  await sql`ALTER TABLE temperature DROP COLUMN revision, DROP COLUMN change_cause, DROP COLUMN change_audit_id`.execute(db);
  await sql`DROP SEQUENCE temperature_revision_seq`.execute(db);
}
