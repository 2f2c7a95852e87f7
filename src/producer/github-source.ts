import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { redactUrl } from '../shared/redact.js';
import {
  blobSchema,
  commitShaSchema,
  CONDITIONAL_ENDPOINTS,
  repoSchema,
  searchItemsSchema,
  SHA_MEDIA_TYPE,
  treeSchema,
  userSchema,
  type GitHubTree,
} from './github-api.js';
// The client (Octokit and its plugins) is loaded when a GitHub source is crawled, not by every command that
// can create a source: it costs ~80 ms of start-up.
import type { CachedResponse, GitHubClient } from './github-client.js';
import { GitHubSourceError } from './github-errors.js';
import { parseGitHubLocation, type GitHubTarget } from './github-location.js';
import { compareNames, isMarkdownName, SKILL_FILE } from './skill-text.js';
import type { CrawlContext, CrawlItem, SkillSource, SourceSpec, SourceState } from './source.js';
import { skillsFromTree, type TreeEntry } from './tree-skills.js';

const DEFAULT_API_URL = 'https://api.github.com';

const optionsSchema = z.strictObject({
  /** Token sent as `authorization`; `''` for none. Default: `GITHUB_TOKEN` from the environment (read at each crawl). */
  token: z.string({ error: 'token must be a string' }).optional(),
  /** The `fetch` requests go through (tests, proxies). Default: the global `fetch`. */
  fetch: z
    .custom<typeof fetch>((v) => typeof v === 'function', { error: 'fetch must be a function' })
    .optional(),
  /** Where log lines go. Default: the crawl context's `log`. */
  log: z
    .custom<(msg: string, fields?: Record<string, unknown>) => void>((v) => typeof v === 'function', {
      error: 'log must be a function',
    })
    .optional(),
  /** Total time one crawl may wait for GitHub rate limits before failing (default 15 min). */
  maxRateLimitWaitMs: z
    .int({ error: 'maxRateLimitWaitMs must be an integer ≥ 0' })
    .min(0, 'maxRateLimitWaitMs must be an integer ≥ 0')
    .default(15 * 60 * 1000),
  /** Retries of a 5xx answer or a network error, with 1 s, 4 s, 9 s … backoff (default 3). */
  retries: z
    .int({ error: 'retries must be an integer ≥ 0' })
    .min(0, 'retries must be an integer ≥ 0')
    .max(10, 'retries must be ≤ 10')
    .default(3),
});

/**
 * Options of {@link createGitHubSource}:
 * - `token`: sent as `authorization` (`''`: none); default `GITHUB_TOKEN`. Never logged, never in a message or
 *   the state.
 * - `fetch`: the fetch implementation; default the global one.
 * - `log`: log sink; default the crawl context's `log`.
 * - `maxRateLimitWaitMs`: total rate-limit wait per crawl before failing with `SOURCE_FAILED`; default 900000.
 * - `retries`: retries of 5xx / network errors; default 3.
 */
export type GitHubSourceOptions = z.input<typeof optionsSchema>;
type ResolvedOptions = z.output<typeof optionsSchema>;

const storedEntrySchema = z.object({
  path: z.string(),
  sha: z.string(),
  type: z.enum(['blob', 'symlink', 'submodule']),
  size: z.number().optional(),
});
type StoredEntry = z.infer<typeof storedEntrySchema>;

/** What the state keeps of one repository. */
interface RepoState {
  /** The commit the listing below was taken at. */
  commit: string;
  /** The sub-folder the listing is relative to (`''` for the whole repository). */
  root: string;
  /** The skill files only (SKILL.md and `.md` siblings of skill folders), relative to `root`. */
  entries: StoredEntry[];
}

/**
 * What the GitHub source remembers between runs. No token, no credential: ETags with the few fields kept of
 * their bodies, commit SHAs, and the skill files of each repository's tree at that commit. (A type, not an
 * interface, so that it is a {@link SourceState}.)
 */
export type GitHubSourceState = {
  version: 1;
  /** The API the state is about; another API (apiUrl changed) starts afresh. */
  apiUrl: string;
  /** Conditional-request cache: request key (path, query, media type) → ETag, kept body, `Link` header. */
  etags: Record<string, CachedResponse>;
  /** Per repository (`owner/repo`). */
  repos: Record<string, RepoState>;
};

