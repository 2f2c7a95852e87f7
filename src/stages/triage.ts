import { skillText, textHash } from '../model/text-config.js';
import { ERROR_CODES } from '../shared/errors.js';
import { PARSE_RULES_VERSION } from '../shared/parse-rules.js';
import type { ErrorRecord, SkillRecord } from '../shared/records.js';
import type { CrawlProblem, SkillDoc, SkillUnchanged } from '../shared/skill-doc.js';
import type { KnownSource } from '../shared/known-skills.js';
import { parseSkill } from './parse-skill.js';

/**
 * Whether a skill's files need not be read, on its stat key alone: same files' metadata as when it was
 * indexed (and its vector for the model exists), or as when it was last rejected (it would be again) — both
 * under the current parse rules: a row or rejection made with other rules is read and parsed again.
 */
export function unchangedByStat(known: KnownSource, id: string, statKey: string, reembed = false): boolean {
  const before = known.skills.get(id);
  if (
    !reembed &&
    before &&
    !before.removed &&
    before.statKey === statKey &&
    before.textHash !== null &&
    before.parseVersion === PARSE_RULES_VERSION
  )
    return true;
  return stillRejected(known, id, statKey);
}

/** The skill's last rejection stands: same files (stat key) and made under the current parse rules. */
function stillRejected(known: KnownSource, id: string, statKey: string | undefined): boolean {
  const rejection = known.rejections.get(id);
  return (
    rejection !== undefined && rejection.statKey === statKey && rejection.parseVersion === PARSE_RULES_VERSION
  );
}

/** What the incremental check decided for one crawled item. */
export type Triage =
  | { kind: 'unchanged'; id: string; statKey?: string | undefined }
  | { kind: 'changed'; record: SkillRecord; text: string; textHash: string }
  | {
      kind: 'rejected';
      error: ErrorRecord;
      /** keep the last good version of an indexed skill */ keepId?: string;
    };

/**
 * Decides what to do with one crawled item: skip it (same content, vector present for this model),
 * reject it (recorded with a reason), or index it. Parsing happens only when the content changed, which is
 * what makes an unchanged re-index cheap. Pure: the same stage serves the embedded and distributed modes.
 */
export function triage(
  item: SkillDoc | SkillUnchanged | CrawlProblem,
  known: KnownSource,
  /** The text each vector is made from changed: no skill counts as unchanged, every text is embedded anew. */
  reembed = false,
): Triage {
  const keep = (id: string): { keepId?: string } => {
    const before = known.skills.get(id);
    return before && !before.removed ? { keepId: id } : {};
  };
  if ('unchanged' in item) {
    const rejection = known.rejections.get(item.id);
    if (rejection && stillRejected(known, item.id, item.statKey)) {
      return { kind: 'rejected', error: rejection, ...keep(item.id) };
    }
    return { kind: 'unchanged', id: item.id };
  }
  if (!('files' in item)) {
    // A skill that could not be read this time (permissions, too large now, not UTF-8) keeps its last good
    // version, exactly like one that no longer parses: an unreadable file is not a deleted skill.
    const { sourceId, path, code, message } = item;
    return { kind: 'rejected', error: { sourceId, path, code, message }, ...keep(`${sourceId}/${path}`) };
  }
  const before = known.skills.get(item.id);
  if (
    !reembed &&
    before &&
    !before.removed &&
    before.contentHash === item.contentHash &&
    before.textHash !== null &&
    before.parseVersion === PARSE_RULES_VERSION
  ) {
    // Same bytes, new stat key (files touched or copied): remember the new key so the next run skips reading.
    return { kind: 'unchanged', id: item.id, statKey: item.statKey };
  }
  let parsed: ReturnType<typeof parseSkill>;
  try {
    parsed = parseSkill(item);
  } catch (err) {
    // A parser bug or a pathological input must cost one skill, never the run.
    parsed = {
      ok: false,
      code: ERROR_CODES.UNPARSEABLE,
      message: `${item.id}/SKILL.md could not be parsed: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
  if (!parsed.ok) {
    return {
      kind: 'rejected',
      error: {
        sourceId: item.sourceId,
        path: item.path,
        code: parsed.code,
        message: parsed.message,
        line: parsed.line,
        statKey: item.statKey,
        parseVersion: PARSE_RULES_VERSION,
      },
      ...keep(item.id),
    };
  }
  const s = parsed.skill;
  const record: SkillRecord = {
    id: s.id,
    sourceId: s.sourceId,
    path: s.path,
    name: s.name,
    description: s.description,
    body: s.body,
    frontMatter: s.frontMatter,
    license: s.license,
    allowedTools: s.allowedTools,
    warnings: parsed.warnings,
    contentHash: s.contentHash,
    statKey: item.statKey,
    parseVersion: PARSE_RULES_VERSION,
  };
  const text = skillText(s);
  return { kind: 'changed', record, text, textHash: textHash(text) };
}

/** A skill to index: its row, and the text its vector is made of. */
export type ChangedSkill = Extract<Triage, { kind: 'changed' }>;
