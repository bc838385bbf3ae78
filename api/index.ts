export { buildApp, type BuildAppOptions, type ApiDatabase, type ApiApp } from './app.js';
export { apiCommands } from './cli.js';
