import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { redactUrl } from '../shared/redact.js';
import type { CrawlProblem } from '../shared/skill-doc.js';
import { CatFileBatch, GitError, isObjectId, runGit } from './git-cli.js';
import type { GitRunner } from './git-cli.js';
import type { CrawlContext, CrawlItem, Provenance, SkillSource, SourceSpec, SourceState } from './source.js';
import { skillsFromTree } from './tree-skills.js';
import type { TreeEntry } from './tree-skills.js';

/** 10 minutes: a first shallow fetch of a large repository over a slow link, not a hung one. */
const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;

/** Submodules inside submodules are followed this deep, no deeper (a cycle of submodules must end). */
const MAX_SUBMODULE_DEPTH = 4;

const gitSourceOptionsSchema = z.strictObject({
  /** Root cache folder (the bare repositories go in `<cacheDir>/git/`). */
  cacheDir: z
    .string({ error: 'cacheDir must be a string path' })
    .min(1, 'cacheDir must be a non-empty path')
    .optional(),
  /** The git executable. */
  gitBinary: z
    .string({ error: 'gitBinary must be a string' })
    .min(1, 'gitBinary must be non-empty')
    .optional(),
  /** Cap on one git command, in ms. */
  timeoutMs: z
    .int({ error: 'timeoutMs must be an integer ≥ 1' })
    .min(1, 'timeoutMs must be an integer ≥ 1')
    .optional(),
  /** Called before each blob is read (metrics, tests). */
  onBlobRead: z
    .custom<(sha: string, path: string) => void>((v) => typeof v === 'function', {
      error: 'onBlobRead must be a function',
    })
    .optional(),
});

/**
 * Options of {@link createGitSource}.
 * - `cacheDir`: root cache folder; default `$SKILLSMITH_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/skillsmith`.
 *   Bare repositories live in `<cacheDir>/git/<first 16 hex of sha256(normalised URL)>.git`.
 * - `gitBinary`: the git executable, default `git` (from PATH).
 * - `timeoutMs`: cap on each git command (fetch, ls-tree, one blob read), default 600000 (10 min).
 * - `onBlobRead(sha, path)`: called before each blob is read (metrics, tests).
 */
export type GitSourceOptions = z.input<typeof gitSourceOptionsSchema>;

/** A remote as the source understands it. */
export interface GitRemote {
  /** What git is given (with `git+` stripped, credentials kept; a local path made absolute). */
  fetchUrl: string;
  /** What people see: credentials of http(s) URLs removed. Goes into provenance, state and messages. */
  displayUrl: string;
  /** What the cache folder is named after: no credentials, lower-case scheme and host, no trailing `/` or `.git`. */
  cacheKey: string;
  /** A local repository (`file://` or a path), which only a local superproject may point a submodule at. */
  local: boolean;
  /** Credential strings found in the URL, scrubbed from every message besides URL redaction. */
  secrets: string[];
}

/** A commit the crawl reads, in its cache repository. */
interface TreeToCrawl {
  gitDir: string;
  entries: TreeEntry[];
  provenance: Provenance;
}

/** Everything one source needs at crawl time. */
interface GitCrawl {
  spec: SourceSpec;
  remote: GitRemote;
  runner: GitRunner;
  cacheRoot: string;
  onBlobRead: ((sha: string, path: string) => void) | undefined;
}

