import { createHash } from 'node:crypto';
import { contentHash } from '../shared/content-hash.js';
import { ERROR_CODES } from '../shared/errors.js';
import type { SkillFile } from '../shared/skill-doc.js';
import type { CrawlContext, CrawlItem, Provenance } from './source.js';
import { SiblingProblems } from './sibling-problems.js';
import {
  capAndDecode,
  compareNames,
  isMarkdownName,
  overSkillLimits,
  SKILL_FILE,
  tooLarge,
  type FileText,
} from './skill-text.js';

/** One file of a repository tree, as `git ls-tree` or GitHub's trees API list it. */
export interface TreeEntry {
  /** Path relative to the source root, POSIX. */
  path: string;
  /** git object id of the blob. */
  sha: string;
  /** Size in bytes when the listing gives it. */
  size?: number | undefined;
  /** `blob` for a regular file; symlinks (`120000`) and submodules (`commit`) are never read. */
  type: 'blob' | 'symlink' | 'submodule';
}

/**
 * Turns a repository tree into crawl items, the same way for every tree source (git, GitHub): a folder with a
 * regular `SKILL.md` is a skill, `.md` files directly beside it belong to it. A skill's stat key is the paths
 * and blob SHAs of its files, so a skill whose blobs did not change is yielded as unchanged without reading a
 * byte; otherwise its blobs are read with `readBlob`, size-capped and decoded like files on disk.
 *
 * Yields in path order (deterministic). Symlinks are never followed (a symlinked SKILL.md is reported as
 * `PATH_ESCAPE`); paths with `..` or absolute paths never come out of git, but are rejected all the same.
 */
export async function* skillsFromTree(
  sourceId: string,
  entries: readonly TreeEntry[],
  readBlob: (sha: string, path: string) => Promise<Uint8Array>,
  ctx: CrawlContext,
  provenance: Provenance,
): AsyncGenerator<CrawlItem> {
  const folders = new Map<string, TreeEntry[]>();
  for (const e of entries) {
    if (!safePath(e.path)) continue;
    const slash = e.path.lastIndexOf('/');
    const folder = slash < 0 ? '.' : e.path.slice(0, slash);
    const list = folders.get(folder);
    if (list) list.push(e);
    else folders.set(folder, [e]);
  }
  const skillFolders = [...folders.keys()]
    .filter((f) => folders.get(f)!.some((e) => baseName(e.path) === SKILL_FILE))
    .sort(compareNames);

  for (const folder of skillFolders) {
    if (ctx.signal?.aborted) return;
    if (!ctx.wants(folder)) continue;
    const id = `${sourceId}/${folder}`;
    const files = folders
      .get(folder)!
      .filter((e) => baseName(e.path) === SKILL_FILE || isMarkdownName(baseName(e.path)))
      .sort((a, b) =>
        baseName(a.path) === SKILL_FILE
          ? -1
          : baseName(b.path) === SKILL_FILE
            ? 1
            : compareNames(a.path, b.path),
      );
    const main = files[0]!;
    if (main.type !== 'blob') {
      yield {
        sourceId,
        path: folder,
        scope: 'skill',
        code: ERROR_CODES.PATH_ESCAPE,
        message: `${id}/SKILL.md is a ${main.type}, not a regular file; not followed`,
      };
      continue;
    }
    const statKey = createHash('sha256')
      .update(`${ctx.maxFileBytes}\0`)
      .update(files.map((f) => `${baseName(f.path)}:${f.type}:${f.sha}`).join('\0'))
      .digest('hex');
    const itemProvenance: Provenance = { ...provenance, blobSha: main.sha };
    if (ctx.isUnchanged(id, statKey)) {
      yield { unchanged: true, id, sourceId, path: folder, statKey, provenance: itemProvenance };
      continue;
    }
    const read: SkillFile[] = [];
    let chars = 0;
    let failed = false;
    const problems = new SiblingProblems(sourceId, folder);
    for (const f of files) {
      const name = baseName(f.path);
      const isMain = name === SKILL_FILE;
      const over = isMain
        ? undefined
        : overSkillLimits(`${sourceId}/${f.path}`, read.length, chars, f.size ?? 0, ctx.maxFileBytes);
      if (over) {
        const shown = problems.take({
          sourceId,
          path: f.path,
          scope: 'file',
          code: ERROR_CODES.FILE_TOO_LARGE,
          message: over,
        });
        if (shown) yield shown;
        continue;
      }
      const got = await readTreeFile(sourceId, f, readBlob, ctx.maxFileBytes);
      if (got.ok) {
        read.push({ path: name, text: got.text });
        chars += got.text.length;
        continue;
      }
      // A bad SKILL.md rejects the skill; a bad sibling is left out and the skill is still indexed.
      if (isMain) {
        yield { sourceId, path: folder, scope: 'skill', code: got.code, message: got.message };
        failed = true;
        break;
      }
      const shown = problems.take({
        sourceId,
        path: f.path,
        scope: 'file',
        code: got.code,
        message: `${got.message}; the skill is indexed without it`,
      });
      if (shown) yield shown;
    }
    const rest = problems.rest();
    if (rest) yield rest;
    if (failed) continue;
    yield {
      id,
      sourceId,
      path: folder,
      files: read,
      contentHash: contentHash(read),
      statKey,
      provenance: itemProvenance,
    };
  }
}

/** Reads and decodes one file of a tree: a regular file under the size cap, in strict UTF-8. */
async function readTreeFile(
  sourceId: string,
  f: TreeEntry,
  readBlob: (sha: string, path: string) => Promise<Uint8Array>,
  maxFileBytes: number,
): Promise<FileText> {
  const label = `${sourceId}/${f.path}`;
  if (f.type !== 'blob') {
    return {
      ok: false,
      code: ERROR_CODES.PATH_ESCAPE,
      message: `${label} is a ${f.type}, not a regular file; not followed`,
    };
  }
  // The listing's size when it has one, so an oversized blob is never fetched; the bytes' size otherwise.
  if (f.size !== undefined && f.size > maxFileBytes) return tooLarge(label, f.size, maxFileBytes);
  let bytes: Uint8Array;
  try {
    bytes = await readBlob(f.sha, f.path);
  } catch (err) {
    return {
      ok: false,
      code: ERROR_CODES.READ_FAILED,
      message: `cannot read ${label}: ${(err as Error).message}`,
    };
  }
  return capAndDecode(label, bytes, maxFileBytes);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** A relative POSIX path with no empty, `.` or `..` segment. */
function safePath(path: string): boolean {
  if (path === '' || path.startsWith('/')) return false;
  return path.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}
