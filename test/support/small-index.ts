import Database from 'better-sqlite3';
import { join } from 'node:path';
import { IndexWriter } from '../../src/writer/index-writer.js';

/**
 * A small index of hand-made skills (source `src`, no vectors) written by the real writer into `dir`, opened
 * read-only: what reader unit tests search.
 */
export function smallIndex(
  dir: string,
  skills: { id: string; name: string; description: string; body?: string }[],
): Database.Database {
  const path = join(dir, `${skills[0]?.id ?? 'x'}.db`);
  const w = IndexWriter.open({ path });
  const runId = w.beginRun({ mode: 'embedded', sources: [], modelId: 'm' });
  w.writeBatch({
    runId,
    skills: skills.map((s) => ({
      ...s,
      sourceId: 'src',
      path: s.id,
      body: s.body ?? '',
      frontMatter: {},
      license: null,
      allowedTools: null,
      warnings: [],
      contentHash: s.id,
    })),
    embeddings: [],
    errors: [],
    seen: [],
  });
  w.close();
  return new Database(path, { readonly: true });
}
