import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { appendAudit, verifyAuditChain } from '../db/index.js';
import { useTestDatabase } from './support/database.js';
import { runBin } from './support/processes.js';

describe('the audit log is one hash chain that `plant-climate audit verify` checks', () => {
  const database = useTestDatabase();
  const verify = (...args: string[]) => runBin('plant-climate', ['audit', 'verify', ...args], { ...database().env, LOG_LEVEL: 'warn' });

  it('stays one chain under concurrent writers, with quotes, backslashes and JSON in the fields', async () => {
    const { db } = database();
    await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        db.transaction().execute((trx) =>
          appendAudit(trx, { actor: `key-${i % 3}`, action: 'location.update', subject: `L-${i}`, reason: i === 5 ? "it's \\ odd" : null, before: { n: i }, after: { n: i + 1, s: 'ü "q"' } }),
        ),
      ),
    );
    const report = await verifyAuditChain(db);
    expect(report).toMatchObject({ entries: 24, breaks: [] });
    expect(report.head?.id).toBe(24);
    const run = await verify();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ok: 24 entries, 0 problem\(s\), head 24 [0-9a-f]{64}$/m);
  });

  it('refuses UPDATE, DELETE and TRUNCATE even to the owner', async () => {
    const { db } = database();
    await expect(sql`UPDATE audit_log SET reason = 'x' WHERE id = 3`.execute(db)).rejects.toThrow(/append-only: UPDATE refused/);
    await expect(sql`DELETE FROM audit_log WHERE id = 3`.execute(db)).rejects.toThrow(/append-only: DELETE refused/);
    await expect(sql`TRUNCATE audit_log`.execute(db)).rejects.toThrow(/append-only: TRUNCATE refused/);
  });

  it('exits 1 on an edited entry and on a deleted one, naming them', async () => {
    const { db } = database();
    // Only an owner who drops the guard on purpose can do this; verify is what catches it.
    await sql`ALTER TABLE audit_log DISABLE TRIGGER audit_log_refuse_change`.execute(db);
    await sql`UPDATE audit_log SET reason = 'nothing to see' WHERE id = 7`.execute(db);
    let run = await verify();
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('entry 7: its fields do not match its hash (edited)');
    expect(run.stdout).toMatch(/^BROKEN: 24 entries, 1 problem/m);

    // Editing the hash too moves the break to the next entry's link.
    await sql`UPDATE audit_log SET hash = audit_entry_hash(audit_log) WHERE id = 7`.execute(db);
    run = await verify('--json');
    expect(run.code).toBe(1);
    expect((JSON.parse(run.stdout) as { breaks: { id: number }[] }).breaks.map((problem) => problem.id)).toEqual([8]);

    await sql`DELETE FROM audit_log WHERE id = 15`.execute(db);
    run = await verify();
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('entry 16: entries 15..15 are missing (deleted)');
    expect(run.stdout).toContain('entry 16: prev_hash');
    await sql`ALTER TABLE audit_log ENABLE TRIGGER audit_log_refuse_change`.execute(db);
  });
});