const stateSchema: z.ZodType<GitHubSourceState> = z.object({
  version: z.literal(1),
  apiUrl: z.string(),
  etags: z.record(z.string(), z.object({ etag: z.string(), data: z.json(), link: z.string().optional() })),
  repos: z.record(
    z.string(),
    z.object({ commit: z.string(), root: z.string(), entries: z.array(storedEntrySchema) }),
  ),
});

/**
 * The GitHub source (`kind: 'github'`), through GitHub's REST API (`spec.apiUrl` for GitHub Enterprise):
 * - `github:owner/repo[/path][@ref]`: one repository at `ref` (or `spec.ref`, or its default branch); with a
 *   path, only skills under it, ids relative to it (`<sourceId>/<folder>`).
 * - `github:owner`: every repository of the user or organisation, at its default branch; ids
 *   `<sourceId>/<repo>/<folder>`, include/exclude globs see `<repo>/<folder>`. Forks and disabled repositories
 *   are skipped (a fork's skills are its upstream's, indexed where they live); archived ones are kept (their
 *   skills are still published, and being frozen they cost one 304 per run).
 * - `github-search:<query>`: code search for `filename:SKILL.md <query>`; the hits are grouped by repository
 *   and only the skill folders hit are crawled, at the default branch; ids `<sourceId>/<owner>/<repo>/<folder>`.
 *
 * How a repository is read: its ref is resolved to a commit SHA (`GET …/commits/{ref}` with the `sha` media
 * type), the tree at that commit is listed (`GET …/git/trees/{sha}?recursive=1`; when GitHub truncates it,
 * sub-trees are walked one by one), and {@link skillsFromTree} turns the skill folders into items, reading
 * blobs (`GET …/git/blobs/{sha}`, SHA-checked) only for skills whose blob SHAs changed.
 *
 * What an unchanged repository costs: only 304s. The requests that decide (repository, owner listing pages,
 * ref → commit, code search) are sent with `If-None-Match` from the previous state, and a 304 is answered
 * from the bodies kept there (projected to the few fields used). When the commit is the one of the previous
 * crawl, the tree is not requested at all: a commit's tree never changes, and the state keeps that tree's skill
 * files (paths, blob SHAs, sizes; only skill folders, so it stays small), from which every skill comes out
 * unchanged. So `github:owner/repo@ref` costs one 304, without a ref two, and GitHub does not count 304s
 * against the rate limit.
 *
 * Rate limits: an exhausted budget (`x-ratelimit-remaining: 0`) is waited out until `x-ratelimit-reset`,
 * secondary limits for their `retry-after`; a crawl never fails for a rate limit unless the waits would exceed
 * `maxRateLimitWaitMs`, and then fails with `SOURCE_FAILED` saying so.
 *
 * @throws IndexerError `BAD_OPTION` (here, not at crawl time) for a bad location, ref, apiUrl or option.
 * The crawl throws `SOURCE_FAILED` (one line: what was read, GitHub's status and message; never the token) for
 * a missing repository or ref, bad credentials, an unreachable API, or rate-limit waits over the budget.
 */
export function createGitHubSource(spec: SourceSpec, options: GitHubSourceOptions = {}): SkillSource {
  if (spec.kind !== 'github') {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `createGitHubSource: source "${spec.id}" is of kind ${spec.kind}, not github`,
    );
  }
  const target = parseGitHubLocation(spec.location, spec.ref);
  const apiUrl = normalizeApiUrl(spec.apiUrl);
  const opts = parseOptions(options);
  return { spec, crawl: (ctx) => crawlGitHub(spec, target, apiUrl, opts, ctx) };
}

/** What the crawl of one source carries around. */
interface Crawl {
  readonly spec: SourceSpec;
  readonly ctx: CrawlContext;
  readonly log: (msg: string, fields?: Record<string, unknown>) => void;
  readonly client: GitHubClient;
  readonly previous: GitHubSourceState | undefined;
  /** The next state's repositories, filled as they are crawled. */
  readonly repos: GitHubSourceState['repos'];
  /** Web root for provenance URLs (`https://github.com`, or the GHE host). */
  readonly htmlBase: string;
  unchangedRepos: number;
}

