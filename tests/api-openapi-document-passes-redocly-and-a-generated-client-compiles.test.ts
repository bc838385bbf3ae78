import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from './support/database.js';
import { startApi, type RunningApi } from './support/api-app.js';
import { REPO_ROOT } from './support/processes.js';

const run = promisify(execFile);

interface Operation {
  operationId?: string;
  security?: unknown[];
  responses: Record<string, { content?: Record<string, unknown> }>;
}
type Document = { paths: Record<string, Record<string, Operation>>; servers?: { url: string }[]; info: { license?: { name: string } } };

/** A program a dashboard author would write against the generated types, with openapi-fetch. */
const PROGRAM = `
import createClient from 'openapi-fetch';
import type { paths } from './api.js';

// JSON and problem documents only (the time-series routes also document text/csv).
const client = createClient<paths, 'application/json' | 'application/problem+json'>({ baseUrl: 'http://127.0.0.1:3000' });

export async function lastMonth(locId: string): Promise<number | null> {
  const { data, error } = await client.GET('/v1/locations/{locId}/hourly', {
    params: { path: { locId }, query: { from: '2024-01-01', to: '2024-02-01', limit: 1000 } },
  });
  if (error) throw new Error(error.detail);
  const first = data.data[0];
  return first ? first.temperature_max : null;
}

export async function rename(locId: string, name: string): Promise<boolean> {
  const { data } = await client.PUT('/v1/locations/{locId}', { params: { path: { locId } }, body: { name, temperature_max: 30 } });
  return data?.registered ?? false;
}
`;

describe('the OpenAPI document, for client generators', () => {
  const database = useTestDatabase();
  let api: RunningApi;
  let document: Document;
  let dir: string;

  beforeAll(async () => {
    api = await startApi(database());
    document = (await (await fetch(`${api.url}/docs/json`)).json()) as Document;
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'openapi-client-'));
    await fs.writeFile(path.join(dir, 'openapi.json'), JSON.stringify(document));
  });
  afterAll(async () => {
    await api?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('gives every operation a unique camelCase operationId and a 4xx response; public routes declare no security', () => {
    const ids: string[] = [];
    for (const [route, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        expect(operation.operationId, `${method} ${route}`).toMatch(/^[a-z][A-Za-z0-9]+$/);
        ids.push(operation.operationId ?? '');
        expect(Object.keys(operation.responses).some((status) => /^4/.test(status)), `${method} ${route} has a 4xx`).toBe(true);
        if (!route.startsWith('/v1/')) expect(operation.security, `${method} ${route}`).toEqual([]);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(document.servers?.length).toBeGreaterThan(0);
    expect(document.info.license?.name).toBe('MIT');
  });

  it('documents the media types really served: CSV beside JSON, HTML, Prometheus text, problem+json', () => {
    const ok = (route: string, method = 'get') => Object.keys(document.paths[route]?.[method]?.responses['200']?.content ?? {});
    for (const route of ['/v1/locations/{locId}/hourly', '/v1/hourly', '/v1/locations/{locId}/daily', '/v1/alarms']) {
      expect(ok(route), route).toEqual(['application/json', 'text/csv']);
    }
    expect(ok('/')).toEqual(['text/html']);
    expect(ok('/metrics')[0]).toMatch(/^text\/plain/);
    expect(Object.keys(document.paths['/v1/locations/{locId}']?.get?.responses['404']?.content ?? {})).toEqual(['application/problem+json']);
  });

  it('passes Redocly CLI’s recommended rules with no error and no warning', async () => {
    const cli = path.join(REPO_ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
    const result = await run(process.execPath, [cli, 'lint', '--config', path.join(REPO_ROOT, 'redocly.yaml'), '--format', 'json', path.join(dir, 'openapi.json')], {
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      maxBuffer: 16 * 1024 * 1024,
    }).catch((error: { stdout?: string; stderr?: string }) => ({ stdout: error.stdout ?? '', stderr: error.stderr ?? '' }));
    const report = JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))) as { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string; location: { pointer: string }[] }[] };
    const problems = report.problems.map((problem) => `${problem.ruleId}: ${problem.message} (${problem.location[0]?.pointer ?? ''})`);
    expect(problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  });

  it('generates TypeScript types with openapi-typescript that a program using openapi-fetch compiles against', async () => {
    const types = astToString(await openapiTS(JSON.stringify(document)));
    await fs.writeFile(path.join(dir, 'api.ts'), types);
    await fs.writeFile(path.join(dir, 'program.ts'), PROGRAM);
    const program = ts.createProgram([path.join(dir, 'program.ts')], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      skipLibCheck: true,
      typeRoots: [path.join(REPO_ROOT, 'node_modules', '@types')],
      types: [],
      baseUrl: REPO_ROOT,
      paths: { 'openapi-fetch': [path.join(REPO_ROOT, 'node_modules', 'openapi-fetch')] },
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
    expect(diagnostics).toEqual([]);
    expect(types).toContain('getLocationHourly');
  });
});
