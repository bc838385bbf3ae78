import fs from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * `npm run bench`: runs every benchmark under bench/ (each module exporting `run()`), one after
 * the other so that they do not compete for the two cores, and rewrites bench/RESULTS.md with
 * what each printed. `BENCH_ONLY=name,name` picks some.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = path.resolve(here, '..', '..', 'bench');
const NOT_BENCHMARKS = new Set(['run-all.js', 'bench-database.js']);

function render(result: unknown): string {
  if (typeof result === 'string') return result;
  if (result && typeof result === 'object' && 'markdown' in result && typeof result.markdown === 'string') return result.markdown;
  return ['```json', JSON.stringify(result, null, 2), '```'].join('\n');
}

const only = process.env.BENCH_ONLY?.split(',').map((name) => name.trim());
const files = (await fs.readdir(here)).filter((file) => file.endsWith('.js') && !NOT_BENCHMARKS.has(file)).sort();
const sections: string[] = [];
let failed = 0;
for (const file of files) {
  const name = file.replace(/\.js$/, '');
  if (only && !only.includes(name)) continue;
  const module = (await import(pathToFileURL(path.join(here, file)).href)) as { run?: () => Promise<unknown> };
  if (typeof module.run !== 'function') continue;
  process.stderr.write(`\n=== bench ${name}\n`);
  const started = Date.now();
  try {
    const text = render(await module.run());
    process.stdout.write(`${text}\n`);
    sections.push(`## ${name}\n\n${text}\n\n_(${((Date.now() - started) / 1000).toFixed(0)} s, ${new Date().toISOString().slice(0, 16)}Z)_`);
  } catch (error) {
    failed++;
    process.stderr.write(`bench ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    sections.push(`## ${name}\n\nFAILED: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const header = [
  '# Benchmark results',
  '',
  `Produced by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} (sections re-run alone with \`BENCH_ONLY=name npm run bench\`),`,
  `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}.`,
  'Every figure that matters is a ratio against a baseline measured side by side in the same run,',
  'because these machines are shared and noisy; absolute figures are for orientation only.',
  'What each benchmark measures, why the code is as it is, and earlier runs: bench/results/<component>.md.',
  '',
].join('\n');
const resultsFile = path.join(sourceDir, 'RESULTS.md');
if (!only) {
  await fs.writeFile(resultsFile, `${header}\n${sections.join('\n\n')}\n`);
} else {
  // Re-running some benchmarks replaces their sections and keeps the others' latest figures.
  const previous = await fs.readFile(resultsFile, 'utf8').catch(() => `${header}\n`);
  let text = previous;
  for (const section of sections) {
    const title = section.slice(0, section.indexOf('\n'));
    const start = text.indexOf(`${title}\n`);
    if (start === -1) {
      text = `${text.trimEnd()}\n\n${section}\n`;
      continue;
    }
    const next = text.indexOf('\n## ', start + title.length);
    text = `${text.slice(0, start)}${section}\n${next === -1 ? '' : text.slice(next)}`;
  }
  await fs.writeFile(resultsFile, text);
}
process.exit(failed ? 1 : 0);
