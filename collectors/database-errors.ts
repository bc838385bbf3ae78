import pg from 'pg';

/**
 * Whether a failed write means "the database is unreachable" (keep the readings and retry the
 * same rows later) or "the database refused these rows" (find the bad row and set it aside, so
 * that the good ones are stored and new readings do not queue behind it).
 *
 * Unreachable: no SQLSTATE at all (a socket error such as ECONNREFUSED, ETIMEDOUT or ECONNRESET,
 * a pool checkout or write timeout, a connection terminated mid-query), or a SQLSTATE of a class
 * about the server rather than the rows: 08 connection exception, 57P operator intervention
 * (shutdown, starting up), 53 insufficient resources (disk full, too many connections), 40
 * transaction rollback (serialization, deadlock), 28 authorization, 3D no such database. Anything
 * else the server answered (22 data exception, 23 integrity constraint, a trigger's raise, …)
 * is a rejection of the rows.
 */
const UNREACHABLE_CLASSES = ['08', '53', '40', '28', '3D'];

export function isDatabaseUnreachable(error: unknown): boolean {
  // Only an error message from the server carries a SQLSTATE; a socket error's code is an errno.
  if (!(error instanceof pg.DatabaseError) || typeof error.code !== 'string') return true;
  return error.code.startsWith('57P') || UNREACHABLE_CLASSES.includes(error.code.slice(0, 2));
}

/** The SQLSTATE of a rejection, for the dead-letter file. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}
