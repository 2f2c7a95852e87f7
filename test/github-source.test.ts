import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGitHubSource, type GitHubSourceOptions } from '../src/producer/github-source.js';
import type { CrawlContext, CrawlItem, SkillSource, SourceState } from '../src/producer/source.js';
import { ERROR_CODES, IndexerError } from '../src/shared/errors.js';
import type { CrawlProblem, SkillDoc, SkillUnchanged } from '../src/shared/skill-doc.js';
import { gitBlobSha, startFakeGitHub, type FakeFiles, type FakeGitHub } from './fixtures/fake-github.js';

const TOKEN = 'ghp_testsecret123';

const FM = (name: string): string =>
  `---\nname: ${name}\ndescription: Does ${name} things.\n---\n\n# ${name}\n`;

const FILES: FakeFiles = {
  'README.md': '# skills\n',
  'docs/guide.md': 'not a skill: no SKILL.md beside it',
  'skills/alpha/SKILL.md': FM('alpha'),
  'skills/alpha/reference.md': 'alpha reference',
  'skills/alpha/run.py': 'print("not markdown: not part of the skill")',
  'skills/beta/SKILL.md': FM('beta'),
};

type Doc = SkillDoc & Pick<CrawlItem, 'provenance'>;
type Unchanged = SkillUnchanged & Pick<CrawlItem, 'provenance'>;

interface Run {
  items: CrawlItem[];
  docs: Doc[];
  unchanged: Unchanged[];
  problems: CrawlProblem[];
  state: SourceState | undefined;
  logs: { msg: string; fields?: Record<string, unknown> | undefined }[];
}

/**
 * One crawl, with the previous run standing in for the database: its state is `ctx.previous`, and a skill is
 * unchanged when its stat key is the one the previous run yielded.
 */
async function crawl(source: SkillSource, previous?: Run, extra: Partial<CrawlContext> = {}): Promise<Run> {
  const known = new Map<string, string>();
  for (const item of previous?.items ?? []) {
    if ('id' in item && item.statKey !== undefined) known.set(item.id, item.statKey);
  }
  const logs: Run['logs'] = [];
  const gen = source.crawl({
    isUnchanged: (id, statKey) => known.get(id) === statKey,
    wants: () => true,
    previous: previous?.state,
    maxFileBytes: 1024 * 1024,
    log: (msg, fields) => logs.push({ msg, fields }),
    ...extra,
  });
  const items: CrawlItem[] = [];
  for (;;) {
    const next = await gen.next();
    if (next.done) {
      return {
        items,
        docs: items.filter((i): i is Doc => 'files' in i),
        unchanged: items.filter((i): i is Unchanged => 'unchanged' in i),
        problems: items.filter((i): i is CrawlProblem => 'code' in i),
        state: next.value,
        logs,
      };
    }
    items.push(next.value);
  }
}

/** The crawl's rejection (it must fail). */
async function failure(source: SkillSource, logs: Run['logs'] = []): Promise<IndexerError> {
  const gen = source.crawl({
    isUnchanged: () => false,
    wants: () => true,
    previous: undefined,
    maxFileBytes: 1024 * 1024,
    log: (msg, fields) => logs.push({ msg, fields }),
  });
  try {
    for (;;) if ((await gen.next()).done) break;
  } catch (err) {
    expect(err).toBeInstanceOf(IndexerError);
    return err as IndexerError;
  }
  throw new Error('the crawl did not fail');
}

let gh: FakeGitHub;

function source(location: string, options: GitHubSourceOptions = {}, ref?: string): SkillSource {
  return createGitHubSource(
    { id: 'gh', kind: 'github', location, apiUrl: gh.url, ...(ref ? { ref } : {}) },
    { token: TOKEN, ...options },
  );
}

const paths = (): string[] => gh.requests.map((r) => r.path);
const blobRequests = (): string[] =>
  gh.requests.filter((r) => r.path.includes('/git/blobs/')).map((r) => r.path.split('/').pop()!);