/** One repository to crawl. */
interface RepoJob {
  owner: string;
  repo: string;
  /** Undefined: the default branch, from `GET /repos/{owner}/{repo}`. */
  ref: string | undefined;
  /** Sub-folder (one-repository form only). */
  path: string | undefined;
  /** Put before each path so ids are `<sourceId>/<idPrefix><folder>` (`''`, `repo/`, `owner/repo/`). */
  idPrefix: string;
  /** Only these skill folders (code search hits), relative to the repository root. */
  folders?: ReadonlySet<string> | undefined;
  /** The one repository of the source: any failure fails the source. */
  single: boolean;
}

async function* crawlGitHub(
  spec: SourceSpec,
  target: GitHubTarget,
  apiUrl: string,
  opts: ResolvedOptions,
  ctx: CrawlContext,
): AsyncGenerator<CrawlItem, SourceState | undefined, undefined> {
  const log = opts.log ?? ctx.log;
  const started = Date.now();
  const previous = readState(ctx.previous, apiUrl, spec.id, log);
  const token = opts.token ?? (process.env.GITHUB_TOKEN || undefined);
  const { GitHubClient } = await import('./github-client.js');
  const client = new GitHubClient({
    baseUrl: apiUrl,
    token: token === '' ? undefined : token,
    fetch: opts.fetch,
    log,
    signal: ctx.signal,
    maxRateLimitWaitMs: opts.maxRateLimitWaitMs,
    retries: opts.retries,
    etags: previous?.etags ?? {},
    conditional: CONDITIONAL_ENDPOINTS,
  });
  const crawl: Crawl = {
    spec,
    ctx,
    log,
    client,
    previous,
    repos: {},
    htmlBase: htmlBaseOf(apiUrl),
    unchangedRepos: 0,
  };
  try {
    if (ctx.signal?.aborted) return undefined;
    if (target.kind === 'repo') {
      yield* crawlRepo(crawl, {
        owner: target.owner,
        repo: target.repo,
        ref: target.ref,
        path: target.path,
        idPrefix: '',
        single: true,
      });
    } else if (target.kind === 'owner') {
      yield* crawlOwner(crawl, target.owner);
    } else {
      yield* crawlSearch(crawl, target.query);
    }
  } catch (err) {
    // An aborted crawl just stops (like the folder source): the caller checks the signal, nothing is stored.
    if (ctx.signal?.aborted) return undefined;
    throw err;
  }
  if (ctx.signal?.aborted) return undefined;
  log('github: crawl done', {
    source: spec.id,
    repos: Object.keys(crawl.repos).length,
    unchangedRepos: crawl.unchangedRepos,
    requests: client.stats.requests,
    notModified: client.stats.notModified,
    durationMs: Date.now() - started,
  });
  const state: GitHubSourceState = { version: 1, apiUrl, etags: client.etags(), repos: crawl.repos };
  return state;
}

async function* crawlOwner(c: Crawl, owner: string): AsyncGenerator<CrawlItem> {
  const user = await c.client.get(`owner ${owner}`, 'GET /users/{username}', { username: owner }, userSchema);
  // /orgs/{org}/repos lists private repositories the token can see; /users/{username}/repos only public ones
  // (a user's own private repositories are only under /user/repos, for that user's token: not covered).
  const isOrg = user.type === 'Organization';
  const route = isOrg ? 'GET /orgs/{org}/repos' : 'GET /users/{username}/repos';
  const params = isOrg
    ? { org: owner, type: 'all', per_page: 100 }
    : { username: owner, type: 'owner', per_page: 100 };
  const all = [];
  for await (const page of c.client.pages(`repositories of ${owner}`, route, params, z.array(repoSchema))) {
    all.push(...page);
  }
  const repos = all.filter((r) => !r.fork && !r.disabled).sort((a, b) => compareNames(a.name, b.name));
  c.log('github: listed repositories', {
    source: c.spec.id,
    owner,
    repos: repos.length,
    skippedForksOrDisabled: all.length - repos.length,
  });
  for (const r of repos) {
    if (c.ctx.signal?.aborted) return;
    yield* crawlRepo(c, {
      owner: r.owner.login,
      repo: r.name,
      ref: r.default_branch,
      path: undefined,
      idPrefix: `${r.name}/`,
      single: false,
    });
  }
}