/**
 * A git repository as a skill source (`kind: 'git'`). `location` is `git+https://…`, `https://….git`,
 * `git@host:owner/repo(.git)`, `ssh://…`, `git://…`, `file://…` or the path of a local repository.
 *
 * Each crawl brings a per-remote bare cache repository up to date with a shallow fetch of just the wanted ref
 * (`fetch --depth 1 --no-tags`), lists that commit's tree with `git ls-tree` and reads blobs through one
 * `git cat-file --batch` process; {@link skillsFromTree} turns that into crawl items (a skill whose blob SHAs
 * did not change is yielded unchanged without being read). Without a `ref`, the remote's default branch is
 * asked with `ls-remote --symref HEAD`; when the commit it names is already cached, nothing is fetched, so an
 * unchanged repository costs one round trip and no blob read. A `ref` that is a commit id already cached costs
 * no round trip at all.
 *
 * Nothing from the repository or the machine's git config is ever run: git gets a fixed `-c` config (no hooks,
 * no fsmonitor, no credential helper, no `ext::`), no system/global config, and the cache is never checked out
 * (no checkout hooks, smudge filters or LFS).
 *
 * With `spec.submodules`, gitlinks are followed: each submodule's URL comes from `.gitmodules` (relative URLs
 * against the superproject's), its pinned commit is fetched the same way into its own cache repository, and its
 * skills are yielded with the submodule path as prefix and the submodule's URL and commit as provenance. A
 * submodule that cannot be fetched yields one `SOURCE_FAILED` problem (scope `file`) and the crawl goes on; a
 * remote superproject may not point at a local (`file://`/path) submodule.
 *
 * The crawl returns `{ commit, ref, url }` when it ran to the end; it returns undefined, without throwing,
 * when `ctx.signal` aborts.
 *
 * @throws IndexerError `BAD_OPTION` (at creation) for another kind, an unsupported location, a bad ref or option.
 * @throws IndexerError `SOURCE_FAILED` (from the crawl) when the remote is unreachable, the ref is missing, the
 *   location is not a repository, authentication fails, or git cannot run; git's stderr summarised in one line,
 *   credentials redacted.
 */
export function createGitSource(spec: SourceSpec, options: GitSourceOptions = {}): SkillSource {
  if (spec.kind !== 'git') {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `createGitSource: source "${spec.id}" is of kind ${spec.kind}`,
    );
  }
  const parsed = gitSourceOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const parts = parsed.error.issues.map((i) =>
      i.code === 'unrecognized_keys' ? `unknown option(s) ${i.keys.join(', ')}` : i.message,
    );
    throw new IndexerError(ERROR_CODES.BAD_OPTION, `createGitSource: ${parts.join('; ')}`);
  }
  const opts = parsed.data;
  const remote = parseGitLocation(spec.location);
  if (spec.ref !== undefined) checkRef(spec);
  const env = process.env;
  const cacheRoot = path.resolve(
    opts.cacheDir ??
      (env.SKILLSMITH_CACHE_DIR ||
        path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'skillsmith')),
  );
  const g: GitCrawl = {
    spec,
    remote,
    runner: { binary: opts.gitBinary ?? 'git', timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS },
    cacheRoot,
    onBlobRead: opts.onBlobRead,
  };
  return { spec, crawl: (ctx) => crawlGit(g, ctx) };
}

/**
 * Reads a git location: strips `git+`, refuses transport helpers (`ext::…` runs a command) and unknown schemes,
 * makes a local path absolute, and works out the display URL, cache key and credentials to scrub.
 *
 * @throws IndexerError `BAD_OPTION` for an empty or unsupported location.
 */