function expectNoToken(run: { logs: Run['logs']; state?: SourceState | undefined }, token = TOKEN): void {
  expect(JSON.stringify(run.state ?? null)).not.toContain(token);
  for (const line of run.logs) expect(JSON.stringify(line)).not.toContain(token);
}

afterEach(async () => {
  await gh.close();
});

describe('github:owner/repo', () => {
  beforeEach(async () => {
    gh = await startFakeGitHub({ tokens: [TOKEN] });
    gh.addRepo({ owner: 'acme', name: 'skills', files: FILES });
  });

  it('reads every skill on the first crawl, with provenance, and sends the token only as authorization', async () => {
    const run = await crawl(source('github:acme/skills'));
    const head = gh.head('acme/skills');

    expect(run.problems).toEqual([]);
    expect(run.docs.map((d) => [d.id, d.path, d.files.map((f) => f.path)])).toEqual([
      ['gh/skills/alpha', 'skills/alpha', ['SKILL.md', 'reference.md']],
      ['gh/skills/beta', 'skills/beta', ['SKILL.md']],
    ]);
    expect(run.docs[0]!.files[0]!.text).toBe(FM('alpha'));
    expect(run.docs[0]!.provenance).toEqual({
      url: `${gh.url}/acme/skills/tree/${head}/skills/alpha`,
      ref: 'main',
      commit: head,
      blobSha: gitBlobSha(FM('alpha')),
    });

    // Default branch, ref → commit, one recursive tree listing, then one blob per skill file.
    expect(paths().slice(0, 3)).toEqual([
      '/repos/acme/skills',
      '/repos/acme/skills/commits/main',
      `/repos/acme/skills/git/trees/${head}`,
    ]);
    expect(gh.requests[2]!.query).toEqual({ recursive: '1' });
    expect(gh.requests[1]!.headers.accept).toBe('application/vnd.github.sha');
    expect(blobRequests().sort()).toEqual(
      [FM('alpha'), 'alpha reference', FM('beta')].map(gitBlobSha).sort(),
    );
    expect(gh.requests.length).toBe(6);

    for (const r of gh.requests) expect(r.headers.authorization).toBe(`token ${TOKEN}`);
    expect(run.state).toBeDefined();
    expectNoToken(run);
  });

  it('costs only 304s when nothing changed: no tree, no blob, every skill unchanged', async () => {
    const first = await crawl(source('github:acme/skills'));
    gh.clearRequests();

    const second = await crawl(source('github:acme/skills'), first);

    expect(gh.requests.map((r) => [r.path, r.status])).toEqual([
      ['/repos/acme/skills', 304],
      ['/repos/acme/skills/commits/main', 304],
    ]);
    for (const r of gh.requests) expect(r.headers['if-none-match']).toBeTruthy();
    expect(gh.requests[1]!.headers['if-none-match']).toBe(`"${gh.head('acme/skills')}"`);
    expect(second.docs).toEqual([]);
    expect(second.problems).toEqual([]);
    expect(second.unchanged.map((u) => u.id)).toEqual(['gh/skills/alpha', 'gh/skills/beta']);
    expect(second.unchanged[0]!.provenance?.commit).toBe(gh.head('acme/skills'));

    // The state carries forward: a third unchanged run is still only 304s.
    gh.clearRequests();
    const third = await crawl(source('github:acme/skills'), second);
    expect(gh.requests.every((r) => r.status === 304)).toBe(true);
    expect(third.unchanged.map((u) => u.id)).toEqual(['gh/skills/alpha', 'gh/skills/beta']);
    expectNoToken(second);
    expectNoToken(third);
  });

  it('fetches only the blob of the file that changed', async () => {
    const first = await crawl(source('github:acme/skills'));
    gh.setFiles('acme/skills', { ...FILES, 'skills/beta/SKILL.md': FM('beta v2') });
    gh.clearRequests();

    const second = await crawl(source('github:acme/skills'), first);

    expect(blobRequests()).toEqual([gitBlobSha(FM('beta v2'))]);
    expect(second.docs.map((d) => [d.id, d.files[0]!.text])).toEqual([['gh/skills/beta', FM('beta v2')]]);
    expect(second.unchanged.map((u) => u.id)).toEqual(['gh/skills/alpha']);
    // The new commit was listed once.
    expect(paths().filter((p) => p.includes('/git/trees/'))).toEqual([
      `/repos/acme/skills/git/trees/${gh.head('acme/skills')}`,
    ]);
  });

  it('does not yield a skill deleted since the last crawl', async () => {
    const first = await crawl(source('github:acme/skills'));
    const files = { ...FILES };
    delete files['skills/beta/SKILL.md'];
    gh.setFiles('acme/skills', files);
    gh.clearRequests();

    const second = await crawl(source('github:acme/skills'), first);

    expect(second.items.map((i) => ('id' in i ? i.id : i.path))).toEqual(['gh/skills/alpha']);
    expect(second.unchanged.map((u) => u.id)).toEqual(['gh/skills/alpha']);
    expect(blobRequests()).toEqual([]);
    expect(JSON.stringify(second.state)).not.toContain('skills/beta');
  });

  it('crawls a sub-folder at a given ref, with ids relative to it, without asking for the default branch', async () => {
    gh.setFiles(
      'acme/skills',
      { ...FILES, 'skills/gamma/SKILL.md': FM('gamma'), 'other/SKILL.md': FM('other') },
      { branch: 'dev' },
    );
    gh.clearRequests();

    const run = await crawl(source('github:acme/skills/skills@dev'));

    const dev = gh.head('acme/skills', 'dev');
    expect(run.docs.map((d) => d.id)).toEqual(['gh/alpha', 'gh/beta', 'gh/gamma']);
    expect(run.docs[2]!.provenance).toMatchObject({
      url: `${gh.url}/acme/skills/tree/${dev}/skills/gamma`,
      ref: 'dev',
      commit: dev,
    });
    expect(paths()).not.toContain('/repos/acme/skills');
    expect(paths()[0]).toBe('/repos/acme/skills/commits/dev');

    const missing = await failure(source('github:acme/skills/nowhere'));
    expect(missing.code).toBe(ERROR_CODES.SOURCE_FAILED);
    expect(missing.message).toMatch(/path "nowhere" not found in acme\/skills/);
  });

  it('lists sub-trees one by one when GitHub truncates the recursive listing', async () => {
    await gh.close();
    gh = await startFakeGitHub({ tokens: [TOKEN], maxTreeEntries: 3 });
    gh.addRepo({
      owner: 'acme',
      name: 'big',
      files: {
        'a/one/SKILL.md': FM('one'),
        'a/two/SKILL.md': FM('two'),
        'b/SKILL.md': FM('b'),
        'b/notes.md': 'notes',
        'c.md': 'loose',
      },
    });

    const run = await crawl(source('github:acme/big'));

    expect(run.docs.map((d) => [d.id, d.files.map((f) => f.path)])).toEqual([
      ['gh/a/one', ['SKILL.md']],
      ['gh/a/two', ['SKILL.md']],
      ['gh/b', ['SKILL.md', 'notes.md']],
    ]);
    const trees = gh.requests.filter((r) => r.path.includes('/git/trees/'));
    expect(trees.some((r) => r.query.recursive === undefined)).toBe(true);
    expect(run.logs.some((l) => l.msg.includes('truncated'))).toBe(true);
  });
});

