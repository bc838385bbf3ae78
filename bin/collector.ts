#!/usr/bin/env node
import v8 from 'node:v8';

// A gateway is a small box: V8's default young generation (16 MiB semi-spaces) costs tens of MB
// of RSS for no gain at a collector's allocation rate (bench/collector-polling.ts, 500 devices
// per second: RSS 147 → 131 MB set here, 108 MB with `node --max-semi-space-size=2`; CPU
// unchanged). Set before the modules below allocate anything.
v8.setFlagsFromString('--max-semi-space-size=2');

const { runProgram } = await import('../runtime/cli.js');
const { collectorCommands } = await import('../collectors/cli.js');

await runProgram({
  bin: 'collector',
  summary: 'polls temperature/humidity transmitters over Modbus TCP into temperature_raw',
  commands: collectorCommands,
});
