import type { Dirent } from 'node:fs';
import { constants as fsConstants } from 'node:fs';
// Sync calls on purpose: the crawl makes ~5 small syscalls per file, and going through libuv's thread pool
// for each costs more than the syscall itself (async made an unchanged re-index of the corpus ~10× slower).
// Blocking the event loop for one file at a time is harmless: embed workers run on their own threads.
import {
  closeSync,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CrawlContext, SkillSource, SourceSpec } from './source.js';
import { SiblingProblems } from './sibling-problems.js';
import { z } from 'zod';
import { contentHash } from '../shared/content-hash.js';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import type { ErrorCode } from '../shared/errors.js';
import type { CrawlProblem, SkillDoc, SkillFile, SkillUnchanged } from '../shared/skill-doc.js';
import {
  capAndDecode,
  compareNames,
  isMarkdownName,
  overSkillLimits,
  SKILL_FILE,
  tooLarge,
  type FileText,
} from './skill-text.js';

/** 1 MiB: the largest SKILL.md in the reference corpus is ~145 KB, so this only stops junk. */
const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;

/**
 * Dot-folders that are crawled even though other dot-folders are skipped: agents keep project skills
 * in them (`.claude/skills/*`, `.agents/skills/*`, `.github/skills/*` …), and the reference corpus has
 * real skills under `.claude` and `.agents`. `.git` and every other dot-folder are skipped.
 */
export const AGENT_DOT_DIRS: ReadonlySet<string> = new Set([
  '.agent',
  '.agents',
  '.claude',
  '.codex',
  '.cursor',
  '.gemini',
  '.github',
  '.opencode',
  '.windsurf',
]);

const dirSourceOptionsSchema = z.strictObject({
  /** Folder to crawl. Resolved with realpath once; nothing outside it is ever read. */
  root: z.string({ error: 'root must be a string path' }).min(1, 'root must be a non-empty path'),
  /** Source id: the prefix of every skill id (`${sourceId}/${path}`). */
  sourceId: z
    .string({ error: 'sourceId must be a string' })
    .min(1, 'sourceId must be a non-empty string')
    .refine((s) => !s.endsWith('/'), 'sourceId must not end with "/"'),
  /** Largest file read, in bytes (default 1 MiB). Larger files are reported, not read. */
  maxFileBytes: z
    .int({ error: 'maxFileBytes must be an integer ≥ 1' })
    .min(1, 'maxFileBytes must be an integer ≥ 1')
    .default(DEFAULT_MAX_FILE_BYTES),
  /**
   * Asked with each skill's id and stat key (a hash of its files' names, sizes, mtimes, ctimes and inodes)
   * before any file is read: returning true yields a {@link SkillUnchanged} instead of reading the files.
   * This is what makes an unchanged re-index cost a directory walk, not a read of every byte.
   */
  isUnchanged: z
    .custom<(id: string, statKey: string) => boolean>((v) => typeof v === 'function', {
      error: 'isUnchanged must be a function',
    })
    .optional(),
  /** Whether a skill folder (relative POSIX path, `.` for the root) is wanted; others are not read at all. */
  wants: z
    .custom<(path: string) => boolean>((v) => typeof v === 'function', { error: 'wants must be a function' })
    .optional(),
  /** Stops the crawl: once aborted, nothing more is yielded and the generator returns. */
  signal: z.instanceof(AbortSignal, { error: 'signal must be an AbortSignal' }).optional(),
});

/**
 * Options of {@link crawlDir}.
 * - `root`: folder to crawl.
 * - `sourceId`: prefix of every skill id.
 * - `maxFileBytes`: largest file read, default 1 MiB (1048576).
 * - `signal`: aborts the crawl.
 */
export type DirSourceOptions = z.input<typeof dirSourceOptionsSchema>;

type ResolvedOptions = z.output<typeof dirSourceOptionsSchema>;

/** Where the crawl is, shared by the helpers below. */
interface Crawl {
  readonly opts: ResolvedOptions;
  /** realpath of the root: every path read must resolve inside it. */
  readonly rootReal: string;
}

