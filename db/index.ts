export { openDatabase, type PlantDatabase, type OpenDatabaseOptions } from './database.js';
export { cursorRows } from './cursor-stream.js';
export { createPool, redactUrl, type PoolOptions } from './pool.js';
export { ensureEmbeddedPostgres, adminUrlOf, freePort, type EmbeddedPostgres, type EmbeddedPostgresOptions } from './embedded-postgres.js';
export { migrateToLatest, migrateDown, schemaStatus, assertSchemaCurrent, MIGRATE_COMMAND, type SchemaStatus } from './migrator.js';
export type * from './schema.js';
export { METRICS, HOURLY_AGGREGATE_COLUMNS, METRIC_AGGREGATE_COLUMNS, CLIMATE_COLUMNS, LIMITED_METRICS, EXCURSION_DIRECTIONS, EXCURSION_KINDS } from './schema.js';
export type { LimitedMetric, ExcursionDirection, ExcursionKind } from './schema.js';
export {
  HOURLY_ROW_COLUMNS,
  RAW_DERIVED_COLUMNS,
  HOURLY_AGGREGATES_OF_RAW,
  MKT_DELTA_H,
  GAS_CONSTANT,
  arrheniusTerm,
  mktCelsius,
  plantLocalHour,
  expectedCountOf,
  hourlyRowsInRange,
  hourlyRowsOfHours,
  hourlyRowFields,
  isoHour,
  type HourlyRowColumn,
} from './hourly-row.js';
export { applyRoles, ROLE_GRANTS, ROUTINE_GRANTS, COMPONENTS, type Component, type RoleOptions, type RoleReport } from './roles.js';
export {
  THRESHOLD_SPANS,
  THRESHOLD_LIMITS,
  thresholdsInForce,
  thresholdHistory,
  recordThresholdVersion,
  sameLimits,
  type ThresholdVersion,
  type ThresholdLimits,
} from './location-thresholds.js';
export {
  appendAudit,
  appendAuditReturningId,
  appendAuditWithPool,
  commandActor,
  listAudit,
  verifyAuditChain,
  type AuditAction,
  type AuditEntry,
  type AuditEntryInput,
  type ChainBreak,
  type ChainReport,
} from './audit-log.js';
export {
  listRawPartitions,
  createRawPartitions,
  createRawPartitionsAhead,
  dropRawPartitionsBefore,
  rawPartitionStatus,
  rawPartitionName,
  attachedRawPartitions,
  RAW_PARTITION_DAYS_AHEAD,
  type RawPartition,
  type DroppedRawPartitions,
  type RawPartitionStatus,
} from './raw-partitions.js';
export { plantPrefixOf, plantPrefixProblem } from './location-ids.js';
export { PUBLICATION, PUBLISHED_TABLES, RAW_TABLE, publish, subscribe, unsubscribe, subscriptionName, headquartersFacts, replicationStatus, replicationSlots, replicationSubscriptions, type HeadquartersFacts, type SubscriptionStatus, type SlotStatus, type PublishReport, type SubscribeReport } from './replication.js';
export {
  CHANGE_CAUSES,
  CursorTooOldError,
  setChangeCause,
  readChangeHorizon,
  readChanges,
  hourlyTableEntries,
  pruneChangeHistory,
  type ChangeCause,
  type WriterCause,
  type ChangeHorizon,
  type ChangePage,
} from './change-feed.js';
export { hourlyHistoryJson } from './hourly-history.js';
