import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { CursorCodec } from '../paging/page-cursor.js';
import type { Config } from '../../runtime/config.js';

/** What buildApp's caller decides about the API (the rest of BuildAppOptions is connections and logging). */
export interface SettingsOptions {
  readonly config: Pick<Config, 'timezone' | 'api'>;
  /** HMAC secret of page cursors (default: random per process). */
  readonly cursorSecret?: Buffer;
  /** A device with no successful poll for this long is `silent` (default 5 minutes). */
  readonly deviceSilentAfterMs?: number;
  /** The clock, for tests of partial hours and cacheability. */
  readonly now?: () => Date;
}

export interface ApiSettings {
  /** PLANT_TIMEZONE: dates in `from`/`to` and `ymd`/`hh` are in it. */
  readonly timezone: string;
  readonly keys: Config['api']['keys'];
  readonly rateLimitPerMinute: number;
  readonly corsOrigins: readonly string[];
  readonly deviceSilentAfterMs: number;
  readonly cursors: CursorCodec;
  readonly now: () => Date;
}

declare module 'fastify' {
  interface FastifyInstance {
    settings: ApiSettings;
  }
}

/** What the routes need from the config, decorated once so that every plugin reads the same. */
async function settings(app: FastifyInstance, options: SettingsOptions): Promise<void> {
  app.decorate('settings', {
    timezone: options.config.timezone,
    keys: options.config.api.keys,
    rateLimitPerMinute: options.config.api.rateLimitPerMinute,
    corsOrigins: options.config.api.corsOrigins,
    deviceSilentAfterMs: options.deviceSilentAfterMs ?? 5 * 60_000,
    // API_CURSOR_SECRET lets cursors outlive a restart and work on any of several instances.
    cursors: new CursorCodec(options.cursorSecret ?? (options.config.api.cursorSecret !== undefined ? Buffer.from(options.config.api.cursorSecret, 'utf8') : undefined)),
    now: options.now ?? (() => new Date()),
  } satisfies ApiSettings);
  return Promise.resolve();
}

export default fp(settings, { name: 'settings', fastify: '5.x' });