export function parseGitLocation(location: string): GitRemote {
  const bad = (why: string): IndexerError =>
    new IndexerError(ERROR_CODES.BAD_OPTION, `git location ${JSON.stringify(redactUrl(location))} ${why}`);
  let url = location.trim();
  if (url === '') throw bad('is empty');
  // Control characters (a newline above all) have been used to smuggle lines into git's credential protocol.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(url)) throw bad('contains control characters');
  if (url.startsWith('git+')) url = url.slice(4);
  // Never something git could read as an option (`-oProxyCommand=…`), not even after `--end-of-options`.
  if (url.startsWith('-')) throw bad('starts with "-"');
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(url))
    throw bad('uses a git transport helper (`<helper>::…`); not allowed');

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    if (!['https', 'http', 'ssh', 'git', 'file'].includes(scheme)) {
      throw bad(`has an unsupported scheme "${scheme}" (use https, http, ssh, git or file)`);
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw bad('is not a valid URL');
    }
    const secrets: string[] = [];
    const userinfo = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)@/.exec(url)?.[1];
    if (userinfo !== undefined) {
      secrets.push(userinfo);
      const [user = '', pass] = userinfo.split(':');
      if (pass !== undefined && pass.length >= 4) secrets.push(pass, safeDecode(pass));
      // A token is often given as the user name alone (`https://<token>@host`).
      if ((scheme === 'https' || scheme === 'http') && user.length >= 8) secrets.push(user, safeDecode(user));
    }
    const hostPath = `${parsed.host.toLowerCase()}${scheme === 'file' ? decodeURIComponentSafe(parsed.pathname) : parsed.pathname}`;
    const displayUrl =
      scheme === 'https' || scheme === 'http'
        ? url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/, '$1')
        : redactUrl(url);
    return {
      fetchUrl: url,
      displayUrl,
      cacheKey: normaliseKey(`${scheme === 'file' ? 'file' : scheme}://${hostPath}`),
      local: scheme === 'file',
      secrets: [...new Set(secrets)].filter((s) => s !== ''),
    };
  }

  // scp-like `[user@]host:path`: git's rule is a colon before any slash.
  const scp = /^(?:[^@/:]+@)?(\[[^\]]+\]|[^/:]+):(.*)$/.exec(url);
  if (scp && !/^[A-Za-z]:[\\/]/.test(url)) {
    const host = (scp[1] ?? '').toLowerCase();
    const user = /^([^@/:]+)@/.exec(url)?.[1];
    // `user:secret@host:repo` is not scp syntax git accepts for ssh, but a pasted credential must not be
    // shown or stored either way.
    const secret = /^[^@/:]+:([^@/]+)@/.exec(url)?.[1];
    return {
      fetchUrl: url,
      displayUrl: redactUrl(url),
      cacheKey: normaliseKey(`ssh://${user ? `${user}@` : ''}${host}/${scp[2] ?? ''}`),
      local: false,
      secrets: secret ? [secret] : [],
    };
  }

  const abs = path.resolve(url);
  return {
    fetchUrl: abs,
    displayUrl: abs,
    cacheKey: normaliseKey(`file://${abs}`),
    local: true,
    secrets: [],
  };
}

function normaliseKey(key: string): string {
  return key.replace(/\/+$/, '').replace(/\.git$/, '');
}

