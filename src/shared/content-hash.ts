import { createHash } from 'node:crypto';
import type { SkillFile } from './skill-doc.js';

/**
 * The content hash of a skill: sha256 (lowercase hex) over, for each file in the given order,
 * its path, a NUL, its decoded text, and a NUL.
 *
 * The NULs keep the framing unambiguous (`a.md` + `bc` never collides with `a.mdb` + `c`), and hashing the
 * decoded text (BOM stripped, CRLF → LF) means a re-save with other line endings is not a change.
 * Paths are relative to the skill folder, so moving a skill keeps its hash (its id changes instead).
 * Every source kind must use this function so that "unchanged" means the same thing everywhere.
 */
export function contentHash(files: readonly Pick<SkillFile, 'path' | 'text'>[]): string {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(file.path, 'utf8');
    hash.update('\0', 'utf8');
    hash.update(file.text, 'utf8');
    hash.update('\0', 'utf8');
  }
  return hash.digest('hex');
}
