import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { startApi, type RunningApi } from './support/api-app.js';

interface Operation {
  parameters?: { name: string; in: string }[];
  responses: Record<string, unknown>;
  security?: unknown[];
}
type Document = { openapi: string; paths: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, unknown> } };

describe('the OpenAPI document', () => {
  const database = useTestDatabase();
  let api: RunningApi;
  let document: Document;

  beforeAll(async () => {
    api = await startApi(database());
    const response = await fetch(`${api.url}/docs/json`);
    expect(response.status).toBe(200);
    document = (await response.json()) as Document;
  });
  afterAll(async () => {
    await api?.close();
  });

  it('validates as OpenAPI 3 with swagger-parser', async () => {
    expect(document.openapi).toMatch(/^3\./);
    await expect(SwaggerParser.validate(structuredClone(document) as never)).resolves.toBeTruthy();
  });

  it('describes every route the server has, with its parameters and problem responses', () => {
    const served = api.app.routeTable
      .filter((route) => !route.hidden && route.method !== 'HEAD' && !route.url.startsWith('/docs'))
      .map((route) => `${route.method} ${route.url.replace(/:([A-Za-z]+)/g, '{$1}')}`);
    const documented = Object.entries(document.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
    expect(served.length).toBeGreaterThanOrEqual(15);
    expect(new Set(documented)).toEqual(new Set(served));
    for (const route of [
      'GET /health',
      'GET /ready',
      'GET /metrics',
      'GET /',
      'GET /v1/locations',
      'GET /v1/locations/{locId}',
      'PUT /v1/locations/{locId}',
      'GET /v1/locations/{locId}/hourly',
      'GET /v1/hourly',
      'GET /v1/locations/{locId}/latest',
      'GET /v1/latest',
      'GET /v1/locations/{locId}/daily',
      'GET /v1/devices',
      'GET /v1/pipeline',
      'GET /v1/alarms',
      'GET /v1/locations/{locId}/excursions',
      'GET /v1/locations/{locId}/mkt',
      'GET /v1/audit',
    ]) {
      expect(documented).toContain(route);
    }
    const hourly = document.paths['/v1/locations/{locId}/hourly']?.get;
    expect(hourly?.parameters?.map((parameter) => `${parameter.in}:${parameter.name}`)).toEqual(
      expect.arrayContaining(['path:locId', 'query:from', 'query:to', 'query:include_partial', 'query:limit', 'query:cursor', 'query:format']),
    );
    expect(Object.keys(hourly?.responses ?? {})).toEqual(expect.arrayContaining(['200', '400', '404']));
    expect(hourly?.security).toEqual([{ bearer: [] }]);
    expect(JSON.stringify(document)).toContain('"examples"');
  });
});