async function* crawlSearch(c: Crawl, query: string): AsyncGenerator<CrawlItem> {
  const hits = new Map<string, { owner: string; repo: string; folders: Set<string> }>();
  let count = 0;
  for await (const items of c.client.pages(
    `code search ${JSON.stringify(query)}`,
    'GET /search/code',
    { q: `filename:${SKILL_FILE} ${query}`, per_page: 100 },
    searchItemsSchema,
  )) {
    for (const item of items) {
      count++;
      // `filename:` matches any case; agents only load `SKILL.md` exactly.
      if (item.name !== SKILL_FILE) continue;
      const slash = item.path.lastIndexOf('/');
      const folder = slash < 0 ? '.' : item.path.slice(0, slash);
      const full = item.repository.full_name;
      const hit = hits.get(full);
      if (hit) hit.folders.add(folder);
      else {
        hits.set(full, {
          owner: item.repository.owner.login,
          repo: item.repository.name,
          folders: new Set([folder]),
        });
      }
    }
  }
  c.log('github: code search done', { source: c.spec.id, hits: count, repos: hits.size });
  if (count >= 1000) {
    c.log('github: code search returns at most 1000 results; narrow the query to see the rest', {
      source: c.spec.id,
    });
  }
  for (const full of [...hits.keys()].sort(compareNames)) {
    if (c.ctx.signal?.aborted) return;
    const hit = hits.get(full)!;
    yield* crawlRepo(c, {
      owner: hit.owner,
      repo: hit.repo,
      ref: undefined,
      path: undefined,
      idPrefix: `${full}/`,
      folders: hit.folders,
      single: false,
    });
  }
}

/** Crawls one repository: ref → commit → skill files (from the state when the commit is unchanged) → items. */
async function* crawlRepo(c: Crawl, job: RepoJob): AsyncGenerator<CrawlItem> {
  const full = `${job.owner}/${job.repo}`;
  const params = { owner: job.owner, repo: job.repo };
  const root = job.path ?? '';
  let ref = job.ref;
  let commit: string;
  let entries: StoredEntry[];
  try {
    if (ref === undefined) {
      const meta = await c.client.get(`repository ${full}`, 'GET /repos/{owner}/{repo}', params, repoSchema);
      ref = meta.default_branch;
    }
    commit = await c.client.get(
      `repository ${full} (ref ${ref})`,
      'GET /repos/{owner}/{repo}/commits/{ref}',
      { ...params, ref, headers: { accept: SHA_MEDIA_TYPE } },
      commitShaSchema,
    );
    const known = c.previous?.repos[full];
    if (known && known.commit === commit && known.root === root) {
      // Same commit, same tree: its skill files are in the state, the tree need not be listed again.
      entries = known.entries;
      c.unchangedRepos++;
    } else {
      entries = await listSkillFiles(c, job, commit);
    }
  } catch (err) {
    // In the owner and search forms one repository that is gone (404), empty (409), without the branch (422)
    // or blocked for legal reasons (451) has no skills; the others are still crawled. Everything else (auth,
    // rate limit, network, 5xx) fails the whole source, so nothing is wrongly taken as removed.
    if (
      !job.single &&
      err instanceof GitHubSourceError &&
      err.failure === 'status' &&
      [404, 409, 422, 451].includes(err.status ?? 0)
    ) {
      c.log('github: repository skipped', { source: c.spec.id, repo: full, reason: err.message });
      return;
    }
    throw err;
  }
  c.repos[full] = { commit, root, entries };

  const wanted = job.folders ? entries.filter((e) => job.folders!.has(folderOf(e.path))) : entries;
  const tree: TreeEntry[] = wanted.map((e) => ({ ...e, path: `${job.idPrefix}${e.path}` }));

  // A blob that cannot be read is one skill's problem (READ_FAILED, from skillsFromTree), unless the cause is
  // the source's (auth, rate limit, network): then the crawl fails instead of reporting every skill as broken.
  let fatal: GitHubSourceError | undefined;
  const readBlob = async (sha: string, path: string): Promise<Uint8Array> => {
    try {
      const blob = await c.client.get(
        `${path} (blob ${sha.slice(0, 12)}) in ${full}`,
        'GET /repos/{owner}/{repo}/git/blobs/{file_sha}',
        { ...params, file_sha: sha },
        blobSchema,
      );
      return blobBytes(blob, sha);
    } catch (err) {
      if (err instanceof GitHubSourceError && isSourceLevel(err)) fatal ??= err;
      throw err;
    }
  };
  const provenance = { ref, commit };
  for await (const item of skillsFromTree(c.spec.id, tree, readBlob, c.ctx, provenance)) {
    if (fatal) throw fatal;
    if ('code' in item) {
      yield item;
      continue;
    }
    yield { ...item, provenance: { ...item.provenance, url: treeUrl(c, job, commit, item.path) } };
  }
  if (fatal) throw fatal;
}

