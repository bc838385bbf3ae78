import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Gauge } from 'prom-client';
import { headquartersFacts, replicationSubscriptions, type HeadquartersFacts, type SubscriptionStatus } from '../../db/index.js';
import { scrapeRead } from '../../runtime/scrape-read.js';
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
  subscriptionMetrics(app);
  return Promise.resolve();
}

/**
 * Each plant's subscription, read at every scrape from the query `replication status` prints: a
 * plant that stops sending (down, cut off, its slot dropped) or whose changes headquarters cannot
 * apply (a duplicate key stops the apply) is otherwise silent at headquarters. No series at a plant.
 */
function subscriptionMetrics(app: FastifyInstance): void {
  const subscriptions = scrapeRead(
    () => replicationSubscriptions(app.db),
    (error) => app.log.warn({ err: error }, 'metrics: cannot read the subscriptions'),
  );
  const gauge = (name: string, help: string, value: (subscription: SubscriptionStatus, now: number) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['subscription', 'plant'],
      registers: [app.metrics],
      async collect() {
        const now = await subscriptions();
        this.reset();
        for (const subscription of now ?? []) this.set({ subscription: subscription.subscription, plant: subscription.plant ?? '' }, value(subscription, Date.now()));
      },
    });
  gauge(
    'plant_api_headquarters_last_message_age_seconds',
    'At headquarters: seconds since the last message from the plant (a connected plant sends one at least every 30 s); +Inf while not connected',
    (subscription, now) => (subscription.lastMessageAt ? Math.max(0, (now - subscription.lastMessageAt.getTime()) / 1000) : Number.POSITIVE_INFINITY),
  );
  gauge(
    'plant_api_headquarters_apply_errors',
    'At headquarters: errors applying the plant\'s changes since the statistics were reset (pg_stat_subscription_stats; a duplicate key stops the apply until fixed)',
    (subscription) => subscription.applyErrors,
  );
}

export default fp(headquarters, { name: 'headquarters', fastify: '5.x', dependencies: ['database', 'metrics'] });
