import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicationSubscriptions } from '../db/index.js';
import { startApi, type RunningApi } from './support/api-app.js';
import { useTestDatabase } from './support/database.js';

/**
 * At headquarters the API exports, per plant, the seconds since the plant's last replicated
 * message and its apply errors, from the query `replication status` prints
 * (db replicationSubscriptions). The subscription here is real but never connects (connect =
 * false, no slot): what a headquarters shows for a plant it cannot reach.
 */
describe('the API at a headquarters exports each plant subscription', () => {
  const database = useTestDatabase();
  const subscription = 'plant_climate_zz';
  let api: RunningApi;

  beforeAll(async () => {
    const { db } = database();
    await sql`CREATE SUBSCRIPTION ${sql.id(subscription)} CONNECTION 'host=127.0.0.1 port=1 dbname=none' PUBLICATION plant_climate WITH (connect = false, slot_name = NONE)`.execute(db);
    await db.insertInto('headquarters_plant').values({ plant: 'ZZ', subscription, publisher: 'postgres://plant-zz.invalid/plant' }).execute();
    api = await startApi(database());
  });
  afterAll(async () => {
    await api?.close();
    // A database with a subscription cannot be dropped.
    await sql`DROP SUBSCRIPTION IF EXISTS ${sql.id(subscription)}`.execute(database().db);
  });

  it('a plant that has sent nothing shows an infinite message age and no apply errors; a plant shows no such series', async () => {
    const text = await (await fetch(`${api.url}/metrics`)).text();
    expect(text).toMatch(new RegExp(`^plant_api_headquarters_last_message_age_seconds\\{subscription="${subscription}",plant="ZZ"\\} \\+Inf$`, 'm'));
    expect(text).toMatch(new RegExp(`^plant_api_headquarters_apply_errors\\{subscription="${subscription}",plant="ZZ"\\} 0$`, 'm'));

    await sql`DROP SUBSCRIPTION ${sql.id(subscription)}`.execute(database().db);
    await database().db.deleteFrom('headquarters_plant').execute();
    const plant = await (await fetch(`${api.url}/metrics`)).text();
    expect(plant).toContain('# TYPE plant_api_headquarters_last_message_age_seconds gauge');
    expect(plant).not.toMatch(/^plant_api_headquarters_last_message_age_seconds\{/m);
  });

  it('the subscription query needs only SELECT on headquarters_plant (which the api role has)', async () => {
    const { db, schema } = database();
    await sql`CREATE SUBSCRIPTION ${sql.id(subscription)} CONNECTION 'host=127.0.0.1 port=1 dbname=none' PUBLICATION plant_climate WITH (connect = false, slot_name = NONE)`.execute(db);
    const role = `pc_hq_reader_${randomBytes(4).toString('hex')}`;
    await sql`CREATE ROLE ${sql.id(role)} NOLOGIN`.execute(db);
    await sql`GRANT USAGE ON SCHEMA ${sql.id(schema)} TO ${sql.id(role)}`.execute(db);
    await sql`GRANT SELECT ON headquarters_plant TO ${sql.id(role)}`.execute(db);
    try {
      const subscriptions = await db.connection().execute(async (connection) => {
        await sql`SET ROLE ${sql.id(role)}`.execute(connection);
        try {
          return await replicationSubscriptions(connection);
        } finally {
          await sql`RESET ROLE`.execute(connection);
        }
      });
      expect(subscriptions).toEqual([{ subscription, plant: null, enabled: false, tablesReady: 0, tables: 0, lastMessageAt: null, applyErrors: 0 }]);
    } finally {
      await sql`DROP OWNED BY ${sql.id(role)}`.execute(db);
      await sql`DROP ROLE ${sql.id(role)}`.execute(db);
    }
  });
});
