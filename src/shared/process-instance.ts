import { randomUUID } from 'node:crypto';

/**
 * A random id of this process's life. Locks record it beside the pid: a lock that carries our pid but another
 * instance was left by an earlier process that had the same pid — typically the previous run of a restarted
 * container, where the writer is always pid 7 or so — and is stale, not ours.
 */
export const PROCESS_INSTANCE = randomUUID();

/**
 * Whether the holder of a lock (pid + instance, on this host) may still be running: a pid of ours counts only
 * with our instance id; any other pid counts while a process with it exists.
 */
export function holderAlive(pid: number, instance: string | undefined): boolean {
  if (pid === process.pid) return instance === PROCESS_INSTANCE;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user; still alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
