import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';

type Cell = string | number | boolean | Date | null | undefined;

function cell(value: Cell): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** True when the client asked for CSV: `format=csv`, or `Accept: text/csv` without `format=json`. */
export function wantsCsv(request: FastifyRequest, format: string | undefined): boolean {
  if (format !== undefined) return format === 'csv';
  const accept = request.headers.accept;
  return typeof accept === 'string' && /\btext\/csv\b/i.test(accept);
}

/**
 * Streams rows as RFC 4180 CSV with a header line. Rows come from an async iterator (a
 * PostgreSQL cursor), so a year of hours is never held in memory.
 */
export async function sendCsv<T>(reply: FastifyReply, columns: readonly string[], rows: AsyncIterable<T>, project: (row: T) => Record<string, Cell>): Promise<FastifyReply> {
  // The query runs when the first row is pulled: pull it before the 200 goes out, so that a
  // failing query is still answered with a problem document.
  const iterator = rows[Symbol.asyncIterator]();
  const first = await iterator.next();
  async function* lines(): AsyncGenerator<string> {
    yield `${columns.join(',')}\r\n`;
    let batch = '';
    for (let next = first; !next.done; next = await iterator.next()) {
      const values = project(next.value);
      batch += `${columns.map((column) => cell(values[column])).join(',')}\r\n`;
      if (batch.length >= 16_384) {
        yield batch;
        batch = '';
      }
    }
    if (batch !== '') yield batch;
  }
  return reply.header('content-type', 'text/csv; charset=utf-8').header('cache-control', 'no-cache').send(Readable.from(lines()));
}
