import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import locationRoutes from './locations.js';
import hourlyRoutes from './hourly.js';
import dailyRoutes from './daily.js';
import latestRoutes from './latest.js';
import deviceRoutes from './devices.js';
import pipelineRoutes from './pipeline.js';
import alarmRoutes from './alarms.js';
import excursionRoutes from './excursions.js';
import mktRoutes from './mkt.js';
import auditRoutes from './audit.js';
import changeRoutes from './changes.js';
import hourlyHistoryRoutes from './hourly-history.js';

/**
 * The /v1 scope: everything in it is rate limited (per key or client) and, with API_KEYS set,
 * needs a valid bearer key. Encapsulated, so the hooks reach only these routes.
 */
const v1: FastifyPluginAsyncTypebox = async (app) => {
  if (app.v1RateLimit) app.addHook('onRequest', app.v1RateLimit);
  app.addHook('onRequest', app.authenticate);
  await app.register(locationRoutes);
  await app.register(hourlyRoutes);
  await app.register(dailyRoutes);
  await app.register(latestRoutes);
  await app.register(deviceRoutes);
  await app.register(pipelineRoutes);
  await app.register(alarmRoutes);
  await app.register(excursionRoutes);
  await app.register(mktRoutes);
  await app.register(auditRoutes);
  await app.register(changeRoutes);
  await app.register(hourlyHistoryRoutes);
};

export default v1;
