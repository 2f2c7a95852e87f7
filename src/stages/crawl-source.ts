import type { CrawlContext, SkillSource, SourceSpec, SourceState } from '../producer/source.js';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import type { KnownSource } from '../shared/known-skills.js';
import type { RunSource } from '../shared/records.js';
import { redactUrl } from '../shared/redact.js';
import { globFilter } from './glob-filter.js';
import type { OpenBatch } from './open-batch.js';
import { routeItem, type ItemSink } from './route-item.js';
import { unchangedByStat } from './triage.js';

/** One source to crawl, with what the index knows of it and where its items go. */
export interface SourceCrawl<S> {
  source: SkillSource;
  /** The source as the run records it: the crawl sets its `commit` and `error`; its `status` is the caller's. */
  runSource: RunSource;
  known: KnownSource;
  /** The state its last complete crawl returned. */
  previous: SourceState | undefined;
  /**
   * Every skill is to be embedded again (`--reembed`, or the text each vector is made from changed): none
   * counts as unchanged.
   */
  reembed: boolean;
  maxFileBytes: number;
  signal: AbortSignal | undefined;
  log: CrawlContext['log'];
  counts: ItemSink['counts'];
  /** The batch being filled; the crawl waits while a full one is sent (the backpressure of both modes). */
  batch: OpenBatch<S>;
  /** Each item the source yields, before triage. */
  onItem?: () => void;
}

/** How a source's crawl ended. */
export interface CrawlOutcome {
  /**
   * `partial`: a folder could not be read (its skills are unknown), so nothing may be tombstoned nor the state
   * saved; `interrupted`: stopped by the signal; `failed`: the source could not be crawled at all.
   */
  status: 'completed' | 'partial' | 'interrupted' | 'failed';
  /** What the source returned to remember, when its crawl ran to its end. */
  state: SourceState | undefined;
  /** `failed`: the source's error, and its message with credentials removed (as recorded on the run). */
  failure?: { err: IndexerError; message: string };
}

const PARTIAL = 'some folders could not be read: no tombstones, state not saved (see index_errors)';

/**
 * One source's crawl, the same in the embedded and the distributed mode: every item through triage into the
 * open batch, sent whenever it is full. A source that fails (`SOURCE_FAILED`) is recorded on the run and in
 * the batch's errors, and does not stop the run; any other error goes on to the caller. The batch is not
 * flushed at the end: the embedded mode fills one batch across sources, the distributed mode one per source.
 */
export async function crawlSource<S>(c: SourceCrawl<S>): Promise<CrawlOutcome> {
  const { spec } = c.source;
  const leftOut = new Set<string>();
  let partial = false;
  const crawl = c.source.crawl({
    isUnchanged: (id, statKey) => unchangedByStat(c.known, id, statKey, c.reembed),
    wants: globFilter(spec.include, spec.exclude),
    previous: c.previous,
    maxFileBytes: c.maxFileBytes,
    signal: c.signal,
    log: c.log,
  });
  try {
    for (;;) {
      const next = await crawl.next();
      if (next.done) return ended(c, partial, next.value);
      c.onItem?.();
      const { batch } = c;
      const routed = routeItem(next.value, spec, c.known, c.reembed, {
        counts: c.counts,
        errors: batch.errors,
        seen: batch.seen,
        leftOut,
        changed: (t) => batch.addChanged(t),
      });
      if (routed.partial) partial = true;
      if (batch.full()) await batch.flush();
    }
  } catch (err) {
    // Let the source clean up (git's cat-file process, open handles) before the error goes on.
    await crawl.return(undefined).catch(() => undefined);
    if (!(err instanceof IndexerError) || err.code !== ERROR_CODES.SOURCE_FAILED) throw err;
    // One source failing must not stop the others: record it on the run and go on.
    const message = redactUrl(err.message);
    c.runSource.error = message;
    c.batch.errors.push({ sourceId: spec.id, path: '.', code: err.code, message });
    return { status: 'failed', state: undefined, failure: { err, message } };
  }
}

/** The status of a crawl that ran to its end, noted on the run's source. */
function ended<S>(c: SourceCrawl<S>, partial: boolean, state: SourceState | undefined): CrawlOutcome {
  if (partial) {
    c.runSource.error = PARTIAL;
    return { status: 'partial', state };
  }
  if (c.signal?.aborted) return { status: 'interrupted', state };
  if (typeof state?.commit === 'string') c.runSource.commit = state.commit;
  return { status: 'completed', state };
}

/** A source as a run records it: credentials removed from its location. */
export function runSourceOf(s: SourceSpec): RunSource {
  return { id: s.id, kind: s.kind, location: redactUrl(s.location), ...(s.ref ? { ref: s.ref } : {}) };
}
