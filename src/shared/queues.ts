/**
 * Names of the distributed pipeline's BullMQ queues. Every process of one deployment uses the same `prefix`
 * (BullMQ's key prefix, `--prefix`, default {@link DEFAULT_PREFIX}); tests use a unique prefix each.
 *
 * - `crawl`: runs to do (a schedule fired, a backfill, `produce`), served by `produce --serve`.
 * - `embed`: batches of texts to embed, served by any number of `work` processes.
 * - `write`: embedded batches and run bookkeeping, served by the one `write` process, one job at a time.
 * - `writer-rpc`: questions for the writer ("what do you have for source X?"), answered from the database;
 *   a queue of its own so an answer never waits behind a backlog of batches.
 */
export const QUEUES = {
  crawl: 'crawl',
  embed: 'embed',
  write: 'write',
  rpc: 'writer-rpc',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** The BullMQ key prefix when none is given. */
export const DEFAULT_PREFIX = 'skillsmith';

/**
 * A deterministic BullMQ job id from its parts. BullMQ forbids `:` in custom ids (it is its key separator), so
 * every character outside `[A-Za-z0-9._-]` becomes `_`; parts are joined by `-`. Ids are short on purpose:
 * a source id is part of a skill id, but never a whole path.
 */
export function jobId(...parts: (string | number)[]): string {
  return parts.map((p) => String(p).replace(/[^A-Za-z0-9._-]/g, '_')).join('-');
}
