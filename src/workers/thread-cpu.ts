import { readFileSync } from 'node:fs';

/** Whether the calling platform told us a thread's CPU time; false after the first failure, so it is tried once. */
let available = process.platform === 'linux';

/**
 * CPU time the calling OS thread has run, in nanoseconds, or `undefined` where the platform does not say.
 *
 * `process.cpuUsage()` counts every thread of the process, so it cannot split a pool thread's time inside ORT from
 * the main thread's crawl and writes. Linux keeps each thread's run time in `/proc/thread-self/schedstat` (first
 * field, ns); a synchronous read runs on the calling thread, so a worker thread reads its own. One read costs
 * ~20 µs: cheap next to an ORT call of milliseconds.
 */
export function threadCpuNs(): number | undefined {
  if (!available) return undefined;
  try {
    // The file shows the thread's run time as of the scheduler's last update (a tick, up to ~4 ms old for a
    // thread that is running). getrusage(RUSAGE_SELF), which process.cpuUsage() calls, first brings the calling
    // thread's own time up to date (Linux's thread_group_cputime), so the read after it is exact to ~20 µs.
    process.cpuUsage();
    const ns = Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ', 1)[0]);
    if (Number.isFinite(ns)) return ns;
  } catch {
    // Not mounted (a sandbox without /proc): fall through.
  }
  available = false;
  return undefined;
}
