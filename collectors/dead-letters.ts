import fs from 'node:fs';
import path from 'node:path';
import { valuesFromOrder, type Reading } from './reading.js';
import { sqlState } from './database-errors.js';
import { METRICS } from '../db/index.js';

/**
 * Readings the database refused (a CHECK, a foreign key, a value out of a column's range, a
 * trigger's error), one JSON object per line with the error, in `dead-letters.jsonl` of the
 * gateway's journal directory. Each line is written and fdatasync'd before the reading leaves the
 * journal, so a refused reading is never only in memory. `collector replay-dead-letters` retries
 * them once the cause is fixed.
 */
export const DEAD_LETTER_FILE = 'dead-letters.jsonl';

export interface DeadLetter {
  readonly gateway: string;
  readonly reading: Reading;
  readonly error: string;
  readonly sqlstate: string | undefined;
  readonly at: string;
}

interface DeadLetterLine {
  gateway: string;
  loc_id: string;
  capture_dt: string;
  capture_ms: number;
  values: Record<string, number | null>;
  error: string;
  sqlstate: string | null;
  at: string;
}

function toLine(letter: DeadLetter): string {
  const line: DeadLetterLine = {
    gateway: letter.gateway,
    loc_id: letter.reading.locId,
    capture_dt: new Date(letter.reading.captureMs).toISOString(),
    capture_ms: letter.reading.captureMs,
    values: { ...letter.reading.values },
    error: letter.error,
    sqlstate: letter.sqlstate ?? null,
    at: letter.at,
  };
  return `${JSON.stringify(line)}\n`;
}

export function deadLetter(gateway: string, reading: Reading, error: unknown): DeadLetter {
  return { gateway, reading, error: error instanceof Error ? error.message : String(error), sqlstate: sqlState(error), at: new Date().toISOString() };
}

/** Appends and fdatasyncs; throws if the disk refuses (the caller keeps the reading in the journal). */
export function appendDeadLetters(dir: string, letters: readonly DeadLetter[]): void {
  if (letters.length === 0) return;
  const fd = fs.openSync(path.join(dir, DEAD_LETTER_FILE), 'a');
  try {
    fs.writeFileSync(fd, letters.map(toLine).join(''));
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The dead letters of a directory, with the numbers of lines that could not be parsed. */
export async function readDeadLetters(dir: string): Promise<{ letters: DeadLetter[]; badLines: number[]; badTexts: string[] }> {
  let text: string;
  try {
    text = await fs.promises.readFile(path.join(dir, DEAD_LETTER_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { letters: [], badLines: [], badTexts: [] };
    throw error;
  }
  const letters: DeadLetter[] = [];
  const badLines: number[] = [];
  const badTexts: string[] = [];
  text.split('\n').forEach((raw, index) => {
    if (raw.trim() === '') return;
    try {
      const line = JSON.parse(raw) as DeadLetterLine;
      const values = valuesFromOrder(METRICS.map((metric) => line.values[metric] ?? null));
      letters.push({ gateway: line.gateway, reading: { locId: line.loc_id, captureMs: line.capture_ms, values }, error: line.error, sqlstate: line.sqlstate ?? undefined, at: line.at });
    } catch {
      badLines.push(index + 1);
      badTexts.push(raw);
    }
  });
  return { letters, badLines, badTexts };
}

/**
 * Replaces the file with `letters` and the `unparsed` lines kept as they were (atomically: a
 * crash leaves the old or the new file).
 */
export async function rewriteDeadLetters(dir: string, letters: readonly DeadLetter[], unparsed: readonly string[] = []): Promise<void> {
  const file = path.join(dir, DEAD_LETTER_FILE);
  if (letters.length === 0 && unparsed.length === 0) {
    await fs.promises.rm(file, { force: true });
    return;
  }
  const temporary = `${file}.tmp`;
  const handle = await fs.promises.open(temporary, 'w');
  try {
    await handle.writeFile(letters.map(toLine).join('') + unparsed.map((line) => `${line}\n`).join(''));
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await fs.promises.rename(temporary, file);
}