/**
 * Crawls a local folder for skills: every folder holding a regular file named `SKILL.md` is one skill,
 * and the `.md` files directly beside it (not in sub-folders) belong to it. A nested folder with its own
 * SKILL.md is a skill of its own.
 *
 * Yields, in a deterministic depth-first order (directory entries sorted by UTF-16 code units, a folder's
 * own skill before the skills below it), one {@link SkillDoc} per skill as soon as it is read, or a
 * {@link CrawlProblem} for what could not be read. Nothing is collected up front: memory is one folder
 * listing per level of depth plus the skill being read.
 *
 * Rules:
 * - `node_modules` and dot-folders are skipped, except the agent folders in {@link AGENT_DOT_DIRS}.
 * - Symlinks are never followed. A symlinked SKILL.md, sibling `.md` or folder is skipped silently when it
 *   points inside the root (its target is crawled on its own), and reported as `PATH_ESCAPE` when it points
 *   outside. Every folder and file is also checked to resolve inside the root's realpath before it is read.
 * - Files are size-checked on the open handle before reading: a SKILL.md over `maxFileBytes` yields
 *   `FILE_TOO_LARGE` instead of the skill.
 * - Text is decoded as strict UTF-8 (invalid bytes → `READ_FAILED`), one leading BOM is stripped and CRLF
 *   becomes LF.
 * - A sibling `.md` that cannot be used (too large, not UTF-8, unreadable, escaping symlink) is left out of
 *   the skill, and a CrawlProblem naming that file (`<folder>/<file>.md`) is yielded just before the skill,
 *   so operators see it while the skill itself is still indexed.
 * - A CrawlProblem about a SKILL.md carries the skill's folder path (the same `path` its SkillDoc would have).
 * - An unreadable sub-folder yields `READ_FAILED` and the crawl goes on.
 * - When `signal` aborts, the generator stops yielding and returns. It does not throw, so a caller must
 *   check `signal.aborted` after the loop before treating the crawl as complete (e.g. before tombstoning
 *   skills it did not see).
 *
 * @throws IndexerError `BAD_OPTION` (on the first `next()`) when an option is invalid, naming the option.
 * @throws IndexerError `SOURCE_FAILED` when the root is missing, not a folder, or cannot be listed.
 */
export async function* crawlDir(
  opts: DirSourceOptions,
): AsyncGenerator<SkillDoc | SkillUnchanged | CrawlProblem> {
  const options = parseOptions(opts);
  const { signal } = options;
  if (signal?.aborted) return;
  const rootReal = await resolveRoot(options.root);
  const crawl: Crawl = {
    opts: options,
    rootReal,
  };
  for await (const item of walk(crawl)) {
    if (signal?.aborted) return;
    if (item.kind === 'problem') {
      yield item.problem;
      continue;
    }
    for await (const out of readSkill(crawl, item.rel, item.skillEntry, item.entries)) {
      if (signal?.aborted) return;
      yield out;
    }
  }
}

/**
 * Counts the skill folders under `root` by the same rules as {@link crawlDir}, reading names only (no file
 * contents): a cheap pre-walk that gives a progress bar its total. Folder problems are not counted.
 *
 * @throws IndexerError `SOURCE_FAILED` when the root is missing or not a folder.
 */
export async function countSkillFolders(root: string, signal?: AbortSignal): Promise<number> {
  const rootReal = await resolveRoot(root);
  const crawl: Crawl = {
    opts: { root, sourceId: 'count', maxFileBytes: DEFAULT_MAX_FILE_BYTES, signal },
    rootReal,
  };
  let n = 0;
  for await (const item of walk(crawl)) {
    if (signal?.aborted) break;
    if (item.kind === 'skill' && item.skillEntry.isFile()) n++;
  }
  return n;
}

type WalkItem =
  | { kind: 'skill'; rel: string; skillEntry: Dirent; entries: readonly Dirent[] }
  | { kind: 'problem'; problem: CrawlProblem };

/**
 * The folder walk shared by {@link crawlDir} and {@link countSkillFolders}: yields every folder that has a
 * `SKILL.md` entry (of any type) with its sorted listing, and problems about folders.
 */
