export { buildApp, type BuildAppOptions, type ApiDatabase, type ApiApp } from './app.js';
export { apiCommands } from './cli.js';
export { API_SESSION_TIMEOUTS } from './plugins/database.js';
