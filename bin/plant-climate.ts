#!/usr/bin/env node
import { runProgram } from '../runtime/cli.js';
import { migrateCommand, rolesCommand, embeddedDatabaseCommand, auditCommand, replicationCommand } from '../db/cli.js';
import { apiCommands } from '../api/cli.js';
import { startCommand } from '../launcher/cli.js';

await runProgram({
  bin: 'plant-climate',
  summary: 'the climate of factory floors: database, API and the whole pipeline in one command',
  commands: [startCommand, migrateCommand, rolesCommand, auditCommand, replicationCommand, ...apiCommands, embeddedDatabaseCommand],
});
