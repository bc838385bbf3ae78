import http from 'node:http';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_SESSION_TIMEOUTS } from '../api/index.js';
import { createPool, type Database } from '../db/index.js';
import { createLogger, useTestDatabase } from './support/database.js';
import { hoursOf, insertHourly, startApi, type RunningApi } from './support/api-app.js';

const APP = `api-streams-${process.pid}`;
const START = new Date('2024-01-01T00:00:00Z');
const LOCATIONS = 8;
const CSV = '/v1/hourly?from=2024-01-01&to=2024-12-31&format=csv';
const JSON_PAGE = '/v1/locations/S-01/hourly?from=2024-03-01&to=2024-03-31';

/** Reads until the first body bytes, then hangs up: a Grafana panel with a timeout, `curl | head -c 100`. */
function abortAfterFirstBytes(url: string, giveUpMs: number): Promise<'aborted' | 'gave up' | 'ended'> {
  return new Promise((resolve) => {
    const request = http.get(url, (response) => {
      response.once('data', () => {
        clearTimeout(timer);
        request.destroy();
        resolve('aborted');
      });
      response.once('end', () => resolve('ended'));
    });
    request.on('error', () => undefined);
    // A download that does not start in time is abandoned too, as a client with a timeout does.
    const timer = setTimeout(() => {
      request.destroy();
      resolve('gave up');
    }, giveUpMs);
  });
}

/**
 * A client that takes the headers and a first chunk, then stops reading with the socket open.
 * `resume()` reads on and tells whether the body came whole or was cut off by the server.
 */
function stallAfterFirstBytes(url: string): Promise<{ resume: () => Promise<'complete' | 'cut'> }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, (response) => {
      response.once('data', () => {
        response.pause();
        const outcome = new Promise<'complete' | 'cut'>((done) => {
          response.once('end', () => done(response.complete ? 'complete' : 'cut'));
          response.once('error', () => done('cut'));
          response.once('aborted', () => done('cut'));
        });
        resolve({
          resume: () => {
            response.resume();
            return outcome;
          },
        });
      });
    });
    request.on('error', () => undefined);
    request.setTimeout(10_000, () => reject(new Error('no first bytes')));
  });
}

describe('streamed responses always end', () => {
  const database = useTestDatabase();
  let pool: pg.Pool;
  let db: Kysely<Database>;
  let api: RunningApi;

  const busySessions = async () => {
    const { rows } = await sql<{ state: string }>`
      SELECT state FROM pg_stat_activity
      WHERE application_name = ${APP} AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')`.execute(database().db);
    return rows.map((row) => row.state);
  };
  /** Polls pg_stat_activity until no API session is busy (the release after a hang-up is asynchronous). */
  const untilNoBusySession = async (withinMs: number) => {
    const deadline = Date.now() + withinMs;
    let states = await busySessions();
    while (states.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      states = await busySessions();
    }
    return states;
  };

  beforeAll(async () => {
    for (let index = 1; index <= LOCATIONS; index += 1) {
      await insertHourly(database(), hoursOf(`S-0${index}`, START, 365 * 24));
    }
    // The API gets a pool of two connections of its own, so leaks show at once.
    pool = createPool({ url: database().url, schema: database().schema, applicationName: APP, log: createLogger('silent'), max: 2, sessionTimeouts: API_SESSION_TIMEOUTS });
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    api = await startApi(database(), { connections: { db, pool }, streams: { stallTimeoutMs: 1_000, queueTimeoutMs: 3_000 } });
  });
  afterAll(async () => {
    await api?.close();
    await db?.destroy();
  });

  it('sets statement and idle-in-transaction timeouts on the API sessions', async () => {
    const { rows } = await sql<{ statement_timeout: string; idle: string }>`
      SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('idle_in_transaction_session_timeout') AS idle`.execute(db);
    expect(rows[0]?.statement_timeout).not.toBe('0');
    expect(rows[0]?.idle).not.toBe('0');
  });

  it('answers JSON at once after twenty aborted CSV downloads, with no session left active or idle in transaction', async () => {
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => abortAfterFirstBytes(`${api.url}${CSV}`, 5_000)));
    expect(outcomes.filter((outcome) => outcome === 'aborted').length).toBeGreaterThan(0);
    const response = await fetch(`${api.url}${JSON_PAGE}`, { signal: AbortSignal.timeout(2_000) });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { data: unknown[] }).data).toHaveLength(30 * 24);
    expect(await untilNoBusySession(5_000)).toEqual([]);
    // And the streams still work: a whole download completes.
    const whole = await fetch(`${api.url}/v1/locations/S-01/hourly?from=2024-01-01&to=2024-01-03&format=csv`);
    expect((await whole.text()).trim().split('\r\n')).toHaveLength(49);
  });

  it('cuts off a reader that stops reading, and gives its connection back', async () => {
    const stalled = await stallAfterFirstBytes(`${api.url}${CSV}`);
    expect(await untilNoBusySession(5_000)).toEqual([]);
    expect(await stalled.resume()).toBe('cut');
    const response = await fetch(`${api.url}${JSON_PAGE}`, { signal: AbortSignal.timeout(2_000) });
    expect(response.status).toBe(200);
  });

  it('ends running streams when the server stops', async () => {
    const own = await startApi(database(), { connections: { db, pool }, streams: { stallTimeoutMs: 60_000 } });
    const stalled = await stallAfterFirstBytes(`${own.url}${CSV}`);
    await own.close();
    expect(await untilNoBusySession(5_000)).toEqual([]);
    expect(await stalled.resume()).toBe('cut');
  });
});