describe('rate limits', () => {
  beforeEach(async () => {
    gh = await startFakeGitHub({ tokens: [TOKEN] });
    gh.addRepo({ owner: 'acme', name: 'skills', files: FILES });
  });

  it('waits for the reset when the budget is spent (403, remaining 0), then succeeds', async () => {
    gh.setRateLimit({ remaining: 0, resetInSeconds: 1 });

    const run = await crawl(source('github:acme/skills'));

    expect(run.docs.map((d) => d.id)).toEqual(['gh/skills/alpha', 'gh/skills/beta']);
    // The server refuses everything until the reset, so the first retry that succeeded came after it.
    expect(gh.requests[0]).toMatchObject({ path: '/repos/acme/skills', status: 403 });
    expect(gh.requests.filter((r) => r.status === 403).length).toBe(gh.refusals);
    expect(gh.requests.find((r) => r.status === 200)?.path).toBe('/repos/acme/skills');
    expect(run.logs.some((l) => l.msg.includes('rate limited') && l.fields?.kind === 'primary')).toBe(true);
    expect(run.state).toBeDefined();
  });

  it('waits before sending once a response says remaining 0, without being refused', async () => {
    gh.setRateLimit({ remaining: 2, resetInSeconds: 1 });

    const run = await crawl(source('github:acme/skills'));

    expect(run.docs.map((d) => d.id)).toEqual(['gh/skills/alpha', 'gh/skills/beta']);
    expect(gh.refusals).toBe(0);
    expect(run.logs.some((l) => l.msg.includes('rate limited'))).toBe(true);
  });

  it.each([403, 429] as const)(
    'waits out a secondary limit (%i, retry-after 1), then succeeds',
    async (status) => {
      gh.secondaryLimit({ retryAfterSeconds: 1, status, afterRequests: 2 });

      const run = await crawl(source('github:acme/skills'));

      expect(run.docs.map((d) => d.id)).toEqual(['gh/skills/alpha', 'gh/skills/beta']);
      const refused = gh.requests.filter((r) => r.status === status);
      expect(refused.length).toBeGreaterThanOrEqual(1);
      expect(gh.requests.filter((r) => r.path === refused[0]!.path).map((r) => r.status)).toContain(200);
      expect(run.logs.some((l) => l.msg.includes('rate limited') && l.fields?.kind === 'secondary')).toBe(
        true,
      );
    },
  );

  it('stops waiting and returns no state when the crawl is aborted during a rate-limit wait', async () => {
    gh.setRateLimit({ remaining: 0, resetInSeconds: 600 });
    const controller = new AbortController();
    const logs: Run['logs'] = [];
    const gen = source('github:acme/skills').crawl({
      isUnchanged: () => false,
      wants: () => true,
      previous: undefined,
      maxFileBytes: 1024 * 1024,
      signal: controller.signal,
      log: (msg, fields) => {
        logs.push({ msg, fields });
        if (msg.includes('rate limited')) controller.abort();
      },
    });
    // Without an abortable wait this would hang for ten minutes (the test times out first).
    expect(await gen.next()).toEqual({ done: true, value: undefined });
    expect(gh.requests.length).toBe(1);
  });

  it('fails with SOURCE_FAILED, without waiting, when the reset is beyond maxRateLimitWaitMs', async () => {
    gh.setRateLimit({ remaining: 0, resetInSeconds: 120 });

    const err = await failure(source('github:acme/skills', { maxRateLimitWaitMs: 1000 }));

    expect(err.code).toBe(ERROR_CODES.SOURCE_FAILED);
    expect(err.message).toMatch(/rate limit/);
    expect(err.message).toMatch(/maxRateLimitWaitMs/);
    expect(err.message).toContain('acme/skills');
    expect(gh.requests.length).toBe(1);
  });
});