function safeDecode(s: string): string {
  return decodeURIComponentSafe(s);
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A branch, tag or commit: nothing git would read as an option, a refspec or a revision expression. */
function checkRef(spec: SourceSpec): void {
  const ref = spec.ref ?? '';
  // eslint-disable-next-line no-control-regex
  const forbidden = /[\x00-\x20\x7f:~^?*[\\]|\.\.|@\{/;
  if (ref === '' || ref.startsWith('-') || forbidden.test(ref) || ref.endsWith('/')) {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `source "${spec.id}": ref must be a branch, tag or commit id (got ${JSON.stringify(ref)})`,
    );
  }
}

/** The bare cache repository of a remote. */
function cacheDirOf(cacheRoot: string, remote: GitRemote): string {
  const key = createHash('sha256').update(remote.cacheKey).digest('hex').slice(0, 16);
  return path.join(cacheRoot, 'git', `${key}.git`);
}

function refKeyOf(text: string): string {
  return `refs/skillsmith/${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

async function* crawlGit(
  g: GitCrawl,
  ctx: CrawlContext,
): AsyncGenerator<CrawlItem, SourceState | undefined, undefined> {
  const { spec, remote } = g;
  const signal = ctx.signal;
  if (signal?.aborted) return undefined;
  const readers = new Map<string, CatFileBatch>();
  let readerDied: Error | undefined;
  try {
    const gitDir = cacheDirOf(g.cacheRoot, remote);
    let resolved: { commit: string; ref: string; trusted?: boolean };
    const trees: TreeToCrawl[] = [];
    const problems: CrawlProblem[] = [];
    try {
      const started = Date.now();
      resolved = await withRepoLock(gitDir, () => resolveCommit(g, gitDir, remote, spec.ref, signal, ctx));
      let entries: TreeEntry[];
      try {
        entries = await listTree(g, gitDir, resolved.commit, signal);
      } catch (err) {
        if (!resolved.trusted || signal?.aborted) throw err;
        // The "same commit as last time" shortcut trusted the cache, and the cache lost it (wiped, or a new
        // machine with the old database): resolve again the careful way, which fetches.
        resolved = await withRepoLock(gitDir, () =>
          resolveCommit(g, gitDir, remote, spec.ref, signal, { ...ctx, previous: undefined }),
        );
        entries = await listTree(g, gitDir, resolved.commit, signal);
      }
      ctx.log('git: tree listed', {
        source: spec.id,
        url: remote.displayUrl,
        ref: resolved.ref,
        commit: resolved.commit,
        entries: entries.length,
        sameCommit: ctx.previous?.commit === resolved.commit,
        ms: Date.now() - started,
      });
      trees.push({
        gitDir,
        entries,
        provenance: { url: remote.displayUrl, ref: resolved.ref, commit: resolved.commit },
      });
      if (spec.submodules) {
        await collectSubmodules(
          g,
          { gitDir, remote, commit: resolved.commit, entries },
          '',
          1,
          trees,
          problems,
          ctx,
        );
      }
    } catch (err) {
      if (signal?.aborted) return undefined;
      throw toSourceError(g, err);
    }

    for (const p of problems) yield p;
    for (const tree of trees) {
      const readBlob = (sha: string, blobPath: string): Promise<Uint8Array> => {
        g.onBlobRead?.(sha, blobPath);
        const reader = readers.get(tree.gitDir) ?? new CatFileBatch(g.runner, tree.gitDir, signal);
        readers.set(tree.gitDir, reader);
        return reader.read(sha, ctx.maxFileBytes).catch((err: unknown) => {
          // A per-object problem (missing, too large) becomes the skill's READ_FAILED; a dead process fails
          // the whole source below instead of turning every later skill into an error row.
          if (reader.isDead) readerDied ??= err as Error;
          throw err;
        });
      };
      for await (const item of skillsFromTree(spec.id, tree.entries, readBlob, ctx, tree.provenance)) {
        if (signal?.aborted) return undefined;
        if (readerDied) throw toSourceError(g, readerDied);
        yield item;
      }
    }
    if (signal?.aborted) return undefined;
    return { commit: resolved.commit, ref: resolved.ref, url: remote.displayUrl };
  } finally {
    await Promise.all([...readers.values()].map((r) => r.close()));
  }
}

/**
 * Brings the cache repository up to date for `ref` (or the default branch) and returns the commit to crawl.
 * Fetches only when the commit is not cached already.
 */
async function resolveCommit(
  g: GitCrawl,
  gitDir: string,
  remote: GitRemote,
  ref: string | undefined,
  signal: AbortSignal | undefined,
  ctx: CrawlContext,
): Promise<{ commit: string; ref: string; trusted?: boolean }> {
  await ensureCacheRepo(g, gitDir, signal);
  const localRef = refKeyOf(ref ?? 'HEAD');

  if (ref !== undefined && isObjectId(ref.toLowerCase())) {
    const sha = ref.toLowerCase();
    if (await hasCommit(g, gitDir, sha, signal)) {
      await git(g, ['update-ref', localRef, sha], gitDir, signal);
      return { commit: sha, ref };
    }
  }

  let remoteRef = ref;
  let shownRef = ref;
  if (ref === undefined) {
    const head = await lsRemoteHead(g, remote, signal);
    shownRef = head.branch?.replace(/^refs\/heads\//, '') ?? 'HEAD';
    // Same commit as the last complete crawl: it is in the cache under our ref already (refs keep it from gc),
    // so the whole check was this one ls-remote; skip the existence check and the ref update (two more git
    // processes, a third of an unchanged re-index).
    if (ctx.previous?.commit === head.commit && ctx.previous.ref === shownRef) {
      return { commit: head.commit, ref: shownRef, trusted: true };
    }
    if (await hasCommit(g, gitDir, head.commit, signal)) {
      // Unchanged (or cached from another ref): the one round trip was ls-remote.
      await git(g, ['update-ref', localRef, head.commit], gitDir, signal);
      ctx.log('git: default branch already cached, not fetched', { source: g.spec.id, commit: head.commit });
      return { commit: head.commit, ref: shownRef };
    }
    remoteRef = head.branch ?? 'HEAD';
  }

  const started = Date.now();
  await fetchRef(g, gitDir, remote, remoteRef!, localRef, signal);
  const commit = (
    await git(g, ['rev-parse', '--verify', '--end-of-options', `${localRef}^{commit}`], gitDir, signal)
  )
    .toString('utf8')
    .trim();
  ctx.log('git: fetched', {
    source: g.spec.id,
    url: remote.displayUrl,
    ref: shownRef,
    commit,
    ms: Date.now() - started,
  });
  return { commit, ref: shownRef! };
}

/** `git init --bare` once (idempotent, so two processes racing here is harmless). */
async function ensureCacheRepo(g: GitCrawl, gitDir: string, signal: AbortSignal | undefined): Promise<void> {
  if (existsSync(path.join(gitDir, 'HEAD'))) return;
  try {
    mkdirSync(path.dirname(gitDir), { recursive: true });
  } catch (err) {
    throw new IndexerError(
      ERROR_CODES.SOURCE_FAILED,
      `cannot create the git cache folder ${path.dirname(gitDir)}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  // `--template=`: no sample hooks or other template files copied in.
  await runGit(g.runner, ['init', '--bare', '--quiet', '--template=', gitDir], { signal });
}

/** The remote's default branch (`refs/heads/…`, undefined when HEAD is detached) and the commit it names. */
async function lsRemoteHead(
  g: GitCrawl,
  remote: GitRemote,
  signal: AbortSignal | undefined,
): Promise<{ branch: string | undefined; commit: string }> {
  const out = (
    await runGit(g.runner, ['ls-remote', '--symref', '--end-of-options', remote.fetchUrl, 'HEAD'], { signal })
  ).toString('utf8');
  let branch: string | undefined;
  let commit: string | undefined;
  for (const line of out.split('\n')) {
    const sym = /^ref: (refs\/\S+)\tHEAD$/.exec(line);
    if (sym) branch = sym[1];
    const oid = /^([0-9a-f]{40}|[0-9a-f]{64})\tHEAD$/.exec(line);
    if (oid) commit = oid[1];
  }
  if (commit === undefined) {
    throw new IndexerError(
      ERROR_CODES.SOURCE_FAILED,
      `git source "${g.spec.id}": ${remote.displayUrl} has no commits (its HEAD names no commit); set a ref`,
    );
  }
  return { branch, commit };
}

/**
 * `git fetch --depth 1` of one ref into a private ref of the cache. A private ref, not FETCH_HEAD: two sources
 * of one remote (two refs) share the cache repository, and FETCH_HEAD would be shared between their fetches.
 * The `+` takes force-pushes. Retried a few times when another process holds the repository's lock files.
 */
async function fetchRef(
  g: GitCrawl,
  gitDir: string,
  remote: GitRemote,
  remoteRef: string,
  localRef: string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const args = [
    'fetch',
    '--depth=1',
    '--no-tags',
    '--no-recurse-submodules',
    '--no-write-fetch-head',
    '--quiet',
    '--end-of-options',
    remote.fetchUrl,
    `+${remoteRef}:${localRef}`,
  ];
  for (let attempt = 1; ; attempt++) {
    try {
      await git(g, args, gitDir, signal);
      return;
    } catch (err) {
      const contended =
        err instanceof GitError &&
        err.reason === 'exit' &&
        /\.lock'?: File exists|shallow file has changed|cannot lock ref/i.test(err.stderr);
      if (!contended || attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 100 * 2 ** attempt * (0.5 + Math.random())));
    }
  }
}

async function hasCommit(
  g: GitCrawl,
  gitDir: string,
  sha: string,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  try {
    await git(g, ['cat-file', '-e', `${sha}^{commit}`], gitDir, signal);
    return true;
  } catch (err) {
    if (err instanceof GitError && err.reason === 'exit') return false;
    throw err;
  }
}

/**
 * `git ls-tree -r -z --long`: `<mode> <type> <oid> <size>\t<path>\0` per file. Mode 120000 is a symlink,
 * type `commit` (mode 160000) a submodule; the size is `-` for submodules.
 */
async function listTree(
  g: GitCrawl,
  gitDir: string,
  commit: string,
  signal: AbortSignal | undefined,
): Promise<TreeEntry[]> {
  const out = await git(g, ['ls-tree', '-r', '-z', '--long', '--end-of-options', commit], gitDir, signal);
  const entries: TreeEntry[] = [];
  for (const record of out.toString('utf8').split('\0')) {
    if (record === '') continue;
    const tab = record.indexOf('\t');
    if (tab < 0) continue;
    const [mode, type, sha, size] = record.slice(0, tab).split(/ +/);
    const entryPath = record.slice(tab + 1);
    if (sha === undefined) continue;
    const parsedSize = size !== undefined && /^\d+$/.test(size) ? Number(size) : undefined;
    if (type === 'commit' || mode === '160000') {
      entries.push({ path: entryPath, sha, type: 'submodule' });
    } else if (type === 'blob') {
      entries.push({ path: entryPath, sha, size: parsedSize, type: mode === '120000' ? 'symlink' : 'blob' });
    }
  }
  return entries;
}

/** Runs git in a cache repository. */
function git(g: GitCrawl, args: string[], gitDir: string, signal: AbortSignal | undefined): Promise<Buffer> {
  return runGit(g.runner, args, { gitDir, signal });
}

/**
 * Follows the gitlinks of one tree (see {@link createGitSource}): appends each submodule's tree, paths prefixed,
 * to `trees`, and a problem per submodule that cannot be fetched to `problems`.
 */
async function collectSubmodules(
  g: GitCrawl,
  parent: { gitDir: string; remote: GitRemote; commit: string; entries: TreeEntry[] },
  prefix: string,
  depth: number,
  trees: TreeToCrawl[],
  problems: CrawlProblem[],
  ctx: CrawlContext,
): Promise<void> {
  const links = parent.entries.filter((e) => e.type === 'submodule').sort((a, b) => cmp(a.path, b.path));
  if (links.length === 0) return;
  const problem = (p: string, message: string): void => {
    problems.push({
      sourceId: g.spec.id,
      path: p,
      code: ERROR_CODES.SOURCE_FAILED,
      scope: 'file',
      message: scrub(g, `submodule ${g.spec.id}/${p}: ${message}; its skills are not indexed`),
    });
  };
  const modules = await readGitmodules(g, parent.gitDir, parent.entries, ctx.signal);
  for (const link of links) {
    const fullPath = prefix + link.path;
    if (depth > MAX_SUBMODULE_DEPTH) {
      problem(fullPath, `nested more than ${MAX_SUBMODULE_DEPTH} submodules deep`);
      continue;
    }
    const rawUrl = modules.get(link.path);
    if (rawUrl === undefined) {
      problem(fullPath, 'has no url in .gitmodules');
      continue;
    }
    const url = resolveSubmoduleUrl(parent.remote.fetchUrl, rawUrl);
    if (url === undefined) {
      problem(fullPath, `its relative url ${JSON.stringify(rawUrl)} goes above the superproject's host`);
      continue;
    }
    let remote: GitRemote;
    try {
      remote = parseGitLocation(url);
    } catch (err) {
      problem(fullPath, (err as Error).message);
      continue;
    }
    remote.secrets.push(...parent.remote.secrets);
    if (remote.local && !parent.remote.local) {
      // A remote repository must not make the indexer read repositories on its own disk.
      problem(fullPath, `a remote repository may not point at the local repository ${remote.displayUrl}`);
      continue;
    }
    if (!parent.remote.local && hostOf(remote.cacheKey) !== hostOf(parent.remote.cacheKey)) {
      // Nor make it connect to other hosts (internal services, a private repository reachable with the
      // operator's ssh key): submodules are followed on the superproject's own host only.
      problem(
        fullPath,
        `its url points at another host than the superproject's (${hostOf(remote.cacheKey)})`,
      );
      continue;
    }
    const gitDir = cacheDirOf(g.cacheRoot, remote);
    try {
      await withRepoLock(gitDir, async () => {
        await ensureCacheRepo(g, gitDir, ctx.signal);
        const localRef = refKeyOf(`submodule ${parent.remote.cacheKey} ${fullPath}`);
        if (!(await hasCommit(g, gitDir, link.sha, ctx.signal))) {
          await fetchRef(g, gitDir, remote, link.sha, localRef, ctx.signal);
        }
        await git(g, ['update-ref', localRef, link.sha], gitDir, ctx.signal);
      });
      const entries = (await listTree(g, gitDir, link.sha, ctx.signal)).map((e) => ({
        ...e,
        path: `${fullPath}/${e.path}`,
      }));
      trees.push({ gitDir, entries, provenance: { url: remote.displayUrl, commit: link.sha } });
      await collectSubmodules(
        g,
        {
          gitDir,
          remote,
          commit: link.sha,
          entries: entries.map((e) => ({ ...e, path: e.path.slice(fullPath.length + 1) })),
        },
        `${fullPath}/`,
        depth + 1,
        trees,
        problems,
        ctx,
      );
    } catch (err) {
      if (ctx.signal?.aborted) throw err;
      problem(fullPath, `cannot fetch ${link.sha} from ${remote.displayUrl}: ${describeError(err)}`);
    }
  }
}

/** Submodule path → url from the tree's `.gitmodules` (parsed by git from the blob; includes not followed). */
async function readGitmodules(
  g: GitCrawl,
  gitDir: string,
  entries: TreeEntry[],
  signal: AbortSignal | undefined,
): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  const file = entries.find((e) => e.path === '.gitmodules' && e.type === 'blob');
  if (!file) return result;
  let out: string;
  try {
    out = (
      await git(g, ['config', '--no-includes', '--null', '--list', '--blob', file.sha], gitDir, signal)
    ).toString('utf8');
  } catch (err) {
    if (signal?.aborted) throw err;
    return result;
  }
  const paths = new Map<string, string>();
  const urls = new Map<string, string>();
  for (const record of out.split('\0')) {
    const nl = record.indexOf('\n');
    if (nl < 0) continue;
    const key = record.slice(0, nl);
    const value = record.slice(nl + 1);
    const m = /^submodule\.(.+)\.(path|url)$/.exec(key);
    if (!m) continue;
    (m[2] === 'path' ? paths : urls).set(m[1]!, value);
  }
  for (const [name, p] of paths) {
    const url = urls.get(name);
    if (url !== undefined) result.set(p.replace(/\/+$/, ''), url);
  }
  return result;
}

