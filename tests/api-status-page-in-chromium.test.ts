import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { describeWithPeer, peers } from './support/peers.js';
import { useTestDatabase } from './support/database.js';
import { hoursOf, insertHourly, startApi, type RunningApi } from './support/api-app.js';
import { launchChromium, offMachine, recordPage } from './support/api-browser.js';
import { insertReadings, silentLog } from './support/aggregator-fixtures.js';
import { ScheduledAggregator } from '../aggregator/index.js';
import { sql } from 'kysely';

const HOUR = 3_600_000;
const KEY = 'status-page-key-0123456789';

/** Pixels of the chart's canvas that are not transparent: uPlot drew something. */
async function paintedPixels(page: Page): Promise<number> {
  // Runs in the page (a string, since this project's TypeScript has no DOM types).
  const painted: unknown = await page.evaluate(`(() => {
    const canvas = document.querySelector('#chart canvas');
    const context = canvas && canvas.getContext('2d');
    if (!context) return 0;
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let index = 3; index < pixels.length; index += 4) if (pixels[index] > 0) painted += 1;
    return painted;
  })()`);
  return Number(painted);
}

describeWithPeer(peers.chromium, 'the status page in headless Chromium', () => {
  const database = useTestDatabase();
  let api: RunningApi;
  let browser: Browser;

  beforeAll(async () => {
    const { db } = database();
    const now = Date.now();
    const start = new Date(Math.floor(now / HOUR) * HOUR - 48 * HOUR);
    await db
      .insertInto('location')
      .values([
        { loc_id: 'A-01', name: 'Oven hall', area: 'North', temperature_max: 24 },
        { loc_id: 'B-02', name: 'Cold store', area: 'South', temperature_min: 2, temperature_max: 8 },
      ])
      .execute();
    // A-01 received 45 of the 60 readings its device should produce each hour, and had none at
    // all in one hour of the last day: (23 x 45) / (24 x 60) = 71.9 %. B-02's device has no
    // recorded poll interval: coverage unknown.
    const missing = Math.floor(now / HOUR) * HOUR - 5 * HOUR;
    await insertHourly(database(), [
      ...hoursOf('A-01', start, 48)
        .filter((hour) => hour.bucket.getTime() !== missing)
        .map((hour) => ({ ...hour, sampleCount: 45, expectedCount: 60 })),
      ...hoursOf('B-02', start, 48, 5),
    ]);
    await db
      .insertInto('temperature_raw')
      .values([
        { loc_id: 'A-01', capture_dt: new Date(now - 60_000), temperature: 25.5, humidity: 41, pcv_temperature: null, gateway_id: 'gw-1' },
        { loc_id: 'B-02', capture_dt: new Date(now - 30_000), temperature: 4.2, humidity: 70, pcv_temperature: null, gateway_id: 'gw-1' },
      ])
      .execute();
    await db
      .insertInto('device')
      .values([
        { gateway_id: 'gw-1', device_id: 'oven-1', loc_id: 'A-01', host: '10.0.0.1', port: 502, unit_id: 1, last_ok_at: new Date(now - 10_000), consecutive_failures: 0, poll_interval_ms: 60_000 },
        { gateway_id: 'gw-1', device_id: 'cold-1', loc_id: 'B-02', host: '10.0.0.2', port: 502, unit_id: 1, last_ok_at: new Date(now - 3_600_000), last_error: 'connect ECONNREFUSED', consecutive_failures: 40 },
      ])
      .execute();
    // Climate columns of the hand-written hours (the aggregator's own are checked elsewhere).
    await sql`UPDATE temperature SET dew_point_max = temperature_avg - 8, dew_point_avg = temperature_avg - 9, dew_point_count = sample_count,
              temperature_arrhenius_sum = temperature_count * exp(-83144 / 8.314462618 / (temperature_avg + 273.15))`.execute(db);
    // A-01's max of 24 °C, in force since ever; 30 hours ago a 15-minute excursion to 26.5 °C,
    // aggregated from raw readings by the aggregator itself.
    await db
      .insertInto('location_threshold')
      .values({ loc_id: 'A-01', valid_from: '-infinity', temperature_max: 24, temperature_min: null, humidity_min: null, humidity_max: null, changed_by: 'test', reason: 'test' })
      .execute();
    const excursionHour = Math.floor(now / HOUR) * HOUR - 30 * HOUR;
    await insertReadings(
      db,
      Array.from({ length: 60 }, (_, minute) => ({
        loc_id: 'A-01',
        at: new Date(excursionHour + minute * 60_000),
        values: [minute >= 10 && minute < 25 ? 25 + minute / 10 : 22, 45, null] as [number, number, null],
      })),
    );
    await new ScheduledAggregator({ db, timezone: 'UTC', log: silentLog }).runOnce('test');
    api = await startApi(database(), { keys: [{ key: KEY, canWrite: false }] });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  it('shows locations, latest readings, alarm state, a drawn chart and pipeline health, all from the API with a key', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1400 } });
    // The key a person typed earlier, as the page stores it.
    await context.addInitScript(`window.localStorage.setItem('plant-climate.api-key', ${JSON.stringify(KEY)})`);
    const page = await context.newPage();
    const record = recordPage(page);
    await page.goto(`${api.url}/`, { waitUntil: 'networkidle' });
    await page.waitForSelector('#locations tbody tr', { timeout: 20_000 });
    await page.waitForSelector('#chart canvas', { timeout: 20_000 });

    const text = await page.locator('body').innerText();
    expect(text).toContain('Oven hall');
    expect(text).toContain('Cold store');
    expect(text).toContain('25.5 °C');
    expect(text).toMatch(/ALARM: temperature above max/);
    const coverage = await page.locator('#locations tbody tr').evaluateAll((rows) => rows.map((row) => (row as unknown as { cells: { textContent: string }[] }).cells[6]?.textContent));
    expect(coverage).toEqual([`${((100 * 23 * 45) / (24 * 60)).toFixed(1)} %`, '–']);
    expect(text).toContain('cold-1');
    expect(text).toMatch(/silent/);
    expect(text).toMatch(/Aggregation lag/);
    expect(await paintedPixels(page)).toBeGreaterThan(1000);

    // Excursions of the chart's location (A-01, the first): the run, its minutes, peak and limit.
    await page.waitForSelector('#excursions tbody tr', { timeout: 20_000 });
    const excursions = await page.locator('#excursions').innerText();
    expect(excursions).toMatch(/temperature above max/);
    expect(excursions).toMatch(/\b15\b/);
    expect(excursions).toContain('27.4 °C');
    expect(excursions).toContain('24.0 °C');
    expect(await page.locator('#excursion-summary').innerText()).toContain('temperature above max: 15 min');
    const columns = await page.locator('#locations tbody tr').first().evaluate((row) => [...(row as unknown as { cells: { textContent: string }[] }).cells].map((td) => td.textContent));
    expect(columns[7]).toMatch(/°C$/);
    expect(columns[9]).toMatch(/^2\d\.\d °C$/);
    if (process.env.STATUS_PAGE_SCREENSHOT) await page.screenshot({ path: process.env.STATUS_PAGE_SCREENSHOT, fullPage: true });

    // Another window redraws the chart.
    await page.selectOption('#chart-window', '24');
    await page.waitForLoadState('networkidle');
    expect(await paintedPixels(page)).toBeGreaterThan(1000);

    expect(record.consoleErrors).toEqual([]);
    expect(record.failures).toEqual([]);
    expect(offMachine(record, api.url)).toEqual([]);
    expect(record.requests.some((url) => url.includes('/v1/locations/A-01/hourly'))).toBe(true);
    await context.close();
  });

  it('asks for a key instead of failing silently when the server needs one', async () => {
    const page = await browser.newPage();
    await page.goto(`${api.url}/`, { waitUntil: 'networkidle' });
    await page.waitForSelector('#message:not([hidden])');
    expect(await page.locator('#message').innerText()).toContain('needs an API key');
    await page.fill('#api-key', KEY);
    await page.click('#key-form button');
    await page.waitForSelector('#message', { state: 'hidden' });
    expect(await page.locator('#locations').innerText()).toContain('Oven hall');
    await page.close();
  });
});