async function* walk(crawl: Crawl): AsyncGenerator<WalkItem> {
  const { signal } = crawl.opts;
  // Explicit stack of folders still to visit (relative POSIX paths). Children are pushed in reverse sorted
  // order so they pop in sorted order: a plain pre-order walk without recursion depth limits.
  const stack: string[] = ['.'];
  while (stack.length > 0) {
    if (signal?.aborted) return;
    const rel = stack.pop() as string;
    const abs = toAbs(crawl, rel);

    let entries: Dirent[];
    try {
      // Each folder on the path was checked the same way when it was visited, so checking only the last
      // component (one lstat, not realpath's one per component) is enough to see a folder swapped for a
      // symlink after its parent was listed. Both are check-then-use; files are also opened O_NOFOLLOW.
      const swapped = rel !== '.' && !lstatSync(abs).isDirectory();
      const real = swapped ? realpathSync.native(abs) : abs;
      if (real !== abs) {
        // A folder on the way was swapped for a symlink after its parent was listed.
        if (!isInside(crawl.rootReal, real)) {
          yield {
            kind: 'problem',
            problem: problemOf(
              crawl,
              rel,
              ERROR_CODES.PATH_ESCAPE,
              `folder ${labelOf(crawl, rel)} resolves outside the source root; not followed`,
            ),
          };
        }
        continue;
      }
      entries = readdirSync(abs, { withFileTypes: true });
    } catch (err) {
      if (rel === '.') {
        throw new IndexerError(
          ERROR_CODES.SOURCE_FAILED,
          `cannot list source root ${crawl.opts.root}: ${errMsg(err)}`,
          {
            cause: err,
          },
        );
      }
      yield {
        kind: 'problem',
        problem: problemOf(
          crawl,
          rel,
          ERROR_CODES.READ_FAILED,
          `cannot list folder ${labelOf(crawl, rel)}: ${errMsg(err)}`,
        ),
      };
      continue;
    }
    entries.sort((a, b) => compareNames(a.name, b.name));

    const skillEntry = entries.find((e) => e.name === SKILL_FILE);
    if (skillEntry) yield { kind: 'skill', rel, skillEntry, entries };

    const subdirs: string[] = [];
    for (const entry of entries) {
      if (!isCrawledDirName(entry.name)) continue;
      const childRel = joinRel(rel, entry.name);
      if (entry.isDirectory()) {
        subdirs.push(childRel);
      } else if (entry.isSymbolicLink()) {
        const problem = await checkSymlink(crawl, childRel, true);
        if (problem) yield { kind: 'problem', problem };
      }
    }
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i] as string);
  }
}

/** Reads one skill folder; yields problems for left-out siblings, then the SkillDoc (or the SKILL.md problem). */
async function* readSkill(
  crawl: Crawl,
  rel: string,
  skillEntry: Dirent,
  entries: readonly Dirent[],
): AsyncGenerator<SkillDoc | SkillUnchanged | CrawlProblem> {
  if (skillEntry.isSymbolicLink()) {
    // Not followed: an in-root target is crawled where it really lives; an escaping one is reported.
    const problem = await checkSymlink(crawl, joinRel(rel, SKILL_FILE), false);
    if (problem) yield { ...problem, path: rel, scope: 'skill' };
    return;
  }
  if (!skillEntry.isFile()) return; // a folder or device named SKILL.md is not a skill

  if (crawl.opts.wants && !crawl.opts.wants(rel)) return;
  const id = `${crawl.opts.sourceId}/${rel}`;
  const statKey = statKeyOf(crawl, rel, entries);
  if (statKey !== undefined && crawl.opts.isUnchanged?.(id, statKey)) {
    yield { unchanged: true, id, sourceId: crawl.opts.sourceId, path: rel, statKey };
    return;
  }

  const main = await readText(crawl, joinRel(rel, SKILL_FILE));
  if (!main.ok) {
    yield problemOf(crawl, rel, main.code, main.message, 'skill');
    return;
  }

  const files: SkillFile[] = [{ path: SKILL_FILE, text: main.text }];
  let chars = main.text.length;
  const problems = new SiblingProblems(crawl.opts.sourceId, rel);
  for (const entry of entries) {
    if (entry.name === SKILL_FILE || !isMarkdownName(entry.name)) continue;
    const fileRel = joinRel(rel, entry.name);
    const size = entry.isFile() ? statSizeOrZero(toAbs(crawl, fileRel)) : 0;
    const over = overSkillLimits(labelOf(crawl, fileRel), files.length, chars, size, crawl.opts.maxFileBytes);
    if (over) {
      const shown = problems.take(problemOf(crawl, fileRel, ERROR_CODES.FILE_TOO_LARGE, over));
      if (shown) yield shown;
      continue;
    }
    if (entry.isSymbolicLink()) {
      const problem = await checkSymlink(crawl, fileRel, false);
      const shown =
        problem &&
        problems.take({ ...problem, message: `${problem.message}; the skill is indexed without it` });
      if (shown) yield shown;
      continue;
    }
    if (!entry.isFile()) continue;
    const sibling = await readText(crawl, fileRel);
    if (!sibling.ok) {
      const shown = problems.take(
        problemOf(crawl, fileRel, sibling.code, `${sibling.message}; the skill is indexed without it`),
      );
      if (shown) yield shown;
      continue;
    }
    files.push({ path: entry.name, text: sibling.text });
    chars += sibling.text.length;
  }
  const rest = problems.rest();
  if (rest) yield rest;

  yield {
    id,
    sourceId: crawl.opts.sourceId,
    path: rel,
    files,
    contentHash: contentHash(files),
    statKey,
  };
}

