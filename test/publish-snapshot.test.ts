import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { IndexerError } from '../src/shared/errors.js';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SkillRecord } from '../src/shared/records.js';
import { IndexWriter } from '../src/writer/index-writer.js';
import { publishSnapshot } from '../src/writer/publish-snapshot.js';
import { SCHEMA_VERSION } from '../src/writer/schema.js';
import { tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const model = { id: 'm@1', dim: 2, pooling: 'in-graph', textConfig: {} };

function skill(id: string): SkillRecord {
  return {
    id,
    sourceId: 'src',
    path: id,
    name: id,
    description: `about ${id}`,
    body: 'text',
    frontMatter: {},
    license: null,
    allowedTools: null,
    warnings: [],
    contentHash: `h-${id}`,
  };
}

function writeSkills(w: IndexWriter, ids: string[]): void {
  const runId = w.beginRun({ mode: 'embedded', sources: [], modelId: model.id });
  w.writeBatch({
    runId,
    skills: ids.map(skill),
    embeddings: ids.map((id) => ({
      skillId: id,
      modelId: model.id,
      chunk: 0,
      vector: new Float32Array([0.6, 0.8]),
      textHash: `t-${id}`,
    })),
    errors: [],
    seen: [],
  });
  w.finishRun(runId, 'completed', {
    seen: ids.length,
    indexed: ids.length,
    unchanged: 0,
    removed: 0,
    failed: 0,
    embedded: ids.length,
    warnings: 0,
  });
}

describe('publishSnapshot', () => {
  it('writes a consistent copy atomically, with a manifest whose checksum matches, leaving old readers unaffected', async () => {
    const live = join(tmp.dir, 'live.db');
    const to = join(tmp.dir, 'out', 'skills.db');
    const w = IndexWriter.open({ path: live });
    w.registerModel(model);
    writeSkills(w, ['a', 'b']);

    const first = await publishSnapshot({ db: live, to });
    expect(first.counts.skills).toBe(2);
    expect(first.schemaVersion).toBe(SCHEMA_VERSION);
    expect(first.models).toEqual([{ id: 'm@1', dim: 2, vectors: 2 }]);
    expect(first.sha256).toBe(createHash('sha256').update(readFileSync(to)).digest('hex'));
    expect(JSON.parse(readFileSync(`${to}.manifest.json`, 'utf8'))).toEqual(first);

    // A reader holding the first snapshot open…
    const oldReader = new Database(to, { readonly: true });
    expect(oldReader.prepare('SELECT count(*) FROM skills').pluck().get()).toBe(2);

    // …while the live database changes (the writer still has it open) and a new snapshot replaces the file.
    writeSkills(w, ['c']);
    const second = await publishSnapshot({ db: live, to });
    w.close();
    expect(second.counts.skills).toBe(3);
    expect(second.sha256).not.toBe(first.sha256);

    expect(oldReader.prepare('SELECT count(*) FROM skills').pluck().get()).toBe(2);
    oldReader.close();
    const fresh = new Database(to, { readonly: true });
    expect(fresh.prepare('SELECT count(*) FROM skills').pluck().get()).toBe(3);
    expect(fresh.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(fresh.pragma('journal_mode', { simple: true })).toBe('delete');
    fresh.close();
    // No temp files left behind.
    expect(readdirSync(join(tmp.dir, 'out')).sort()).toEqual(['skills.db', 'skills.db.manifest.json']);
  });

  it('refuses a database that does not exist, naming it', async () => {
    await expect(
      publishSnapshot({ db: join(tmp.dir, 'missing.db'), to: join(tmp.dir, 'x.db') }),
    ).rejects.toThrow(/missing\.db/);
  });

  it('refuses targets it would destroy: the live database and its files, links to it, folders, devices', async () => {
    const dir = join(tmp.dir, 'targets');
    mkdirSync(dir);
    const live = join(dir, 'live.db');
    const w = IndexWriter.open({ path: live });
    w.registerModel(model);
    writeSkills(w, ['a']);
    const liveBytes = readFileSync(live);
    const hardLink = join(dir, 'hard-link.db');
    linkSync(live, hardLink);
    symlinkSync(live, join(dir, 'sym-link.db'));
    const refused: [string, RegExp][] = [
      [live, /is the live database/],
      [join(dir, '..', 'targets', 'live.db'), /is the live database/],
      [`${live}-wal`, /is the live database/],
      [`${live}-shm`, /is the live database/],
      [`${live}.writer.lock`, /is the live database/],
      [hardLink, /is the same file as .*live\.db/],
      [join(dir, 'sym-link.db'), /is not a regular file/],
      [dir, /is a folder/],
      ['/dev/null', /is not a regular file/],
      [join(live, 'inside.db'), /is not a folder/],
    ];
    for (const [to, why] of refused) {
      const err = await publishSnapshot({ db: live, to }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, to).toBeInstanceOf(IndexerError);
      expect((err as IndexerError).code).toBe('E_BAD_OPTION');
      expect((err as IndexerError).message, to).toMatch(why);
    }
    // Nothing was touched: the live file still has its bytes and the writer goes on writing.
    expect(readFileSync(live).equals(liveBytes)).toBe(true);
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
    writeSkills(w, ['b']);
    w.close();
    // A new path and an existing older snapshot are fine.
    await publishSnapshot({ db: live, to: join(dir, 'snap.db') });
    const again = await publishSnapshot({ db: live, to: join(dir, 'snap.db') });
    expect(again.counts.skills).toBe(2);
  });
});