/**
 * Git's rule for a submodule URL starting `./` or `../`: relative to the superproject's URL, each `../`
 * dropping one path segment. Undefined when it would climb past the host.
 */
export function resolveSubmoduleUrl(base: string, rel: string): string | undefined {
  if (!rel.startsWith('./') && !rel.startsWith('../')) return rel;
  let prefix: string;
  let rest: string;
  const url = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/]*)(\/.*)?$/.exec(base);
  const scp = /^((?:[^@/:]+@)?(?:\[[^\]]+\]|[^/:]+):)(.*)$/.exec(base);
  if (url) {
    prefix = url[1]!;
    rest = url[2] ?? '';
  } else if (scp) {
    prefix = scp[1]!;
    rest = scp[2] ?? '';
  } else {
    prefix = '';
    rest = base;
  }
  const segments = rest.split('/');
  while (segments.length > 0 && segments[segments.length - 1] === '') segments.pop();
  let r = rel;
  for (;;) {
    if (r.startsWith('./')) r = r.slice(2);
    else if (r.startsWith('../')) {
      r = r.slice(3);
      if (segments.length === 0 || (segments.length === 1 && segments[0] === '')) return undefined;
      segments.pop();
    } else break;
  }
  if (r === '..' || r === '.') return undefined;
  return `${prefix}${[...segments, r].join('/')}`;
}

