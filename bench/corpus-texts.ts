/**
 * The texts the pipeline embeds, computed the way it computes them: crawlDir + parseSkill over every source,
 * valid skills only, text = skillText(skill), identical texts once.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skillText } from '../src/model/text-config.js';
import { dirSourceId } from '../src/producer/source-arg.js';
import { crawlDir } from '../src/producer/dir-source.js';
import { parseSkill } from '../src/stages/parse-skill.js';
import type { BenchSource } from './child.js';

/**
 * The shared corpus the benches default to: `$SKILLSMITH_SHARED_DIR/corpus/skills`, else
 * `<repo>/../shared/corpus/skills` (an empty variable counts as unset).
 */
export function defaultCorpusDir(): string {
  // dist/bench/ → <repo>
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return join(process.env.SKILLSMITH_SHARED_DIR || resolve(repo, '..', 'shared'), 'corpus', 'skills');
}

export interface CorpusTexts {
  /** Skills met (SkillDocs plus SKILL.md files that could not be read), as the pipeline counts `seen`. */
  seen: number;
  /** Skills that parsed and validated. */
  valid: number;
  /** Skills rejected by the crawler or the parser. */
  rejected: number;
  /** Distinct texts of the valid skills, in crawl order. */
  texts: string[];
  /** Wall time of crawl + parse + skillText, ms. */
  crawlParseMs: number;
}

export async function corpusTexts(sources: readonly BenchSource[]): Promise<CorpusTexts> {
  const started = performance.now();
  let seen = 0;
  let valid = 0;
  let rejected = 0;
  const texts = new Set<string>();
  for (const source of sources) {
    for await (const item of crawlDir({
      root: source.root,
      sourceId: source.id ?? dirSourceId(source.root),
    })) {
      if (!('files' in item)) {
        // A left-out sibling file is not a skill; an unreadable SKILL.md is a rejected one. (Nothing else
        // comes without files: no incremental check is passed to the crawler here.)
        if ('scope' in item && item.scope === 'skill') {
          seen++;
          rejected++;
        }
        continue;
      }
      seen++;
      const parsed = parseSkill(item);
      if (!parsed.ok) {
        rejected++;
        continue;
      }
      valid++;
      texts.add(skillText(parsed.skill));
    }
  }
  return { seen, valid, rejected, texts: [...texts], crawlParseMs: performance.now() - started };
}
