/** The aggregator's public surface: raw readings to the hourly table, on a schedule and on demand. */
export { aggregatorCommands } from './cli.js';
export { ScheduledAggregator, startSchedule, type Clock, type RunReport, type Schedule, type ScheduledAggregatorOptions } from './scheduled-aggregator.js';
export { backfill, type BackfillOptions, type BackfillSummary, type BackfillChunk } from './backfill.js';
export { verify, type VerifyOptions, type VerifyReport } from './verify.js';
export { pruneRaw, type PruneOptions, type PruneReport } from './raw-retention.js';
export { applyRollup, compareRange, type HourScope, type RollupCounts, type HourDifference } from './hourly-rollup.js';
export { aggregateDirtyHours, countDirtyHours } from './dirty-hour-run.js';
export { readState, type AggregatorState } from './aggregator-state.js';
export { createAggregatorMetrics, serveMetrics, type AggregatorMetrics } from './metrics.js';
export { planDays, parseDayRange, type PlantDay } from './plant-days.js';
