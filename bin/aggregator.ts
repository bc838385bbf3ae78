#!/usr/bin/env node
import { runProgram } from '../runtime/cli.js';
import { aggregatorCommands } from '../aggregator/cli.js';

await runProgram({
  bin: 'aggregator',
  summary: 'hourly MAX/AVG per location from temperature_raw into the hourly table',
  commands: aggregatorCommands,
});
