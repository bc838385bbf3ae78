import { defineCommand } from '../runtime/cli.js';
import { openDatabase } from './database.js';
import { migrateDown, schemaStatus } from './migrator.js';
import { applyRoles } from './roles.js';
import { verifyAuditChain } from './audit-log.js';
import { redactUrl } from './pool.js';
import { componentLogger } from '../runtime/logger.js';
import { errors } from '../runtime/errors.js';
import type { Kysely } from 'kysely';

export const migrateCommand = defineCommand({
  name: 'migrate',
  summary: 'Apply pending database migrations (idempotent; safe when two processes run it at once).',
  usage: 'plant-climate migrate [--status] [--down] [--down-all]',
  options: {
    status: { type: 'boolean' },
    down: { type: 'boolean' },
    'down-all': { type: 'boolean' },
  },
  optionHelp: {
    status: 'list applied and pending migrations and change nothing',
    down: 'revert the newest migration instead',
    'down-all': 'revert every migration (drops all plant-climate tables and their data)',
  },
  env: ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'LOG_LEVEL'],
  async run({ values, config, log: root, lifecycle }) {
    const log = componentLogger(root, 'migrate');
    const readOnly = values.status === true || values.down === true || values['down-all'] === true;
    const database = await openDatabase({ config, log, lifecycle, applicationName: 'plant-climate migrate', schema: readOnly ? 'none' : 'migrate' });
    const db = database.db as Kysely<unknown>;
    if (values.down || values['down-all']) {
      const reverted = await migrateDown(db, database.schema, log, { all: values['down-all'] === true });
      process.stdout.write(reverted.length ? `reverted: ${reverted.join(', ')}\n` : 'nothing to revert\n');
      return;
    }
    const status = await schemaStatus(db, database.schema);
    if (values.status) {
      process.stdout.write(
        `database: ${redactUrl(database.url)}\nschema: ${database.schema}\napplied: ${status.applied.join(', ') || '(none)'}\npending: ${status.pending.join(', ') || '(none)'}\n`,
      );
      return status.pending.length > 0 ? 1 : 0;
    }
    process.stdout.write(`schema ${database.schema} is up to date (${status.applied.length} migrations)\n`);
    return;
  },
});

export const embeddedDatabaseCommand = defineCommand({
  name: 'db',
  summary: 'Run the embedded PostgreSQL in the foreground (for psql or a second tool) and print its URL; Ctrl-C stops it.',
  usage: 'plant-climate db',
  options: {},
  optionHelp: {},
  env: ['PLANT_DATA_DIR', 'DB_SCHEMA', 'LOG_LEVEL'],
  async run({ config, log: root, lifecycle }) {
    const log = componentLogger(root, 'db');
    if (config.databaseUrl) {
      throw errors.usage('DATABASE_URL is set: plant-climate db runs only the embedded PostgreSQL');
    }
    const database = await openDatabase({ config: { ...config, databaseUrl: undefined }, log, lifecycle, applicationName: 'plant-climate db', schema: 'none' });
    process.stdout.write(`${database.url}\n`);
    if (!database.embedded?.owner) log.info('the embedded PostgreSQL is owned by another process; this one only reports its URL');
    await lifecycle.untilSignalled();
  },
});

export const rolesCommand = defineCommand({
  name: 'roles',
  summary: 'Create or update the login roles of the collector, the aggregator and the API with only the grants each needs (re-run after migrate).',
  usage: 'plant-climate roles [--prefix plant_]',
  options: { prefix: { type: 'string' } },
  optionHelp: { prefix: 'role names are PREFIX + collector|aggregator|api (default plant_)' },
  env: ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'COLLECTOR_DB_PASSWORD', 'AGGREGATOR_DB_PASSWORD', 'API_DB_PASSWORD', 'LOG_LEVEL'],
  async run({ values, config, log: root, lifecycle }) {
    const log = componentLogger(root, 'roles');
    const prefix = typeof values.prefix === 'string' ? values.prefix : 'plant_';
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(prefix)) throw errors.usage(`--prefix: expected a lower-case SQL identifier prefix such as plant_, got ${JSON.stringify(prefix)}`);
    const database = await openDatabase({ config, log, lifecycle, applicationName: 'plant-climate roles', schema: 'check' });
    const reports = await applyRoles(database.db as Kysely<unknown>, database.schema, { prefix, passwords: config.rolePasswords });
    for (const report of reports) {
      const password = report.passwordSet ? 'password set' : report.created ? 'no password (set one to log in)' : 'password unchanged';
      process.stdout.write(`${report.role} (${report.component}): ${report.created ? 'created' : 'updated'}, ${password}\n${report.grants.map((grant) => `  ${grant}\n`).join('')}`);
    }
  },
});

export const auditCommand = defineCommand({
  name: 'audit',
  summary: 'Check the audit log\'s hash chain: exit 1 when an entry was edited or deleted.',
  usage: 'plant-climate audit verify [--json]',
  options: { json: { type: 'boolean' } },
  optionHelp: { json: 'print one JSON report (entries, head, breaks)' },
  positionals: { min: 1, max: 1, names: 'verify' },
  env: ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'LOG_LEVEL'],
  async run({ values, positionals, config, log: root, lifecycle }) {
    if (positionals[0] !== 'verify') throw errors.usage(`audit: unknown action ${JSON.stringify(positionals[0])}; the only one is \`audit verify\``);
    const log = componentLogger(root, 'audit');
    const database = await openDatabase({ config, log, lifecycle, applicationName: 'plant-climate audit verify', schema: 'check' });
    const report = await verifyAuditChain(database.db);
    if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else {
      for (const problem of report.breaks) process.stdout.write(`entry ${problem.id}: ${problem.problem}\n`);
      const head = report.head ? `head ${report.head.id} ${report.head.hash}` : 'empty';
      process.stdout.write(`${report.breaks.length === 0 ? 'ok' : 'BROKEN'}: ${report.entries} entries, ${report.breaks.length} problem(s), ${head}\n`);
    }
    return report.breaks.length === 0 ? 0 : 1;
  },
});
