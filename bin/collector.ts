#!/usr/bin/env node
import { runProgram } from '../runtime/cli.js';
import { collectorCommands } from '../collectors/cli.js';

await runProgram({
  bin: 'collector',
  summary: 'polls temperature/humidity transmitters over Modbus TCP into temperature_raw',
  commands: collectorCommands,
});