/** The host and port of a normalised cache key (`scheme://[user@]host[:port]/path`), lower-case, without user. */
function hostOf(cacheKey: string): string {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/]*)/i.exec(cacheKey)?.[1] ?? '';
  return authority.replace(/^.*@/, '').toLowerCase();
}

/** One lock per cache repository in this process: fetches into one repository take turns. */
const repoLocks = new Map<string, Promise<unknown>>();

async function withRepoLock<T>(gitDir: string, fn: () => Promise<T>): Promise<T> {
  const previous = repoLocks.get(gitDir) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  const tail = run.catch(() => undefined);
  repoLocks.set(gitDir, tail);
  try {
    return await run;
  } finally {
    if (repoLocks.get(gitDir) === tail) repoLocks.delete(gitDir);
  }
}

/** Removes every credential of the source's URLs from a text. */
function scrub(g: GitCrawl, text: string): string {
  let out = redactUrl(text);
  for (const s of g.remote.secrets) if (s.length > 0) out = out.split(s).join('***');
  return out;
}

/** Boilerplate git prints after most transport errors; it says nothing about this failure. */
const STDERR_BOILERPLATE =
  /^(Please make sure you have the correct access rights|and the repository exists\.)$/;

/** Git's stderr in one line: hints and boilerplate dropped, `fatal:`/`error:` prefixes removed, ≤ 300 chars. */
function summariseStderr(stderr: string): string {
  const text = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('hint:') && !STDERR_BOILERPLATE.test(l))
    .map((l) => l.replace(/^(fatal|error):\s*/i, ''))
    .join('; ');
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

function describeError(err: unknown): string {
  if (err instanceof GitError) {
    if (err.reason === 'exit') return summariseStderr(err.stderr) || err.message;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Any failure of the whole source as a `SOURCE_FAILED` IndexerError whose message holds no credential. */
function toSourceError(g: GitCrawl, err: unknown): IndexerError {
  if (err instanceof IndexerError) {
    return err.code === ERROR_CODES.SOURCE_FAILED && scrub(g, err.message) === err.message
      ? err
      : new IndexerError(err.code, scrub(g, err.message));
  }
  const ref = g.spec.ref ?? 'the default branch';
  const message = scrub(
    g,
    `git source "${g.spec.id}": cannot read ${ref} of ${g.remote.displayUrl}: ${describeError(err)}`,
  );
  // The cause keeps the failure kind and exit code but not the raw stderr (it may hold a credential).
  const cause =
    err instanceof GitError ? new GitError(err.reason, scrub(g, err.message), '', err.exitCode) : undefined;
  return new IndexerError(ERROR_CODES.SOURCE_FAILED, message, { cause });
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
