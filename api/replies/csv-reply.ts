import type { FastifyReply, FastifyRequest } from 'fastify';
import type { StreamedReplies } from '../streams/streamed-reply.js';

type Cell = string | number | boolean | Date | null | undefined;

// OWASP CSV injection: a text cell that a spreadsheet would read as a formula (or that starts
// with a tab or carriage return, which some of them skip before looking) gets a leading
// apostrophe, so it shows as the text it is. Numbers are numbers: -3.5 stays -3.5.
const FORMULA_START = /^[=+\-@\t\r]/;

export function csvCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  let text = String(value);
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * RFC 4180 CSV text with a header line, in chunks of about 16 KB. The first row is pulled before
 * anything is yielded, so the query runs (and may fail) before the 200 goes out; leaving early
 * returns the row source (and so releases its connection).
 */
export async function* csvChunks<T>(columns: readonly string[], rows: AsyncIterable<T>, project: (row: T) => Record<string, Cell>): AsyncGenerator<string> {
  const iterator = rows[Symbol.asyncIterator]();
  try {
    let next = await iterator.next();
    let batch = `${columns.join(',')}\r\n`;
    while (!next.done) {
      const values = project(next.value);
      batch += `${columns.map((column) => csvCell(values[column])).join(',')}\r\n`;
      if (batch.length >= 16_384) {
        yield batch;
        batch = '';
      }
      next = await iterator.next();
    }
    if (batch !== '') yield batch;
  } finally {
    await iterator.return?.();
  }
}

/**
 * Streams rows as CSV through `streams` (a bounded share of the pool, cut off when the client
 * hangs up, stalls or the server stops). `open` makes the row source once a stream slot is held.
 */
export function sendCsv<T>(
  streams: StreamedReplies,
  request: FastifyRequest,
  reply: FastifyReply,
  columns: readonly string[],
  open: () => AsyncIterable<T>,
  project: (row: T) => Record<string, Cell>,
): Promise<FastifyReply> {
  return streams.send(request, reply, 'text/csv; charset=utf-8', () => csvChunks(columns, open(), project));
}
