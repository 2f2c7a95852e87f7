import { readFileSync } from 'node:fs';

/** Whether the calling platform told us a thread's CPU time; false after the first failure, so it is tried once. */
let available = process.platform === 'linux';

/**
 * CPU time the calling OS thread has run, in nanoseconds, or `undefined` where the platform does not say.
 *
 * `process.cpuUsage()` counts every thread of the process, so it cannot split a pool thread's time inside ORT from
 * the main thread's crawl and writes. Linux keeps each thread's run time in `/proc/thread-self/schedstat` (first
 * field, ns); a synchronous read runs on the calling thread, so a worker thread reads its own. One read costs
 * ~10 µs: cheap next to an ORT call of milliseconds.
 */
export function threadCpuNs(): number | undefined {
  if (!available) return undefined;
  try {
    const ns = Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ', 1)[0]);
    if (Number.isFinite(ns)) return ns;
  } catch {
    // Not mounted (a sandbox without /proc): fall through.
  }
  available = false;
  return undefined;
}
