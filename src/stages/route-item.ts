import type { CrawlItem, SourceSpec } from '../producer/source.js';
import { ERROR_CODES } from '../shared/errors.js';
import type { KnownSource, SeenSkill } from '../shared/known-skills.js';
import type { ErrorRecord, RunCounts } from '../shared/records.js';
import { triage, type ChangedSkill } from './triage.js';

/** Where {@link routeItem} puts what it decided: the lists of the batch being filled, and the run's counts. */
export interface ItemSink {
  counts: Pick<RunCounts, 'seen' | 'unchanged' | 'failed' | 'warnings'>;
  errors: ErrorRecord[];
  seen: SeenSkill[];
  changed: (skill: ChangedSkill) => void;
  /**
   * Skill folders of this crawl that had a sibling file left out (one set per source crawl). Sources yield that
   * problem just before the skill, and only when they read the files: a stat key stored with such a skill would
   * let the next run skip reading it, and its problem would silently vanish from `index_errors`.
   */
  leftOut: Set<string>;
}

/**
 * One crawled item through triage into the batch lists — the same in the embedded and distributed modes.
 * Returns `partial: true` when the item is a folder the crawl could not read: the source was not seen whole,
 * so it must not be tombstoned nor its state remembered.
 */
export function routeItem(
  item: CrawlItem,
  spec: SourceSpec,
  known: KnownSource,
  reembed: boolean,
  sink: ItemSink,
): { partial: boolean } {
  if ('scope' in item && item.scope === 'file') {
    // A sibling file or folder left out: recorded, but no skill was lost, so not counted as one.
    sink.errors.push({ sourceId: item.sourceId, path: item.path, code: item.code, message: item.message });
    const sibling = item.path.toLowerCase().endsWith('.md');
    if (sibling) sink.leftOut.add(parentFolder(item.path));
    // A folder (or submodule) that could not be read hides the skills below it.
    return { partial: !sibling && item.code !== ERROR_CODES.PATH_ESCAPE };
  }
  if ('files' in item && sink.leftOut.delete(item.path)) {
    // Indexed without a sibling: no stat key, so every run reads it again and reports the left-out file.
    item = { ...item, statKey: undefined };
  }
  sink.counts.seen++;
  const t = triage(item, known, reembed);
  if (t.kind === 'unchanged') {
    sink.counts.unchanged++;
    sink.seen.push(t.statKey === undefined ? { id: t.id } : { id: t.id, statKey: t.statKey });
  } else if (t.kind === 'rejected') {
    sink.counts.failed++;
    sink.errors.push(t.error);
    if (t.keepId) sink.seen.push({ id: t.keepId });
  } else {
    t.record.origin = {
      kind: spec.kind,
      ...item.provenance,
      ref: item.provenance?.ref ?? spec.ref,
      trust: spec.trust,
    };
    sink.counts.warnings += t.record.warnings.length > 0 ? 1 : 0;
    sink.changed(t);
  }
  return { partial: false };
}

/** The folder of a file path relative to the source root (`.` for a file at the root). */
function parentFolder(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '.' : path.slice(0, slash);
}