function isSourceLevel(err: GitHubSourceError): boolean {
  if (err.failure === 'network' || err.failure === 'rate-limit') return true;
  return err.failure === 'status' && ![404, 410, 422].includes(err.status ?? 0);
}

/**
 * Lists the tree at `commit` and keeps the skill files under the job's sub-folder, relative to it. One recursive
 * request; when GitHub truncates it (over 100,000 entries or 7 MB), each top-level sub-tree is listed on its own,
 * recursively, going one level down wherever that is truncated again.
 */
async function listSkillFiles(c: Crawl, job: RepoJob, commit: string): Promise<StoredEntry[]> {
  const full = `${job.owner}/${job.repo}`;
  const what = `tree of ${full} at ${commit.slice(0, 12)}`;
  const getTree = (sha: string, recursive: boolean): Promise<GitHubTree> =>
    c.client.get(
      what,
      'GET /repos/{owner}/{repo}/git/trees/{tree_sha}',
      { owner: job.owner, repo: job.repo, tree_sha: sha, ...(recursive ? { recursive: '1' } : {}) },
      treeSchema,
    );
  const sub = job.path;
  /** Whether a folder can hold something under the sub-folder. */
  const relevant = (p: string): boolean =>
    sub === undefined || p === sub || p.startsWith(`${sub}/`) || sub.startsWith(`${p}/`);

  const walk = async (sha: string, prefix: string): Promise<GitHubTree['tree']> => {
    const level = await getTree(sha, false);
    if (level.truncated) {
      c.log('github: a single folder has more entries than GitHub lists; some files are missing', {
        source: c.spec.id,
        repo: full,
        folder: prefix || '.',
      });
    }
    const out: GitHubTree['tree'] = [];
    for (const e of level.tree) {
      const path = `${prefix}${e.path}`;
      out.push({ ...e, path });
      if (e.type !== 'tree' || !relevant(path)) continue;
      if (sub !== undefined && sub.startsWith(`${path}/`)) {
        out.push(...(await walk(e.sha, `${path}/`))); // on the way down to the sub-folder: one level at a time
        continue;
      }
      const below = await getTree(e.sha, true);
      if (below.truncated) out.push(...(await walk(e.sha, `${path}/`)));
      else out.push(...below.tree.map((x) => ({ ...x, path: `${path}/${x.path}` })));
    }
    return out;
  };

  const top = await getTree(commit, true);
  let all = top.tree;
  if (top.truncated) {
    c.log('github: tree listing truncated, listing sub-trees one by one', { source: c.spec.id, repo: full });
    all = await walk(commit, '');
  }
  c.log('github: listed tree', { source: c.spec.id, repo: full, commit, entries: all.length });

  if (sub !== undefined) {
    const node = all.find((e) => e.path === sub);
    if (!node || node.type !== 'tree') {
      throw new GitHubSourceError(
        `path "${sub}" ${node ? 'is not a folder' : 'not found'} in ${full} at ${commit.slice(0, 12)}`,
        'content',
      );
    }
  }
  const rootPrefix = sub === undefined ? '' : `${sub}/`;
  const byFolder = new Map<string, StoredEntry[]>();
  for (const e of all) {
    if (e.type === 'tree' || !e.path.startsWith(rootPrefix)) continue;
    const path = e.path.slice(rootPrefix.length);
    const name = path.slice(path.lastIndexOf('/') + 1);
    if (name !== SKILL_FILE && !isMarkdownName(name)) continue;
    const entry: StoredEntry = {
      path,
      sha: e.sha,
      type: e.mode === '120000' ? 'symlink' : e.type === 'commit' ? 'submodule' : 'blob',
      ...(e.size !== undefined ? { size: e.size } : {}),
    };
    const folder = folderOf(path);
    const list = byFolder.get(folder);
    if (list) list.push(entry);
    else byFolder.set(folder, [entry]);
  }
  const out: StoredEntry[] = [];
  for (const list of byFolder.values()) {
    if (list.some((e) => e.path.slice(e.path.lastIndexOf('/') + 1) === SKILL_FILE)) out.push(...list);
  }
  return out.sort((a, b) => compareNames(a.path, b.path));
}

