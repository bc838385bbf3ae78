import { createServer } from 'node:net';
import { errors } from '../runtime/errors.js';

/** Resolves when `host:port` can be listened on right now; `false` when it is taken. */
function canListen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') resolve(false);
      else reject(error);
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export interface PortClaim {
  /** Who wants the port, for the message: "the API". */
  readonly what: string;
  readonly host: string;
  readonly port: number;
  /** The variable that moves it, for the hint: PORT. */
  readonly variable: string;
}

/**
 * Checks before anything starts that the ports the children will listen on are free, so that a
 * taken port is one clear line (exit 2) instead of a child's stack trace after the database and
 * the seed have already been started. Port 0 (any free port) is never taken.
 */
export async function assertPortsFree(claims: readonly PortClaim[]): Promise<void> {
  for (const claim of claims) {
    if (claim.port === 0) continue;
    if (!(await canListen(claim.host, claim.port))) {
      throw errors.portInUse(
        claim.what,
        `${claim.host}:${claim.port}`,
        `Stop the program using it, or choose another port: ${claim.variable}=${claim.port + 1} npm start`,
      );
    }
  }
}

/** A port that is free now, for a child told to listen on "any port" whose address we must print. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
