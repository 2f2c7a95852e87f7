import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import { waitForJob, type PipelineQueues } from './pipeline-queues.js';

/**
 * Asks the writer a question on the `writer-rpc` queue and waits for its answer (the job's return value). The
 * database is the truth about what is indexed, and only the writer opens it; producers on other machines ask.
 * No writer within `timeoutMs` is a clear error, not an endless wait.
 */
export async function askWriter<T>(
  queues: PipelineQueues,
  name: 'begin' | 'known' | 'sources',
  data: unknown,
  timeoutMs = 60_000,
): Promise<T> {
  const job = await queues.rpc.add(name, data);
  try {
    // The writer answers within milliseconds: look soon (each question is on the run's critical path).
    return await waitForJob<T>(queues.rpc, job.id as string, timeoutMs, { firstPauseMs: 5 });
  } catch (err) {
    const message = (err as Error).message;
    if (/timed out/i.test(message)) {
      await job.remove().catch(() => undefined);
      throw new IndexerError(
        ERROR_CODES.REDIS,
        `no writer answered within ${Math.round(timeoutMs / 1000)} s: is \`skillsmith-index write\` running with --prefix ${queues.target.prefix}?`,
      );
    }
    throw new IndexerError(ERROR_CODES.BAD_JOB, `the writer refused "${name}": ${message}`, { cause: err });
  }
}
