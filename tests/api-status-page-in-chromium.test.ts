import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { describeWithPeer, peers } from './support/peers.js';
import { useTestDatabase } from './support/database.js';
import { hoursOf, insertHourly, startApi, type RunningApi } from './support/api-app.js';
import { launchChromium, offMachine, recordPage } from './support/api-browser.js';

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
        { loc_id: 'A-01', name: 'Oven hall', plant: 'P1', area: 'North', temperature_max: 24 },
        { loc_id: 'B-02', name: 'Cold store', plant: 'P1', area: 'South', temperature_min: 2, temperature_max: 8 },
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
