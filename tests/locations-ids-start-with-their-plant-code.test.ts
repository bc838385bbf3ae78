import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDown, migrateToLatest } from '../db/index.js';
import { startApi, type RunningApi } from './support/api-app.js';
import { silentLog } from './support/aggregator-fixtures.js';
import { useTestDatabase } from './support/database.js';
import { runBin } from './support/processes.js';

const WRITE_KEY = 'write-key-0123456789abcdef';

/**
 * Multi-plant location ids (contract, issue 14): when a location has a plant, its loc_id starts
 * with `<plant>-`, so that plants can share a headquarters database. Golden cases: what goes in,
 * which file, line and field the refusal names; the database holds the rule itself; and an
 * upgrade keeps rows that broke it before.
 */
describe('location ids start with their plant code', () => {
  const database = useTestDatabase();
  let dir: string;
  let api: RunningApi;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'plant-prefix-'));
    api = await startApi(database(), { keys: [{ key: WRITE_KEY, canWrite: true }] });
  });
  afterAll(async () => {
    await api.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const IMPORT_CASES: { name: string; yaml: string[]; error?: RegExp }[] = [
    { name: 'a prefixed id', yaml: ['- { loc_id: PA-01, plant: PA }'] },
    { name: 'no plant, any id', yaml: ['- { loc_id: X-01 }'] },
    {
      name: 'an id without the prefix, the plant on its own line',
      yaml: ['locations:', '  - loc_id: PA-01', '    plant: PA', '  - loc_id: B-07', '    name: Store', '    plant: PA'],
      error: /:6 plant: loc_id "B-07" does not start with "PA-", the prefix of its plant "PA".*use loc_id "PA-B-07", or leave plant empty/,
    },
    { name: 'a plant code that is only the start of the id', yaml: ['- { loc_id: PAX-01, plant: PA }'], error: /:1 plant: loc_id "PAX-01" does not start with "PA-"/ },
  ];

  for (const golden of IMPORT_CASES) {
    it(`import: ${golden.name}`, async () => {
      const file = path.join(dir, `${golden.name.replaceAll(' ', '-')}.yaml`);
      await fs.writeFile(file, `${golden.yaml.join('\n')}\n`);
      const result = await runBin('plant-climate', ['locations', 'import', file], { ...database().env, LOG_LEVEL: 'warn' });
      if (golden.error) {
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr).toContain(file);
        expect(result.stderr).toMatch(golden.error);
        expect(result.stderr).toMatch(/nothing imported/);
      } else {
        expect(result.code, result.stderr).toBe(0);
      }
    });
  }

  it('PUT answers 400 naming plant and saves nothing', async () => {
    const put = (locId: string, body: object) =>
      fetch(`${api.url}/v1/locations/${locId}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${WRITE_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const refused = await put('C-01', { name: 'Cold store', plant: 'PB' });
    expect(refused.status).toBe(400);
    const problem = (await refused.json()) as { detail: string; errors: { name: string; in: string; message: string }[] };
    expect(problem.errors).toEqual([{ name: 'plant', in: 'body', message: expect.stringMatching(/loc_id "C-01" does not start with "PB-".*use loc_id "PB-C-01"/) as string }]);
    expect(await database().db.selectFrom('location').select('loc_id').where('loc_id', '=', 'C-01').execute()).toEqual([]);
    expect((await put('PB-01', { name: 'Cold store', plant: 'PB' })).status).toBe(201);
  });

  it('the database refuses a row that breaks the rule, whoever writes it', async () => {
    await expect(sql`INSERT INTO location (loc_id, plant) VALUES ('Z-01', 'PZ')`.execute(database().db)).rejects.toThrow(/location_loc_id_plant_prefix/);
    await expect(sql`UPDATE location SET plant = 'PQ' WHERE loc_id = 'PB-01'`.execute(database().db)).rejects.toThrow(/location_loc_id_plant_prefix/);
  });

  it('an upgrade keeps rows that broke the rule before, checks new ones, and validates the rule once none breaks it', async () => {
    const db = database().db as unknown as Kysely<unknown>;
    const schema = database().schema;
    const validated = async () =>
      (await sql<{ convalidated: boolean }>`SELECT convalidated FROM pg_constraint WHERE conname = 'location_loc_id_plant_prefix'`.execute(db)).rows[0]?.convalidated;
    expect(await validated()).toBe(true);
    expect(await migrateDown(db, schema, silentLog)).toEqual(['0007-plant-prefixed-location-ids']);
    await sql`INSERT INTO location (loc_id, plant) VALUES ('OLD-01', 'P1')`.execute(db);
    expect(await migrateToLatest(db, schema, silentLog)).toEqual(['0007-plant-prefixed-location-ids']);
    expect(await validated()).toBe(false);
    expect((await sql<{ plant: string }>`SELECT plant FROM location WHERE loc_id = 'OLD-01'`.execute(db)).rows).toEqual([{ plant: 'P1' }]);
    await expect(sql`INSERT INTO location (loc_id, plant) VALUES ('NEW-01', 'P1')`.execute(db)).rejects.toThrow(/location_loc_id_plant_prefix/);
    // Fixed (here: the plant left empty), the next upgrade validates it.
    await sql`UPDATE location SET plant = NULL WHERE loc_id = 'OLD-01'`.execute(db);
    await migrateDown(db, schema, silentLog);
    await migrateToLatest(db, schema, silentLog);
    expect(await validated()).toBe(true);
  });
});
