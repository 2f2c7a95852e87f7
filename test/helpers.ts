import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The read-only shared folder (corpus, reference): beside the repo unless SKILLSMITH_SHARED_DIR says. */
export const sharedDir = process.env.SKILLSMITH_SHARED_DIR ?? resolve(repoRoot, '..', 'shared');

/** The real corpus of 1,467 skills. */
export const corpusDir = join(sharedDir, 'corpus', 'skills');

/** The CLI as built by `npm run build` (`npm test` builds first). */
export const cliPath = join(repoRoot, 'dist', 'bin', 'skillsmith-index.js');

/** A fresh temp folder, removed by the returned cleanup. */
export function tempDir(prefix = 'skillsmith-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