describe('github:owner', () => {
  beforeEach(async () => {
    gh = await startFakeGitHub({ tokens: [TOKEN], maxPerPage: 2 });
    gh.addOrg('acme');
    gh.addRepo({ owner: 'acme', name: 'zeta', files: { 'SKILL.md': FM('zeta') } });
    gh.addRepo({ owner: 'acme', name: 'alpha', files: { 'skills/one/SKILL.md': FM('one') } });
    gh.addRepo({ owner: 'acme', name: 'forked', fork: true, files: { 'x/SKILL.md': FM('x') } });
    gh.addRepo({ owner: 'acme', name: 'old', archived: true, files: { 'y/SKILL.md': FM('y') } });
    gh.addRepo({ owner: 'acme', name: 'empty' });
  });

  it('crawls every repository over all pages, skipping forks and empty repositories, ids <source>/<repo>/<path>', async () => {
    const run = await crawl(source('github:acme'));

    const listing = gh.requests.filter((r) => r.path === '/orgs/acme/repos');
    expect(listing.map((r) => r.query.page ?? '1')).toEqual(['1', '2', '3']);
    expect(run.problems).toEqual([]);
    expect(run.docs.map((d) => d.id)).toEqual(['gh/alpha/skills/one', 'gh/old/y', 'gh/zeta']);
    const zeta = run.docs[2]!;
    expect(zeta.path).toBe('zeta');
    expect(zeta.provenance?.url).toBe(`${gh.url}/acme/zeta/tree/${gh.head('acme/zeta')}`);
    expect(paths().some((p) => p.startsWith('/repos/acme/forked'))).toBe(false);
    expect(run.logs.some((l) => l.msg.includes('skipped') && l.fields?.repo === 'acme/empty')).toBe(true);

    // Unchanged owner: the user lookup, every listing page and every ref → commit answer 304.
    gh.clearRequests();
    const second = await crawl(source('github:acme'), run);
    expect(second.unchanged.map((u) => u.id)).toEqual(['gh/alpha/skills/one', 'gh/old/y', 'gh/zeta']);
    expect(gh.requests.filter((r) => r.status !== 304).map((r) => [r.path, r.status])).toEqual([
      ['/repos/acme/empty/commits/main', 409],
    ]);
    expectNoToken(second);
  });
});

