import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Device as DeviceRow } from '../../db/schema.js';
import { sendJson } from '../replies/json-reply.js';
import { deviceStatus, listDevices } from '../queries/devices.js';
import { Device, collection, problemResponses } from '../schemas.js';
import { bearerSecurity } from './security.js';

export function toDevice(row: DeviceRow, now: Date, silentAfterMs: number): Device {
  return {
    ...row,
    last_ok_at: row.last_ok_at?.toISOString() ?? null,
    last_error_at: row.last_error_at?.toISOString() ?? null,
    updated_at: row.updated_at.toISOString(),
    status: deviceStatus(row, now, silentAfterMs),
  };
}

const routes: FastifyPluginCallbackTypebox = (app, _options, done) => {
  app.get(
    '/devices',
    {
      schema: {
        tags: ['pipeline'],
        summary: 'Every polled device with its health',
        operationId: 'listDevices',
        description: `From the device table kept by the collectors. status: silent when there was no successful poll for ${app.settings.deviceSilentAfterMs / 1000} s (or never), failing when the latest polls failed, ok otherwise. Never paged.`,
        security: bearerSecurity,
        response: { 200: collection(Device, 'Devices ordered by gateway_id, device_id'), ...problemResponses(401, 429) },
      },
    },
    async (request, reply) => {
      const now = app.settings.now();
      const rows = await listDevices(app.db);
      return sendJson(request, reply, { data: rows.map((row) => toDevice(row, now, app.settings.deviceSilentAfterMs)), next_cursor: null }, false);
    },
  );
  done();
};

export default routes;
