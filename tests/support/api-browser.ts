import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium, headless, with every background call to Google switched off. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export interface PageRecord {
  readonly requests: string[];
  readonly failures: string[];
  readonly consoleErrors: string[];
}

/** Records every request the page makes, failed or erroring responses, and console errors. */
export function recordPage(page: Page): PageRecord {
  const record: PageRecord = { requests: [], failures: [], consoleErrors: [] };
  page.on('request', (request) => record.requests.push(request.url()));
  page.on('requestfailed', (request) => record.failures.push(`${request.url()}: ${request.failure()?.errorText ?? 'failed'}`));
  page.on('response', (response) => {
    if (response.status() >= 400) record.failures.push(`${response.url()}: ${response.status()}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') record.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => record.consoleErrors.push(error.message));
  return record;
}

/** Requests that left the API's own loopback origin (data: and blob: URLs stay in the page). */
export function offMachine(record: PageRecord, origin: string): string[] {
  return record.requests.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:') && !url.startsWith('blob:'));
}