describe('a hostile API', () => {
  it('never sends the token to another origin a pagination Link points at, nor over plain http elsewhere', async () => {
    const thief = await startFakeGitHub({ tokens: [TOKEN] });
    try {
      gh = await startFakeGitHub({ tokens: [TOKEN], maxPerPage: 1, linkOrigin: thief.url });
      gh.addOrg('acme');
      gh.addRepo({ owner: 'acme', name: 'a', files: { 'SKILL.md': FM('a') } });
      gh.addRepo({ owner: 'acme', name: 'b', files: { 'SKILL.md': FM('b') } });
      await expect(crawl(source('github:acme'))).rejects.toMatchObject({
        code: 'E_SOURCE_FAILED',
        message: expect.stringMatching(/refused a request to http:\/\/127\.0\.0\.1:\d+/),
      });
      expect(thief.requests).toEqual([]);
    } finally {
      await thief.close();
    }
    expect(() =>
      createGitHubSource({
        id: 'x',
        kind: 'github',
        location: 'github:a/b',
        apiUrl: 'http://ghe.example.com/api/v3',
      }),
    ).toThrow(/must be https/);
  });
});

describe('github-search:', () => {
  beforeEach(async () => {
    gh = await startFakeGitHub({ tokens: [TOKEN] });
    gh.addRepo({
      owner: 'acme',
      name: 'skills',
      files: {
        'pdf/SKILL.md': `${FM('pdf')}Fill PDF forms.\n`,
        'pdf/forms.md': 'forms',
        'csv/SKILL.md': FM('csv'),
      },
    });
    gh.addRepo({ owner: 'other', name: 'tools', files: { 'SKILL.md': `${FM('tool')}Merge PDF files.\n` } });
  });

  it('groups code search hits by repository and crawls only the skill folders hit', async () => {
    const run = await crawl(source('github-search:pdf'));

    const search = gh.requests.find((r) => r.path === '/search/code');
    expect(search?.query.q).toBe('filename:SKILL.md pdf');
    expect(run.docs.map((d) => [d.id, d.files.map((f) => f.path)])).toEqual([
      ['gh/acme/skills/pdf', ['SKILL.md', 'forms.md']],
      ['gh/other/tools', ['SKILL.md']],
    ]);
    expect(run.docs[1]!.provenance?.url).toBe(`${gh.url}/other/tools/tree/${gh.head('other/tools')}`);
  });

  it('fails with SOURCE_FAILED asking for a token when there is none', async () => {
    const err = await failure(source('github-search:pdf', { token: '' }));
    expect(err.code).toBe(ERROR_CODES.SOURCE_FAILED);
    expect(err.message).toMatch(/401 Requires authentication.*GITHUB_TOKEN/);
  });
});

