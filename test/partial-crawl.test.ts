import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { loadModelSpec, type ModelSpec } from '../src/model/model-spec.js';
import { TEXT_CONFIG } from '../src/model/text-config.js';
import { runEmbedded } from '../src/embedded/embedded-run.js';
import type { CrawlItem, SkillSource, SourceSpec } from '../src/producer/source.js';
import { contentHash } from '../src/shared/content-hash.js';
import { ERROR_CODES } from '../src/shared/errors.js';
import { tempDir } from './helpers.js';

const tmp = tempDir();
let model: ModelSpec;
beforeAll(async () => {
  model = loadModelSpec(await ensureDefaultModel());
});
afterAll(() => tmp.cleanup());

const spec: SourceSpec = { id: 'src', kind: 'dir', location: '/nowhere' };

function skill(path: string): CrawlItem {
  const files = [
    { path: 'SKILL.md', text: `---\nname: ${path}\ndescription: does ${path} things\n---\nbody\n` },
  ];
  return { id: `src/${path}`, sourceId: 'src', path, files, contentHash: contentHash(files) };
}

/** A source that yields exactly the given items (what a crawl that hit unreadable parts looks like). */
function sourceOf(items: CrawlItem[]): () => SkillSource {
  return () => ({
    spec,
    async *crawl() {
      for (const item of items) yield item;
      return { commit: 'c1' };
    },
  });
}

function live(db: string): string[] {
  const r = new Database(db, { readonly: true });
  const ids = r
    .prepare('SELECT id FROM skills WHERE removed_at IS NULL ORDER BY id')
    .pluck()
    .all() as string[];
  r.close();
  return ids;
}

describe('a crawl that could not read everything', () => {
  it('keeps skills it could not read, and tombstones nothing when a folder was unreadable', async () => {
    const db = join(tmp.dir, 'partial.db');
    const run = (items: CrawlItem[]) =>
      runEmbedded({ sources: [spec], db, model, threads: 1, createSource: sourceOf(items) });

    await run([skill('a'), skill('b'), skill('c')]);
    expect(live(db)).toEqual(['src/a', 'src/b', 'src/c']);

    // b's SKILL.md is unreadable now: b keeps its last good version; c is really gone and is tombstoned.
    const second = await run([
      skill('a'),
      { sourceId: 'src', path: 'b', scope: 'skill', code: ERROR_CODES.READ_FAILED, message: 'EACCES' },
    ]);
    expect(second.counts).toMatchObject({ failed: 1, removed: 1 });
    expect(live(db)).toEqual(['src/a', 'src/b']);

    // A folder could not be listed: whatever was below it is unknown, so nothing is tombstoned this run.
    const third = await run([
      { sourceId: 'src', path: 'deep', scope: 'file', code: ERROR_CODES.READ_FAILED, message: 'cannot list' },
    ]);
    expect(third.counts.removed).toBe(0);
    expect(third.sources[0]).toMatchObject({ id: 'src', status: 'partial' });
    expect(live(db)).toEqual(['src/a', 'src/b']);
  });

  it('re-embeds every skill once the text its vectors are made from has changed', async () => {
    const db = join(tmp.dir, 'reembed.db');
    const run = () =>
      runEmbedded({
        sources: [spec],
        db,
        model,
        threads: 1,
        createSource: sourceOf([skill('a'), skill('b')]),
      });
    await run();
    expect((await run()).counts).toMatchObject({ unchanged: 2 });
    // Vectors recorded as made by an older text config (what a TEXT_CONFIG.version bump leaves behind).
    const w = new Database(db);
    w.prepare(`UPDATE embedding_models SET text_config = '{"version":0}'`).run();
    w.close();
    const again = await run();
    // The skills are written again for their new vectors; they are unchanged, and counted so
    // (seen = indexed + unchanged + failed).
    expect(again.counts).toMatchObject({ seen: 2, indexed: 0, unchanged: 2, reembedded: 2 });
    const r = new Database(db, { readonly: true });
    expect(JSON.parse(r.prepare('SELECT text_config FROM embedding_models').pluck().get() as string)).toEqual(
      JSON.parse(JSON.stringify(TEXT_CONFIG)),
    );
    r.close();
    expect((await run()).counts).toMatchObject({ unchanged: 2 });
  });
});
