import { defineCommand } from '../runtime/cli.js';
import { openDatabase } from './database.js';
import { migrateDown, schemaStatus } from './migrator.js';
import { applyRoles } from './roles.js';
import { verifyAuditChain } from './audit-log.js';
import { PUBLICATION, publish, replicationStatus, subscribe, unsubscribe } from './replication.js';
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

const REPLICATION_ACTIONS = ['publish', 'subscribe', 'unsubscribe', 'status'] as const;

export const replicationCommand = defineCommand({
  name: 'replication',
  summary: 'Mirror plants into a headquarters database over PostgreSQL logical replication: publish at each plant, subscribe at headquarters.',
  usage: 'plant-climate replication publish [--with-raw] [--replicator ROLE] | subscribe --from URL [--plant CODE] | unsubscribe --plant CODE | status [--json]',
  options: {
    'with-raw': { type: 'boolean' },
    replicator: { type: 'string' },
    from: { type: 'string' },
    plant: { type: 'string' },
    json: { type: 'boolean' },
  },
  optionHelp: {
    'with-raw': `publish: also publish the raw readings (through the partitioned table's root); headquarters then holds every reading`,
    replicator: 'publish: grant this existing REPLICATION role what a subscription connecting as it needs (CONNECT, USAGE, SELECT on the published tables)',
    from: `subscribe: the plant's database URL as headquarters' PostgreSQL reaches it; its user needs REPLICATION and SELECT on the published tables`,
    plant: `subscribe: the plant's code (location.plant; found in the plant's locations when they name exactly one); unsubscribe: the plant to drop`,
    json: 'status: print one JSON object (subscriptions at headquarters, slots at a plant)',
  },
  positionals: { min: 1, max: 1, names: REPLICATION_ACTIONS.join(' | ') },
  env: ['DATABASE_URL', 'DB_SCHEMA', 'PLANT_DATA_DIR', 'LOG_LEVEL'],
  async run({ values, positionals, config, log: root, lifecycle }) {
    const action = positionals[0];
    if (!REPLICATION_ACTIONS.some((known) => known === action)) throw errors.usage(`replication: unknown action ${JSON.stringify(action)}; expected ${REPLICATION_ACTIONS.join(', ')}`);
    const log = componentLogger(root, 'replication');
    const plant = typeof values.plant === 'string' ? values.plant : undefined;
    const from = typeof values.from === 'string' ? values.from : undefined;
    if (action === 'subscribe' && !from) throw errors.usage('replication subscribe: --from URL is required (the plant\'s database, e.g. postgres://replicator@plant-a:5432/plant_climate)');
    if (action === 'subscribe' && !/^postgres(ql)?:\/\//.test(from ?? '')) throw errors.usage(`--from: expected a postgres:// URL, got ${JSON.stringify(from)}`);
    if (action === 'unsubscribe' && !plant) throw errors.usage('replication unsubscribe: --plant CODE is required');
    const applicationName = `plant-climate replication ${action}`;
    // Headquarters gets the project's own schema first: the same migrations as its plants.
    const database = await openDatabase({ config, log, lifecycle, applicationName, schema: action === 'subscribe' ? 'migrate' : 'check' });
    const db = database.db as Kysely<unknown>;
    if (action === 'publish') {
      const report = await publish(db, database.schema, { withRaw: values['with-raw'] === true, replicator: typeof values.replicator === 'string' ? values.replicator : undefined });
      process.stdout.write(`publication ${report.publication} ${report.created ? 'created' : 'updated'}: ${report.tables.join(', ')}\n${report.granted ? `granted ${report.granted}\n` : ''}`);
    } else if (action === 'subscribe') {
      const report = await subscribe(db, database.schema, { from: from ?? '', plant });
      process.stdout.write(
        `subscription ${report.subscription} (plant ${report.plant}) ${report.created ? 'created' : 'updated'} to ${PUBLICATION}: ${report.tables.join(', ')}\n` +
          `the first copy runs in the background; pg_subscription_rel shows each table ready (r), pg_stat_subscription the progress\n`,
      );
    } else if (action === 'status') {
      const status = await replicationStatus(db);
      if (values.json) process.stdout.write(`${JSON.stringify(status)}\n`);
      else {
        for (const sub of status.subscriptions) {
          process.stdout.write(
            `subscription ${sub.subscription}${sub.plant ? ` (plant ${sub.plant})` : ''}: ${sub.enabled ? 'enabled' : 'DISABLED'}, ${sub.tablesReady}/${sub.tables} tables ready, ` +
              `last message ${sub.lastMessageAt?.toISOString() ?? 'never (not connected)'}, ${sub.applyErrors} apply error(s)\n`,
          );
        }
        for (const slot of status.slots) process.stdout.write(`slot ${slot.slot}: ${slot.active ? 'active' : 'INACTIVE'}, retaining ${slot.retainedBytes} bytes of WAL\n`);
        if (status.subscriptions.length + status.slots.length === 0) process.stdout.write('no plant-climate subscriptions or replication slots in this database\n');
      }
    } else {
      const report = await unsubscribe(db, plant ?? '');
      process.stdout.write(`${report.subscription}: ${report.dropped ? 'dropped, with its replication slot at the plant' : 'no such subscription'}; the plant's rows stay here\n`);
    }
  },
});
