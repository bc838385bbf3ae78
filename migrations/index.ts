import type { Migration } from 'kysely';
import * as initialSchema from './0001-initial-schema.js';
import * as aggregatorState from './0002-aggregator-state.js';
import * as hourlyCountsAndCoverage from './0003-hourly-counts-and-coverage.js';
import * as climateAnalyticsAndAuditLog from './0004-climate-analytics-and-audit-log.js';
import * as timePartitionedRaw from './0005-time-partitioned-raw.js';
import * as hourlyRevisionsAndHistory from './0006-hourly-revisions-and-history.js';
import * as plantPrefixedLocationIds from './0007-plant-prefixed-location-ids.js';

/**
 * Every migration, in order. Listed here rather than read from the directory so that the same
 * list works from TypeScript sources (tests) and compiled output (bins). Names never change once
 * released: the database records them.
 */
export const migrations: Readonly<Record<string, Migration>> = {
  '0001-initial-schema': initialSchema,
  '0002-aggregator-state': aggregatorState,
  '0003-hourly-counts-and-coverage': hourlyCountsAndCoverage,
  '0004-climate-analytics-and-audit-log': climateAnalyticsAndAuditLog,
  '0005-time-partitioned-raw': timePartitionedRaw,
  '0006-hourly-revisions-and-history': hourlyRevisionsAndHistory,
  '0007-plant-prefixed-location-ids': plantPrefixedLocationIds,
};
