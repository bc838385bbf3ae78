export { startCommand } from './cli.js';
