// Filled by the benchmark issues; runs every benchmark and rewrites bench/RESULTS.md.
process.stdout.write('no benchmarks yet\n');
