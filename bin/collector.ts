#!/usr/bin/env node
import v8 from 'node:v8';

// A gateway is a small box, and V8 sizes its heap for the machine (a 4 GB limit on 24 GB), not for
// the 25 MB a collector keeps alive. Measured with bench/collector-polling.ts at 500 devices per
// second (bench/results/collector.md, "RSS"):
// - The young generation grows to two 16 MiB semi-spaces: 32 MB of RSS for nothing. Its size
//   limit (--max-semi-space-size) is fixed when the isolate is created, so it cannot be set from
//   here; the growth factor is read each time new space grows, so 1 keeps the initial 1 MiB ones.
// - Old space then fills with garbage up to about 64 MB before its first full GC (after about
//   95 s), and RSS with it (141 MB). --optimize-for-size, read at each GC decision, starts full
//   GCs early: old space stays near the 25 MB that are live, RSS at 98 MB over 150 s.
// Set before the modules below allocate anything.
v8.setFlagsFromString('--semi-space-growth-factor=1');
v8.setFlagsFromString('--optimize-for-size');

const { runProgram } = await import('../runtime/cli.js');
const { collectorCommands } = await import('../collectors/cli.js');

await runProgram({
  bin: 'collector',
  summary: 'polls temperature/humidity transmitters over Modbus TCP into temperature_raw',
  commands: collectorCommands,
});
