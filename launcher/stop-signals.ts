import type { Lifecycle } from '../runtime/lifecycle.js';
import type { Logger } from '../runtime/logger.js';

/**
 * One Ctrl-C can reach the launcher twice: the terminal signals the whole foreground process
 * group, and `npm start` (npm's run-script) forwards the SIGINT it received to its child as well.
 * A second signal within this window is that same Ctrl-C, not an operator insisting.
 */
const SAME_CTRL_C_MS = 1_000;

/**
 * Like `Lifecycle.untilSignalled`, for the launcher: SIGINT or SIGTERM starts the orderly
 * shutdown and resolves once it has finished; a second signal (after the window above) exits at
 * once, and the process tree's exit hook kills the children.
 */
export function untilStopSignal(lifecycle: Lifecycle, log: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    // Signal listeners alone do not keep Node's event loop alive.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    let firstAt: number | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (firstAt === undefined) {
        firstAt = Date.now();
        clearInterval(keepAlive);
        log.info({ signal }, 'stopping the pipeline (press Ctrl-C again to stop at once)');
        void lifecycle.shutdown(signal).then(() => resolve(signal));
        return;
      }
      if (Date.now() - firstAt < SAME_CTRL_C_MS) return;
      log.warn({ signal }, 'second signal: exiting without waiting for the pipeline to stop');
      process.exit(130);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
