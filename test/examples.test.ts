import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, tempDir } from './helpers.js';
import { query, runCli } from './support/roles.js';

const examples = join(repoRoot, 'examples', 'skills');

/** examples/skills is what the README's first line indexes on a fresh clone: its outcomes are a contract. */
describe('examples/skills', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: string;
  let summary: { status: string; counts: Record<string, number> };

  beforeAll(() => {
    tmp = tempDir('skillsmith-examples-');
    db = join(tmp.dir, 'skills.db');
    const r = runCli(['index', examples, '--db', db, '--json']);
    expect(r.status, r.stderr).toBe(0);
    summary = JSON.parse(r.stdout) as typeof summary;
  });

  afterAll(() => tmp?.cleanup());

  it('indexes every valid example, keeps one with a warning and rejects the malformed one with its reason', () => {
    expect(readdirSync(examples).length).toBe(8);
    expect(summary.status).toBe('completed');
    expect(summary.counts).toMatchObject({ seen: 8, indexed: 7, failed: 1, warnings: 1, embedded: 7 });
    const errors = query<{ path: string; code: string; message: string }>(
      db,
      'SELECT path, code, message FROM index_errors',
    );
    expect(errors).toEqual([
      {
        path: 'broken-front-matter',
        code: 'E_FRONT_MATTER_NOT_MAPPING',
        message: expect.stringMatching(/front matter is a list, not key\/value pairs/),
      },
    ]);
    const warned = query<{ id: string; warnings: string }>(
      db,
      `SELECT id, warnings FROM skills WHERE warnings != '[]'`,
    );
    expect(
      warned.map((w) => [w.id, (JSON.parse(w.warnings) as { code: string }[]).map((x) => x.code)]),
    ).toEqual([['skills/meeting-notes-summarizer', ['W_INVALID_NAME', 'W_NAME_MISMATCH']]]);
    const [pdf] = query<{ body: string }>(
      db,
      `SELECT body FROM skills WHERE id = 'skills/pdf-text-extraction'`,
    );
    expect(pdf?.body).toMatch(/<!-- file: ocr-fallback\.md -->\n# OCR fallback/);
  });

  it("answers the README's first search with the flaky-test skill", () => {
    const r = runCli(['search', 'why does my test fail only sometimes', '--db', db, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const { results } = JSON.parse(r.stdout) as { results: { id: string }[] };
    expect(results[0]?.id).toBe('skills/flaky-test-triage');
    expect(results.length).toBe(7);
  });
});