/**
 * Fingerprint of a skill folder's files without reading them (git's stat-cache idea): names, sizes,
 * nanosecond mtimes and ctimes, inodes, and the size cap. Any write to a file changes its ctime, so a
 * changed file never matches; undefined (read everything) when a file cannot be stat'ed.
 */
function statKeyOf(crawl: Crawl, rel: string, entries: readonly Dirent[]): string | undefined {
  // A plain string, not a hash: hashing 1,500 of these cost more than the rest of an unchanged crawl.
  let key = `${crawl.opts.maxFileBytes}`;
  try {
    for (const entry of entries) {
      if (entry.name !== SKILL_FILE && !isMarkdownName(entry.name)) continue;
      const st = lstatSync(toAbs(crawl, joinRel(rel, entry.name)), { bigint: true });
      key += `|${entry.name}:${st.mode}:${st.size}:${st.mtimeNs}:${st.ctimeNs}:${st.ino}`;
    }
  } catch {
    return undefined;
  }
  return key;
}

/**
 * Reads and decodes one regular file, refusing symlinks (O_NOFOLLOW), anything resolving outside the root,
 * non-regular files, files over the cap, and invalid UTF-8.
 */
async function readText(crawl: Crawl, rel: string): Promise<FileText> {
  const abs = toAbs(crawl, rel);
  const max = crawl.opts.maxFileBytes;
  const label = labelOf(crawl, rel);
  let handle: number;
  try {
    // O_NOFOLLOW: the last component is refused if it became a symlink since readdir (not on Windows: 0).
    // O_NONBLOCK: a file swapped for a FIFO after listing must not hang the crawl (fstat then refuses it).
    handle = openSync(
      abs,
      fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0) | (fsConstants.O_NONBLOCK ?? 0),
    );
  } catch (err) {
    return { ok: false, code: ERROR_CODES.READ_FAILED, message: `cannot open ${label}: ${errMsg(err)}` };
  }
  try {
    const real = realpathSync.native(abs);
    if (real !== abs) {
      const inside = isInside(crawl.rootReal, real);
      return {
        ok: false,
        code: inside ? ERROR_CODES.READ_FAILED : ERROR_CODES.PATH_ESCAPE,
        message: inside
          ? `${label} changed into a link during the crawl; not read`
          : `${label} resolves outside the source root; not read`,
      };
    }
    const info = fstatSync(handle);
    if (!info.isFile()) {
      return { ok: false, code: ERROR_CODES.READ_FAILED, message: `${label} is not a regular file` };
    }
    if (info.size > max) return tooLarge(label, info.size, max);
    // Checked again after reading: the file may have grown between stat and read.
    return capAndDecode(label, readFileSync(handle), max);
  } catch (err) {
    return { ok: false, code: ERROR_CODES.READ_FAILED, message: `cannot read ${label}: ${errMsg(err)}` };
  } finally {
    closeSync(handle);
  }
}

/**
 * Decides what to say about a symlink that is not followed: `PATH_ESCAPE` when it points outside the root,
 * nothing when it points inside (or, for `onlyDirs`, when its target is not a folder).
 * A dangling link is judged by where it would point.
 */
