import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { headquartersFacts, type HeadquartersFacts } from '../../db/index.js';
import { apiErrors } from '../problems/api-errors.js';

/**
 * What the plant has and a headquarters does not (README "Plants and headquarters"):
 * - `raw`: the raw readings (latest readings, excursion events, MKT over partial hours), unless
 *   the plants publish them (`replication publish --with-raw`);
 * - `audit`: each plant's audit trail, a hash chain of its own (not replicated);
 * - `changes`: the change feed, whose revisions are one sequence per plant, not across plants.
 */
export type PlantOnly = 'raw' | 'audit' | 'changes';

const WHY: Readonly<Record<PlantOnly, string>> = {
  raw: `needs the plant's raw readings, which this headquarters database does not replicate (a plant publishes them with \`plant-climate replication publish --with-raw\`)`,
  audit: 'is kept by each plant for itself (each plant hash-chains its own audit log; it is not replicated)',
  changes: 'is one sequence of revisions per plant, not across plants; follow each plant\'s /v1/changes',
};

/** The sentence each such route's OpenAPI description ends with. */
export function atHeadquartersNote(what: PlantOnly): string {
  return ` At a headquarters database (README "Plants and headquarters") this route answers 404 with the problem type not-at-headquarters: it ${WHY[what]}.`;
}

/** How long the answer to "is this a headquarters" is reused: a subscribe shows within this. */
const FACTS_TTL_MS = 5_000;

declare module 'fastify' {
  interface FastifyInstance {
    /** A preHandler answering 404 `not-at-headquarters` when this API serves a headquarters database lacking `what`. */
    plantOnly: (what: PlantOnly) => (request: FastifyRequest) => Promise<void>;
  }
}

/**
 * The same `plant-climate api` serves a plant or a headquarters: it is at a headquarters when its
 * database subscribes to plants (`replication subscribe` records them in headquarters_plant), so
 * no setting tells it. Routes that need what only a plant has declare it with `app.plantOnly`.
 */
async function headquarters(app: FastifyInstance): Promise<void> {
  let cached: { facts: HeadquartersFacts; at: number } | undefined;
  const facts = async (): Promise<HeadquartersFacts> => {
    const now = Date.now();
    if (!cached || now - cached.at > FACTS_TTL_MS) cached = { facts: await headquartersFacts(app.db), at: now };
    return cached.facts;
  };
  app.decorate('plantOnly', (what: PlantOnly) => async (request: FastifyRequest) => {
    const { plants, rawReplicated } = await facts();
    if (plants.length === 0 || (what === 'raw' && rawReplicated)) return;
    throw apiErrors.notAtHeadquarters(`${request.routeOptions.url ?? request.url} ${WHY[what]}; ask the API of the plant (${plants.join(', ')}) instead`);
  });
  return Promise.resolve();
}

export default fp(headquarters, { name: 'headquarters', fastify: '5.x', dependencies: ['database'] });