/** The blob's bytes, checked against its SHA the way git computes it (`blob <size>\0<bytes>`). */
function blobBytes(blob: z.output<typeof blobSchema>, sha: string): Uint8Array {
  let bytes: Buffer;
  if (blob.encoding === 'base64') bytes = Buffer.from(blob.content, 'base64');
  else if (blob.encoding === 'utf-8' || blob.encoding === 'utf8') bytes = Buffer.from(blob.content, 'utf8');
  else throw new Error(`GitHub sent the blob in an unknown encoding (${blob.encoding})`);
  const actual = createHash(sha.length === 64 ? 'sha256' : 'sha1')
    .update(`blob ${bytes.byteLength}\0`)
    .update(bytes)
    .digest('hex');
  if (actual !== sha) throw new Error(`the content GitHub sent does not match blob ${sha.slice(0, 12)}`);
  return bytes;
}

/** `https://github.com/owner/repo/tree/<commit>/<path>` for a skill (its folder within the repository). */
function treeUrl(c: Crawl, job: RepoJob, commit: string, itemPath: string): string {
  let inRepo: string;
  if (job.idPrefix === '') inRepo = itemPath === '.' ? '' : itemPath;
  else inRepo = itemPath === job.idPrefix.slice(0, -1) ? '' : itemPath.slice(job.idPrefix.length);
  const path = [job.path, inRepo].filter((p) => p !== undefined && p !== '').join('/');
  const suffix = path === '' ? '' : `/${path.split('/').map(encodeURIComponent).join('/')}`;
  return `${c.htmlBase}/${job.owner}/${job.repo}/tree/${commit}${suffix}`;
}

function folderOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '.' : path.slice(0, slash);
}

/** The previous state, when it is this source's, readable, and for the same API; otherwise start afresh. */
function readState(
  previous: SourceState | undefined,
  apiUrl: string,
  sourceId: string,
  log: (msg: string, fields?: Record<string, unknown>) => void,
): GitHubSourceState | undefined {
  if (previous === undefined) return undefined;
  const parsed = stateSchema.safeParse(previous);
  if (!parsed.success) {
    log('github: previous state not readable, crawling without it', { source: sourceId });
    return undefined;
  }
  if (parsed.data.apiUrl !== apiUrl) return undefined;
  return parsed.data;
}

function normalizeApiUrl(apiUrl: string | undefined): string {
  const text = apiUrl ?? DEFAULT_API_URL;
  const bad = (why: string): IndexerError =>
    new IndexerError(ERROR_CODES.BAD_OPTION, `apiUrl ${JSON.stringify(redactUrl(text))}: ${why}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad('not a URL (expected e.g. https://ghe.example.com/api/v3)');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad('must be an http(s) URL');
  // The token travels with every request: plain http only to this machine (tests, a local proxy).
  const loopback =
    ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) || url.hostname.startsWith('127.');
  if (url.protocol === 'http:' && !loopback) throw bad('must be https (the token would travel in clear)');
  if (url.username || url.password) throw bad('must not hold credentials; set GITHUB_TOKEN instead');
  if (url.search || url.hash) throw bad('must not have a query or fragment');
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** The web root matching an API root: github.com, `<sub>.ghe.com` for `api.<sub>.ghe.com`, GHE without `/api/v3`. */
function htmlBaseOf(apiUrl: string): string {
  const url = new URL(apiUrl);
  if (url.hostname === 'api.github.com') return 'https://github.com';
  const path = url.pathname.replace(/\/+$/, '');
  if (path.endsWith('/api/v3')) return `${url.origin}${path.slice(0, -'/api/v3'.length)}`;
  if (url.hostname.startsWith('api.') && url.hostname.endsWith('.ghe.com')) {
    return `${url.protocol}//${url.host.slice('api.'.length)}${path}`;
  }
  return `${url.origin}${path}`;
}

function parseOptions(options: GitHubSourceOptions): ResolvedOptions {
  const result = optionsSchema.safeParse(options);
  if (result.success) return result.data;
  const parts = result.error.issues.map((issue) =>
    issue.code === 'unrecognized_keys' ? `unknown option(s) ${issue.keys.join(', ')}` : issue.message,
  );
  // The values are not echoed: one of them may be the token.
  throw new IndexerError(ERROR_CODES.BAD_OPTION, `createGitHubSource: ${parts.join('; ')}`);
}
