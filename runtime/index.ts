export { loadConfig, describeEnv, isValidTimeZone, ENV_DEFAULTS, type Config, type ApiKey, type EnvName } from './config.js';
export { createLogger, componentLogger, type Logger } from './logger.js';
export { Lifecycle } from './lifecycle.js';
export { errors, PlantError, EXIT_OK, EXIT_FAILED, EXIT_USAGE } from './errors.js';
export { parseDuration, formatDuration, DURATION_HINT } from './duration.js';
export { scrapeRead } from './scrape-read.js';
export { runProgram, defineCommand, type Command, type CommandContext, type Program } from './cli.js';
