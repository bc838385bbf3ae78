import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * Where the status page's files are: api/static of the package (the compiled API runs from
 * dist/api, and tsc does not copy HTML), and uPlot's dist from node_modules.
 */
export function staticRoot(): string {
  for (let dir = import.meta.dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'api', 'static', 'index.html'))) return path.join(dir, 'api', 'static');
    if (path.dirname(dir) === dir) throw new Error(`api/static not found above ${import.meta.dirname}`);
  }
}

export function uplotDist(): string {
  return path.join(path.dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
}
