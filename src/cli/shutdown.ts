import type { Logger } from 'pino';
import { EXIT } from '../shared/exit-status.js';

/**
 * First SIGINT/SIGTERM: ask the work to stop cleanly (stop crawling, finish in-flight batches, close).
 * Second: exit at once. Each batch is one SQLite transaction, so even a forced exit loses at most the
 * batches in flight, and a rerun redoes them. Returns a function that removes the handlers.
 */
export function onShutdown(log: Logger, stop: () => void): () => void {
  let signalled = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (signalled) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(signal === 'SIGINT' ? EXIT.INTERRUPTED : EXIT.TERMINATED);
    }
    signalled = true;
    log.warn({ signal }, 'stopping: finishing in-flight batches (send the signal again to force)');
    stop();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