async function checkSymlink(crawl: Crawl, rel: string, onlyDirs: boolean): Promise<CrawlProblem | undefined> {
  const abs = toAbs(crawl, rel);
  let target: string;
  try {
    target = path.resolve(path.dirname(abs), readlinkSync(abs));
  } catch {
    return undefined; // vanished or not a link any more: nothing to report
  }
  let resolved = target;
  let isDir = false;
  try {
    resolved = realpathSync.native(target);
    isDir = statSync(resolved).isDirectory();
  } catch {
    // Dangling: judge the textual target.
  }
  if (onlyDirs && !isDir) return undefined;
  if (isInside(crawl.rootReal, resolved)) return undefined;
  return problemOf(
    crawl,
    rel,
    ERROR_CODES.PATH_ESCAPE,
    // Where it points is not said: messages land in index_errors and in published snapshots.
    `${labelOf(crawl, rel)} is a symlink pointing outside the source root; not followed`,
  );
}

async function resolveRoot(root: string): Promise<string> {
  let real: string;
  try {
    real = realpathSync.native(root);
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'does not exist'
        : `cannot be resolved (${errMsg(err)})`;
    throw new IndexerError(ERROR_CODES.SOURCE_FAILED, `source root ${root} ${reason}`, { cause: err });
  }
  let info;
  try {
    info = lstatSync(real);
  } catch (err) {
    throw new IndexerError(ERROR_CODES.SOURCE_FAILED, `cannot stat source root ${root}: ${errMsg(err)}`, {
      cause: err,
    });
  }
  if (!info.isDirectory()) {
    throw new IndexerError(ERROR_CODES.SOURCE_FAILED, `source root ${root} is not a directory`);
  }
  return real;
}

function parseOptions(opts: DirSourceOptions): ResolvedOptions {
  const result = dirSourceOptionsSchema.safeParse(opts);
  if (result.success) return result.data;
  const given = (opts ?? {}) as Record<string, unknown>;
  const parts = result.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') return `unknown option(s) ${issue.keys.join(', ')}`;
    const key = String(issue.path[0] ?? 'options');
    return `${issue.message} (got ${describe(issue.path.length > 0 ? given[key] : opts)})`;
  });
  throw new IndexerError(ERROR_CODES.BAD_OPTION, `crawlDir: ${parts.join('; ')}`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined || value === null || typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  return typeof value;
}

function problemOf(
  crawl: Crawl,
  rel: string,
  code: ErrorCode,
  message: string,
  scope: CrawlProblem['scope'] = 'file',
): CrawlProblem {
  return { sourceId: crawl.opts.sourceId, path: rel, code, message, scope };
}

function statSizeOrZero(abs: string): number {
  try {
    return lstatSync(abs).size;
  } catch {
    return 0; // readText reports the real problem
  }
}

function isCrawledDirName(name: string): boolean {
  if (name === 'node_modules') return false;
  return !name.startsWith('.') || AGENT_DOT_DIRS.has(name);
}

function isInside(rootReal: string, candidate: string): boolean {
  const rel = path.relative(rootReal, candidate);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** How messages name a path: `<sourceId>/<path>`, as skill ids do. */
function labelOf(crawl: Crawl, rel: string): string {
  return rel === '.' ? crawl.opts.sourceId : `${crawl.opts.sourceId}/${rel}`;
}

function toAbs(crawl: Crawl, rel: string): string {
  return rel === '.' ? crawl.rootReal : path.join(crawl.rootReal, ...rel.split('/'));
}

function joinRel(rel: string, name: string): string {
  return rel === '.' ? name : `${rel}/${name}`;
}

function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The folder source as a {@link SkillSource}: `spec.location` is the folder. Provenance is the folder's
 * `file://` URL; a folder has no state to remember (stat keys in the database do that work).
 */
export function createDirSource(spec: SourceSpec): SkillSource {
  return {
    spec,
    async *crawl(ctx: CrawlContext) {
      const root = path.resolve(spec.location);
      for await (const item of crawlDir({
        root,
        sourceId: spec.id,
        maxFileBytes: ctx.maxFileBytes,
        isUnchanged: ctx.isUnchanged,
        wants: ctx.wants,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      })) {
        if ('code' in item) yield item;
        else yield { ...item, provenance: { url: pathToFileURL(path.join(root, item.path)).href } };
      }
      return undefined;
    },
  };
}
