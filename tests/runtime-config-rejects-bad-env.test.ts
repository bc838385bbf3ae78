import { describe, expect, it } from 'vitest';
import { loadConfig, PlantError } from '../runtime/index.js';

function configError(env: NodeJS.ProcessEnv): PlantError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof PlantError) return error;
    throw error;
  }
  throw new Error('loadConfig accepted the environment');
}

describe('the environment config', () => {
  it('has the contract defaults', () => {
    const config = loadConfig({});
    expect(config.dbSchema).toBe('flet_montrg');
    expect(config.timezone).toBe('UTC');
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toMatch(/\/data$/);
    expect(config.api).toMatchObject({ host: '127.0.0.1', port: 3000, keys: [] });
    expect(config.aggregator).toMatchObject({ cron: '5 * * * *', rawRetentionMs: undefined });
  });

  it('parses what is set', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/plant',
      DB_SCHEMA: 'plant_a',
      PLANT_TIMEZONE: 'Europe/Berlin',
      PORT: '8080',
      API_KEYS: 'reader-key-0123456789, writer-key-0123456789:write',
      RAW_RETENTION: '90d',
    });
    expect(config).toMatchObject({ databaseUrl: 'postgres://u:p@db:5432/plant', dbSchema: 'plant_a', timezone: 'Europe/Berlin' });
    expect(config.api.port).toBe(8080);
    expect(config.api.keys).toEqual([
      { key: 'reader-key-0123456789', canWrite: false },
      { key: 'writer-key-0123456789', canWrite: true },
    ]);
    expect(config.aggregator.rawRetentionMs).toBe(90 * 86_400_000);
  });

  it.each([
    ['PORT', 'http', /PORT: expected the API port \(a TCP port, 0-65535\), got "http"/],
    ['PORT', '123456', /PORT: expected/],
    ['DATABASE_URL', 'mysql://x', /DATABASE_URL: expected a postgres:\/\/ URL, got "mysql:\/\/x"/],
    ['DB_SCHEMA', 'plant; drop table x', /DB_SCHEMA: expected a lower-case SQL identifier/],
    ['PLANT_TIMEZONE', 'Mars/Olympus', /PLANT_TIMEZONE: expected an IANA time zone/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL: expected one of fatal, error/],
    ['RAW_RETENTION', 'forever', /RAW_RETENTION: expected a duration/],
    ['API_KEYS', 'short', /API_KEYS: expected a comma-separated list of keys of at least 16 characters/],
    ['API_RATE_LIMIT', '-1', /API_RATE_LIMIT: expected requests per minute/],
  ])('rejects %s=%s naming the variable and what was expected (exit 2)', (name, value, message) => {
    const error = configError({ [name]: value });
    expect(error.message).toMatch(message);
    expect(error.exitCode).toBe(2);
  });
});