describe('failures', () => {
  beforeEach(async () => {
    gh = await startFakeGitHub({ tokens: [TOKEN] });
    gh.addRepo({ owner: 'acme', name: 'skills', files: FILES });
  });

  it('fails with SOURCE_FAILED naming the repository when it does not exist (404)', async () => {
    const logs: Run['logs'] = [];
    const err = await failure(source('github:acme/nope'), logs);
    expect(err.code).toBe(ERROR_CODES.SOURCE_FAILED);
    expect(err.message).toMatch(/^repository acme\/nope not found on GitHub \(404 Not Found\)/);
    expect(err.message).not.toContain('\n');
    expect(err.message).not.toContain(TOKEN);
    expectNoToken({ logs });
    expect(gh.requests[0]!.headers.authorization).toBe(`token ${TOKEN}`);
  });

  it('fails with SOURCE_FAILED on a ref that does not exist (422)', async () => {
    const err = await failure(source('github:acme/skills@nope'));
    expect(err.code).toBe(ERROR_CODES.SOURCE_FAILED);
    expect(err.message).toContain('No commit found for SHA: nope');
  });

  it('fails with SOURCE_FAILED on bad credentials (401), never showing the token', async () => {
    const wrong = 'ghp_wrongtoken999';
    const logs: Run['logs'] = [];
    const err = await failure(source('github:acme/skills', { token: wrong }), logs);
    expect(err.code).toBe(ERROR_CODES.SOURCE_FAILED);
    expect(err.message).toMatch(/rejected the token \(401 Bad credentials\)/);
    expect(err.message).not.toContain(wrong);
    expect(JSON.stringify(err.cause ?? null)).not.toContain(wrong);
    expectNoToken({ logs }, wrong);
    expect(gh.requests[0]!.headers.authorization).toBe(`token ${wrong}`);
  });

  it('fails with SOURCE_FAILED when the API cannot be reached', async () => {
    const err = await failure(
      createGitHubSource(
        { id: 'gh', kind: 'github', location: 'github:acme/skills', apiUrl: 'http://127.0.0.1:1' },
        { token: TOKEN, retries: 0 },
      ),
    );
    expect(err.code).toBe(ERROR_CODES.SOURCE_FAILED);
    expect(err.message).toMatch(
      /^cannot reach the GitHub API at http:\/\/127\.0\.0\.1:1 for repository acme\/skills/,
    );
  });

  it('rejects a bad location or option with BAD_OPTION when the source is created', () => {
    const make =
      (location: string, options: GitHubSourceOptions = {}, ref?: string) =>
      () =>
        createGitHubSource({ id: 'gh', kind: 'github', location, ...(ref ? { ref } : {}) }, options);
    expect(make('github:')).toThrow(/missing owner/);
    expect(make('github:acme/skills/../x')).toThrow(/"\.\."/);
    expect(make('github:acme@main')).toThrow(/ref does not apply to github:owner/);
    expect(make('github:acme/skills@main', {}, 'dev')).toThrow(/@main but the source's ref is "dev"/);
    expect(make('github-search:  ')).toThrow(/nothing to search for/);
    expect(make('github:acme/skills', { maxRateLimitWaitMs: -1 })).toThrow(/maxRateLimitWaitMs must be/);
    try {
      make('github:acme/skills', { token: 123 as unknown as string })();
    } catch (err) {
      expect((err as IndexerError).code).toBe(ERROR_CODES.BAD_OPTION);
    }
  });
});
