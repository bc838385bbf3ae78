import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { describeWithPeer, peers } from './support/peers.js';
import { useTestDatabase } from './support/database.js';
import { hoursOf, insertHourly, startApi, type RunningApi } from './support/api-app.js';
import { launchChromium, recordPage } from './support/api-browser.js';

const HOUR = 3_600_000;

/**
 * At a headquarters database the API has no raw readings (README "Plants and headquarters"): the
 * status page still lists every plant's locations and draws their hours, shows MKT as "–" and
 * points to the plant for excursion events, instead of failing as a whole. A headquarters is a
 * database whose headquarters_plant has rows; that is all the API looks at, so a row written here
 * stands in for `replication subscribe` (the replication tests run the real thing).
 */
describeWithPeer(peers.chromium, 'the status page at a headquarters', () => {
  const database = useTestDatabase();
  let api: RunningApi;
  let browser: Browser;

  beforeAll(async () => {
    const { db } = database();
    await db.insertInto('location').values([{ loc_id: 'PA-01', name: 'Oven hall', plant: 'PA' }, { loc_id: 'PB-01', name: 'Cold store', plant: 'PB' }]).execute();
    const start = new Date(Math.floor(Date.now() / HOUR) * HOUR - 30 * HOUR);
    await insertHourly(database(), [...hoursOf('PA-01', start, 30), ...hoursOf('PB-01', start, 30, 5)]);
    await db.insertInto('headquarters_plant').values([{ plant: 'PA', subscription: 'plant_climate_pa', publisher: 'postgres://plant-a/plant_climate' }, { plant: 'PB', subscription: 'plant_climate_pb', publisher: 'postgres://plant-b/plant_climate' }]).execute();
    api = await startApi(database());
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  it('lists both plants\' locations and draws the chart, with no page error', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    const record = recordPage(page);
    await page.goto(`${api.url}/`, { waitUntil: 'networkidle' });
    await page.waitForSelector('#locations tbody tr', { timeout: 20_000 });
    await page.waitForSelector('#chart canvas', { timeout: 20_000 });
    await page.waitForFunction(`document.getElementById('excursion-summary').textContent.includes('raw readings')`, undefined, { timeout: 20_000 });
    const text = await page.locator('body').innerText();
    expect(text).toContain('Oven hall');
    expect(text).toContain('Cold store');
    expect(text).toContain("Excursion events need the plant's raw readings");
    expect(record.consoleErrors.filter((error) => !/status of 404/.test(error))).toEqual([]);
    // The only failures are the documented not-at-headquarters answers.
    expect(record.failures.every((failure) => /\/(latest|mkt|excursions)\b.*: 404$/.test(failure)), record.failures.join('\n')).toBe(true);
    await page.close();
  });
});
