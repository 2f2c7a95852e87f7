import type { Worker } from 'bullmq';

/**
 * Closes BullMQ workers: `close()` waits for the jobs in hand; past `graceMs`, `onTimeout` is told and they are
 * forced closed. The jobs then in hand are redelivered once their locks expire, which every role makes harmless.
 */
export async function closeWorkers(workers: Worker[], graceMs: number, onTimeout: () => void): Promise<void> {
  const graceful = Promise.all(workers.map((w) => w.close()));
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  if ((await Promise.race([graceful, timer])) === 'timeout') {
    onTimeout();
    await Promise.all(workers.map((w) => w.close(true)));
  }
}
