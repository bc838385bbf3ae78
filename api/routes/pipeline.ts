import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { sendJson } from '../replies/json-reply.js';
import { deviceStatus, listDevices } from '../queries/devices.js';
import { pipelineFacts } from '../queries/pipeline.js';
import { Pipeline, problemResponses } from '../schemas.js';
import { HOUR_MS } from '../time/time-range.js';
import { bearerSecurity } from './security.js';

const routes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.get(
    '/pipeline',
    {
      schema: {
        tags: ['pipeline'],
        summary: 'Health of the pipeline',
        operationId: 'getPipeline',
        description: 'Aggregation lag (now minus the end of the newest aggregated hour), hours waiting for aggregation, device health counts and the newest raw reading.',
        security: bearerSecurity,
        response: { 200: Pipeline, ...problemResponses(401, 429) },
      },
    },
    async (request, reply) => {
      const now = app.settings.now();
      const [facts, devices] = await Promise.all([pipelineFacts(app.db), listDevices(app.db)]);
      const counts = { total: devices.length, ok: 0, failing: 0, silent: 0 };
      for (const device of devices) counts[deviceStatus(device, now, app.settings.deviceSilentAfterMs)] += 1;
      const body: Pipeline = {
        aggregation: {
          newest_bucket: facts.newestBucket?.toISOString() ?? null,
          lag_seconds: facts.newestBucket ? Math.max(0, (now.getTime() - facts.newestBucket.getTime() - HOUR_MS) / 1000) : null,
          dirty_hours: facts.dirtyHours,
        },
        devices: counts,
        raw: { newest_capture_dt: facts.newestCapture?.toISOString() ?? null },
      };
      return sendJson(request, reply, body, false);
    },
  );
  done();
};

export default routes;
