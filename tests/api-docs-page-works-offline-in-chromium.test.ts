import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { describeWithPeer, peers } from './support/peers.js';
import { useTestDatabase } from './support/database.js';
import { startApi, type RunningApi } from './support/api-app.js';
import { launchChromium, offMachine, recordPage } from './support/api-browser.js';

describeWithPeer(peers.chromium, 'the /docs page in headless Chromium', () => {
  const database = useTestDatabase();
  let api: RunningApi;
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    api = await startApi(database());
    browser = await launchChromium();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'api-docs-'));
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('renders every route from local assets, and no request leaves 127.0.0.1', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    const record = recordPage(page);
    await page.goto(`${api.url}/docs`, { waitUntil: 'networkidle' });
    await page.waitForSelector('.opblock', { timeout: 30_000 });
    const text = await page.locator('body').innerText();
    for (const route of ['/v1/locations', '/v1/locations/{locId}', '/v1/locations/{locId}/hourly', '/v1/hourly', '/v1/locations/{locId}/daily', '/v1/alarms', '/v1/devices', '/v1/pipeline', '/health', '/ready']) {
      expect(text).toContain(route);
    }
    expect(text).toContain('plant-climate API');

    // Try a request from the page, as a person would.
    const operation = page.locator('.opblock', { has: page.locator('.opblock-summary-path[data-path="/health"]') });
    await operation.locator('.opblock-summary').first().click();
    // tryItOutEnabled: the operation opens ready to execute.
    await operation.getByRole('button', { name: 'Execute' }).click();
    await operation.locator('.live-responses-table tr.response .response-col_status').first().waitFor({ timeout: 15_000 });
    expect(await operation.locator('.live-responses-table tr.response .response-col_status').first().innerText()).toContain('200');

    const file = path.join(dir, 'docs.png');
    await page.screenshot({ path: file, fullPage: true });
    expect((await fs.stat(file)).size).toBeGreaterThan(20_000);

    expect(record.requests.length).toBeGreaterThan(3);
    expect(offMachine(record, api.url)).toEqual([]);
    expect(record.failures).toEqual([]);
    await page.close();
  });
});
