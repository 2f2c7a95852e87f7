import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { IndexWriter } from '../writer/index-writer.js';
import { epochKey, redisDataLost, watchRedisEpoch } from './redis-epoch.js';

/** The Redis epoch each run of the writer lives in, watched for a loss of Redis's data. */
export interface RunEpochs {
  /** Remembers the epoch a run just begun lives in (the one the producer read or created before asking). */
  begun(runId: number): Promise<void>;
  /** Forgets an ended run: nothing left to spare, and a long-lived writer must not grow the map. */
  ended(runId: number): void;
  stop(): void;
}

/**
 * Redis that loses its data loses the jobs runs are waiting on: ends those runs failed, loudly, instead of
 * leaving them `running` forever (a rerun then completes the work). A run begun after Redis came back, under the
 * new epoch, is not affected by the loss and is spared.
 */
export async function watchRunEpochs(
  redis: Redis,
  prefix: string,
  writer: IndexWriter,
  log: Logger,
): Promise<RunEpochs> {
  // The epoch each run began under (runs begun before this process started: the epoch it started with).
  const runEpochs = new Map<number, string>();
  const epochWatch = await watchRedisEpoch(redis, prefix, (detail, survivor) => {
    const error = redisDataLost(detail);
    const spare = (runId: number): boolean =>
      survivor !== undefined && (runEpochs.get(runId) ?? startEpoch) === survivor;
    const runs = writer.failRunningRuns('distributed', error.code, error.message, spare);
    if (runs.length > 0) log.error({ runs, code: error.code }, error.message);
  });
  // Read by `spare` only when `survivor` is set, i.e. on a later tick, after this line has run.
  const startEpoch = epochWatch.epoch();
  return {
    async begun(runId) {
      runEpochs.set(runId, (await redis.get(epochKey(prefix)).catch(() => null)) ?? epochWatch.epoch());
    },
    ended: (runId) => runEpochs.delete(runId),
    stop: () => epochWatch.stop(),
  };
}
