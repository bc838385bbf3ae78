import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { REPO } from './support/deploy-expressions.js';

/**
 * The image cannot be built here (no Docker daemon), so this pins down what the build depends on:
 * every source folder the build compiles reaches the build context, and the runtime stage ships
 * production dependencies, the compiled output and the status page's files, as a non-root user.
 */
const dockerfile = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
const ignored = fs
  .readFileSync(path.join(REPO, '.dockerignore'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

/** Whether .dockerignore keeps `entry` (a top-level path) out of the build context. */
function excluded(entry: string): boolean {
  let out = false;
  for (const pattern of ignored) {
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    const regex = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`);
    if (regex.test(entry)) out = !negated;
  }
  return out;
}

it('sends every folder tsconfig.build.json compiles, and the package files, to the build context', () => {
  const build = JSON.parse(fs.readFileSync(path.join(REPO, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  const needed = [...build.include, 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'api/static/index.html'];
  expect(needed.filter(excluded)).toEqual([]);
  expect(['node_modules', 'dist', 'data', '.env', 'tests', '.git'].filter((entry) => !excluded(entry))).toEqual([]);
  expect(excluded('.env.example')).toBe(false);
});

it('has a build stage with the dev dependencies and a runtime stage with production dependencies only', () => {
  const stages = dockerfile.split(/^FROM /m).slice(1);
  expect(stages.map((stage) => stage.split('\n')[0])).toEqual(['node:20-bookworm-slim AS build', 'node:20-bookworm-slim AS runtime']);
  const [build, runtime] = stages as [string, string];
  expect(build).toMatch(/^RUN npm ci\b(?!.*--omit=dev)/m);
  expect(build).toMatch(/^RUN npm run build$/m);
  expect(runtime).toMatch(/^RUN npm ci --omit=dev\b/m);
  expect(runtime).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
  expect(runtime).toMatch(/^COPY api\/static \.\/api\/static$/m);
  expect(runtime).toMatch(/^USER node$/m);
  for (const bin of Object.keys((JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin)) {
    expect(runtime, `the ${bin} bin on PATH`).toContain(`/usr/local/bin/${bin}`);
  }
});
