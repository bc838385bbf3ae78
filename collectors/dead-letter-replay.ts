import type pg from 'pg';
import { appendAuditWithPool, commandActor } from '../db/index.js';
import type { Logger } from '../runtime/logger.js';
import { PlantError, EXIT_FAILED } from '../runtime/errors.js';
import { JournalLock } from './journal-lock.js';
import { DEAD_LETTER_FILE, readDeadLetters, rewriteDeadLetters, type DeadLetter } from './dead-letters.js';
import { storeOrSetAside } from './reading-writer.js';
import { writeReadings } from './raw-table-writer.js';
import type { Reading } from './reading.js';

export interface DeadLetterReplay {
  readonly file: string;
  readonly stored: number;
  readonly stillRefused: number;
  readonly unreadableLines: readonly number[];
}

const SLICE = 1_000;

/**
 * Retries every reading of a gateway's dead-letter file; those the database still refuses stay
 * in the file (with the new error), the rest leave it. Holds the journal directory's lock, so it
 * runs while that gateway's collector is stopped (the collector keeps appending to the file).
 * An unreachable database changes nothing and fails.
 */
export async function replayDeadLetters(options: { dir: string; pool: pg.Pool; timeoutMs: number; log: Logger }): Promise<DeadLetterReplay> {
  const lock = JournalLock.acquire(options.dir, options.log);
  try {
    const { letters, badLines, badTexts } = await readDeadLetters(options.dir);
    const refused: DeadLetter[] = [];
    let stored = 0;
    const byGateway = new Map<string, Reading[]>();
    for (const letter of letters) {
      let list = byGateway.get(letter.gateway);
      if (!list) byGateway.set(letter.gateway, (list = []));
      list.push(letter.reading);
    }
    const sink = (gateway: string, readings: readonly Reading[], { mayRepeat }: { readonly mayRepeat: boolean }) => writeReadings(options.pool, gateway, readings, options.timeoutMs, { mayRepeat });
    try {
      for (const [gateway, readings] of byGateway) {
        for (let start = 0; start < readings.length; start += SLICE) {
          await storeOrSetAside(sink, gateway, readings.slice(start, start + SLICE), true, refused, (count) => (stored += count));
        }
      }
    } catch (error) {
      throw new PlantError('PC_DATABASE_UNREACHABLE', `the database is unreachable; the dead-letter file is unchanged: ${(error as Error).message}`, EXIT_FAILED);
    }
    if (badLines.length > 0) options.log.error({ lines: badLines }, `lines of ${DEAD_LETTER_FILE} are not dead letters: kept as they are, at the end of the file`);
    await rewriteDeadLetters(options.dir, refused, badTexts);
    await appendAuditWithPool(options.pool, { actor: commandActor(), action: 'collector.dead-letter-replay', subject: `${options.dir}/${DEAD_LETTER_FILE}`, after: { stored, still_refused: refused.length, unreadable_lines: badLines.length } });
    options.log.info({ stored, stillRefused: refused.length }, 'replayed the dead-letter file');
    return { file: `${options.dir}/${DEAD_LETTER_FILE}`, stored, stillRefused: refused.length, unreadableLines: badLines };
  } finally {
    lock.release();
  }
}
