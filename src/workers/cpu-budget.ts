import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';

/**
 * CPUs this process may really use: the affinity mask (what `availableParallelism` reports) capped by a
 * cgroup v2 (`cpu.max`) or v1 (`cfs_quota_us`) CPU quota, as containers with `--cpus` set it.
 */
export function cpuBudget(): number {
  const affinity = availableParallelism();
  const quota = cgroupQuota();
  return Math.max(1, quota === undefined ? affinity : Math.min(affinity, Math.floor(quota) || 1));
}

function cgroupQuota(): number | undefined {
  try {
    const [max, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (max && max !== 'max' && period) return Number(max) / Number(period);
    if (max === 'max') return undefined;
  } catch {
    /* not cgroup v2 */
  }
  try {
    const quota = Number(readFileSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us', 'utf8'));
    const period = Number(readFileSync('/sys/fs/cgroup/cpu/cpu.cfs_period_us', 'utf8'));
    if (quota > 0 && period > 0) return quota / period;
  } catch {
    /* no cgroup v1 cpu controller either */
  }
  return undefined;
}

/** How a thread budget is split between pool workers and ORT intra-op threads. */
export interface PoolShape {
  workers: number;
  intraOpThreads: number;
}

/**
 * One ORT thread per worker: measured here, 2 workers × 1 intra-op thread beats 1 worker × 2 on short texts
 * and keeps workers × intra-op ≤ budget, so no thread waits for a core.
 */
export function poolShape(threads: number): PoolShape {
  return { workers: Math.max(1, threads), intraOpThreads: 1 };
}
