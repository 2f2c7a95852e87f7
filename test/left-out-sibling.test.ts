import Database from 'better-sqlite3';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { loadModelSpec, type ModelSpec } from '../src/model/model-spec.js';
import { runEmbedded } from '../src/embedded/embedded-run.js';
import { tempDir } from './helpers.js';

// Found by the model-based walk: a skill indexed without a sibling it could not use (a symlink out of the root,
// an undecodable file) kept its stat key, so the next run skipped reading it and the sibling's problem vanished
// from index_errors, unlike in a fresh index of the same tree.
const tmp = tempDir();
let model: ModelSpec;
beforeAll(async () => {
  model = loadModelSpec(await ensureDefaultModel());
});
afterAll(() => tmp.cleanup());

const errorsOfLastRun = (db: string): { path: string; code: string }[] => {
  const r = new Database(db, { readonly: true });
  const rows = r
    .prepare(
      'SELECT path, code FROM index_errors WHERE run_id = (SELECT max(id) FROM index_runs) ORDER BY path, code',
    )
    .all() as { path: string; code: string }[];
  r.close();
  return rows;
};

describe('a skill indexed without one of its files', () => {
  it('reports the left-out file on every run, as a fresh index would', async () => {
    const root = join(tmp.dir, 'tree');
    mkdirSync(join(root, 'a'), { recursive: true });
    writeFileSync(join(root, 'a', 'SKILL.md'), '---\nname: a\ndescription: does a things\n---\nbody\n');
    writeFileSync(join(tmp.dir, 'outside.md'), 'secret\n');
    symlinkSync(join(tmp.dir, 'outside.md'), join(root, 'a', 'notes.md'));
    writeFileSync(join(root, 'a', 'bad.md'), Buffer.from([0x68, 0xff, 0xfe, 0x0a]));
    const db = join(tmp.dir, 'left-out.db');
    const expected = [
      { path: 'a/bad.md', code: 'E_READ_FAILED' },
      { path: 'a/notes.md', code: 'E_PATH_ESCAPE' },
    ];
    const first = await runEmbedded({ sources: [{ root, id: 't' }], db, model, threads: 1 });
    expect(first.counts).toMatchObject({ seen: 1, indexed: 1, failed: 0 });
    expect(errorsOfLastRun(db)).toEqual(expected);

    const second = await runEmbedded({ sources: [{ root, id: 't' }], db, model, threads: 1 });
    expect(second.counts).toMatchObject({ seen: 1, indexed: 0, unchanged: 1, embedded: 0 });
    expect(errorsOfLastRun(db)).toEqual(expected);
  });
});
