import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitSource, resolveSubmoduleUrl } from '../src/producer/git-source.js';
import type { GitSourceOptions } from '../src/producer/git-source.js';
import type { CrawlContext, CrawlItem, SourceSpec, SourceState } from '../src/producer/source.js';
import { ERROR_CODES, IndexerError } from '../src/shared/errors.js';
import type { CrawlProblem, SkillDoc, SkillUnchanged } from '../src/shared/skill-doc.js';
import { tempDir } from './helpers.js';

const FM = (name: string, extra = ''): string =>
  `---\nname: ${name}\ndescription: Does ${name} things.\n---\n\n# ${name}\n${extra}`;

/** Environment for the test's own git commands: no machine config, a fixed identity. */
function testGitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_')) env[k] = v;
  return {
    ...env,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
    ...extra,
  };
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'protocol.file.allow=always', ...args], {
    cwd,
    env: testGitEnv(),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** Writes files (POSIX relative paths → contents) under `root`. */
function writeTree(root: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const abs = join(root, ...rel.split('/'));
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  }
}

/** A working repository `work` pushing to a bare `remote` (what the source fetches from). */
function makeRepo(
  base: string,
  name: string,
  files: Record<string, string>,
): { work: string; remote: string } {
  const work = join(base, `${name}-work`);
  const remote = join(base, `${name}.git`);
  mkdirSync(work, { recursive: true });
  git(base, 'init', '--bare', '--quiet', '-b', 'main', remote);
  git(work, 'init', '--quiet', '-b', 'main');
  writeTree(work, files);
  commitAll(work, 'initial');
  git(work, 'remote', 'add', 'origin', remote);
  git(work, 'push', '--quiet', 'origin', 'main');
  return { work, remote };
}

function commitAll(work: string, message: string): string {
  git(work, 'add', '-A');
  git(work, 'commit', '--quiet', '--no-verify', '-m', message);
  return git(work, 'rev-parse', 'HEAD');
}

interface Crawled {
  items: CrawlItem[];
  docs: (SkillDoc & CrawlItem)[];
  unchanged: (SkillUnchanged & CrawlItem)[];
  problems: CrawlProblem[];
  state: SourceState | undefined;
  reads: { sha: string; path: string }[];
  logs: { msg: string; fields?: Record<string, unknown> }[];
}

/** What a pipeline remembers between crawls: skill id → stat key, as the test's isUnchanged sees it. */
type Known = Map<string, string>;

function makeCtx(
  known: Known,
  previous: SourceState | undefined,
  logs: Crawled['logs'],
  maxFileBytes: number,
) {
  return {
    isUnchanged: (id: string, statKey: string) => known.get(id) === statKey,
    wants: () => true,
    previous,
    maxFileBytes,
    log: (msg: string, fields?: Record<string, unknown>) => logs.push({ msg, fields }),
  } satisfies CrawlContext;
}

/** Runs one crawl, then records what it yielded into `known` (as the pipeline would). */
async function crawl(
  spec: SourceSpec,
  opts: { cacheDir: string; known?: Known; previous?: SourceState; maxFileBytes?: number },
): Promise<Crawled> {
  const reads: Crawled['reads'] = [];
  const logs: Crawled['logs'] = [];
  const known = opts.known ?? new Map<string, string>();
  const options: GitSourceOptions = {
    cacheDir: opts.cacheDir,
    onBlobRead: (sha, path) => reads.push({ sha, path }),
  };
  const source = createGitSource(spec, options);
  const gen = source.crawl(makeCtx(known, opts.previous, logs, opts.maxFileBytes ?? 1024 * 1024));
  const items: CrawlItem[] = [];
  let state: SourceState | undefined;
  for (;;) {
    const r = await gen.next();
    if (r.done) {
      state = r.value;
      break;
    }
    items.push(r.value);
  }
  const docs = items.filter((i): i is SkillDoc & CrawlItem => 'files' in i);
  const unchanged = items.filter((i): i is SkillUnchanged & CrawlItem => 'unchanged' in i);
  const problems = items.filter((i): i is CrawlProblem & CrawlItem => 'code' in i);
  for (const d of docs) if (d.statKey) known.set(d.id, d.statKey);
  return { items, docs, unchanged, problems, state, reads, logs };
}

async function expectSourceFailed(run: () => Promise<unknown>, secret?: string): Promise<IndexerError> {
  let caught: unknown;
  try {
    await run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(IndexerError);
  const err = caught as IndexerError;
  expect(err.code).toBe(ERROR_CODES.SOURCE_FAILED);
  expect(err.message).not.toContain('\n');
  if (secret) {
    expect(err.message).not.toContain(secret);
    expect(String((err.cause as Error | undefined)?.message ?? '')).not.toContain(secret);
    expect(JSON.stringify(err)).not.toContain(secret);
  }
  return err;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`git daemon exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`git daemon did not listen on ${port}`);
}

const BIG = 'x'.repeat(5000);

/** The fixture every transport is tested with. */
const FILES: Record<string, string> = {
  'README.md': '# not a skill\n',
  'skills/alpha/SKILL.md': FM('alpha'),
  'skills/alpha/guide.md': 'alpha guide\n',
  'skills/alpha/notes.txt': 'not markdown\n',
  'skills/alpha/nested/SKILL.md': FM('nested'),
  'skills/beta/SKILL.md': FM('beta'),
  'skills/gamma/SKILL.md': FM('gamma'),
  'skills/big/SKILL.md': FM('big', BIG),
};

function makeFixture(base: string, name: string): { work: string; remote: string } {
  const repo = makeRepo(base, name, FILES);
  mkdirSync(join(repo.work, 'skills', 'linked'));
  symlinkSync('../beta/SKILL.md', join(repo.work, 'skills', 'linked', 'SKILL.md'));
  commitAll(repo.work, 'symlinked skill');
  git(repo.work, 'push', '--quiet', 'origin', 'main');
  return repo;
}

/**
 * The whole incremental story against one remote URL: first crawl, unchanged crawl, a commit that modifies,
 * adds and deletes skills, then a force-push.
 */
async function incrementalStory(base: string, url: string, work: string): Promise<void> {
  const cacheDir = join(base, 'cache');
  const spec: SourceSpec = { id: 'src', kind: 'git', location: url };
  const known: Known = new Map();
  const max = 4096;

  // 1. First crawl: every skill read, with provenance.
  const head1 = git(work, 'rev-parse', 'HEAD');
  const first = await crawl(spec, { cacheDir, known, maxFileBytes: max });
  expect(first.docs.map((d) => d.id)).toEqual([
    'src/skills/alpha',
    'src/skills/alpha/nested',
    'src/skills/beta',
    'src/skills/gamma',
  ]);
  expect(first.docs[0]?.files.map((f) => f.path)).toEqual(['SKILL.md', 'guide.md']);
  expect(first.docs[0]?.files[0]?.text).toBe(FM('alpha'));
  for (const d of first.docs) {
    expect(d.provenance).toEqual({
      url,
      ref: 'main',
      commit: head1,
      blobSha: git(work, 'rev-parse', `HEAD:${d.path}/SKILL.md`),
    });
  }
  expect(first.problems.map((p) => [p.path, p.code, p.scope])).toEqual([
    ['skills/big', ERROR_CODES.FILE_TOO_LARGE, 'skill'],
    ['skills/linked', ERROR_CODES.PATH_ESCAPE, 'skill'],
  ]);
  expect(first.reads.map((r) => r.path).sort()).toEqual([
    'skills/alpha/SKILL.md',
    'skills/alpha/guide.md',
    'skills/alpha/nested/SKILL.md',
    'skills/beta/SKILL.md',
    'skills/gamma/SKILL.md',
  ]);
  expect(first.state).toEqual({ commit: head1, ref: 'main', url });

  // 2. No new commit: nothing fetched, no blob read, every skill unchanged.
  const second = await crawl(spec, { cacheDir, known, previous: first.state, maxFileBytes: max });
  expect(second.reads).toEqual([]);
  expect(second.docs).toEqual([]);
  expect(second.unchanged.map((u) => u.id)).toEqual(first.docs.map((d) => d.id));
  expect(second.unchanged.every((u) => u.provenance?.commit === head1)).toBe(true);
  expect(second.logs.some((l) => l.msg === 'git: fetched')).toBe(false);
  expect(second.state).toEqual(first.state);

  // 3. Modify one skill, add one, delete one: only the changed and new skills are read.
  writeTree(work, { 'skills/beta/SKILL.md': FM('beta', 'changed\n'), 'skills/delta/SKILL.md': FM('delta') });
  rmSync(join(work, 'skills', 'gamma'), { recursive: true });
  const head2 = commitAll(work, 'change');
  git(work, 'push', '--quiet', 'origin', 'main');
  const third = await crawl(spec, { cacheDir, known, previous: second.state, maxFileBytes: max });
  expect(third.reads.map((r) => r.path).sort()).toEqual(['skills/beta/SKILL.md', 'skills/delta/SKILL.md']);
  expect(third.reads.map((r) => r.sha).sort()).toEqual(
    [
      git(work, 'rev-parse', 'HEAD:skills/beta/SKILL.md'),
      git(work, 'rev-parse', 'HEAD:skills/delta/SKILL.md'),
    ].sort(),
  );
  expect(third.docs.map((d) => d.id)).toEqual(['src/skills/beta', 'src/skills/delta']);
  expect(third.docs[0]?.files[0]?.text).toBe(FM('beta', 'changed\n'));
  expect(third.unchanged.map((u) => u.id)).toEqual(['src/skills/alpha', 'src/skills/alpha/nested']);
  expect(third.items.some((i) => i.path === 'skills/gamma')).toBe(false);
  expect(third.state).toEqual({ commit: head2, ref: 'main', url });

  // 4. Force-push a rewritten history: the depth-1 fetch takes the new commit all the same.
  writeTree(work, { 'skills/alpha/guide.md': 'alpha guide, amended\n' });
  git(work, 'add', '-A');
  git(work, 'commit', '--quiet', '--amend', '--no-verify', '-m', 'change, amended');
  const head3 = git(work, 'rev-parse', 'HEAD');
  git(work, 'push', '--quiet', '--force', 'origin', 'main');
  const fourth = await crawl(spec, { cacheDir, known, previous: third.state, maxFileBytes: max });
  expect(fourth.state).toEqual({ commit: head3, ref: 'main', url });
  expect(fourth.docs.map((d) => d.id)).toEqual(['src/skills/alpha']);
  expect(fourth.docs[0]?.files[1]?.text).toBe('alpha guide, amended\n');
  expect(fourth.reads.map((r) => r.path).sort()).toEqual(['skills/alpha/SKILL.md', 'skills/alpha/guide.md']);

  // 5. A ref that is an older commit id (not a branch tip), into an empty cache: fetched by id.
  const pinned = await crawl(
    { ...spec, ref: head1 },
    { cacheDir: join(base, 'cache-pinned'), maxFileBytes: max },
  );
  expect(pinned.state).toEqual({ commit: head1, ref: head1, url });
  expect(pinned.docs.map((d) => d.id)).toEqual(first.docs.map((d) => d.id));
}

describe('git source over file://', () => {
  let base: string;
  let cleanup: () => void;
  beforeAll(() => ({ dir: base, cleanup } = tempDir('skillsmith-git-file-')));
  afterAll(() => cleanup());

  it('reads every skill first, nothing when the remote did not move, only changed skills after a commit, and survives a force-push', async () => {
    const { work, remote } = makeFixture(base, 'story');
    await incrementalStory(base, `file://${remote}`, work);
  });

  it('recovers when the cache was wiped since the last crawl of the same commit', async () => {
    const { remote } = makeRepo(base, 'wiped', { 'one/SKILL.md': FM('one') });
    const cacheDir = join(base, 'cache-wiped');
    const spec: SourceSpec = { id: 'w', kind: 'git', location: `file://${remote}` };
    const known: Known = new Map();
    const first = await crawl(spec, { cacheDir, known });
    expect(first.docs.map((d) => d.path)).toEqual(['one']);
    rmSync(cacheDir, { recursive: true, force: true });
    const again = await crawl(spec, { cacheDir, known, previous: first.state });
    expect(again.unchanged.map((u) => u.path)).toEqual(['one']);
    expect(again.state).toEqual(first.state);
  });

  it('crawls a plain path, a `git+file://` URL, a tag and a commit id', async () => {
    const { work, remote } = makeRepo(base, 'refs', { 'one/SKILL.md': FM('one') });
    const head = git(work, 'rev-parse', 'HEAD');
    git(work, 'tag', '-a', 'v1', '-m', 'v1');
    git(work, 'push', '--quiet', 'origin', 'v1');
    writeTree(work, { 'two/SKILL.md': FM('two') });
    const head2 = commitAll(work, 'two');
    git(work, 'push', '--quiet', 'origin', 'main');
    const cacheDir = join(base, 'cache-refs');

    const plain = await crawl({ id: 's', kind: 'git', location: remote }, { cacheDir });
    expect(plain.docs.map((d) => d.path)).toEqual(['one', 'two']);
    expect(plain.state).toEqual({ commit: head2, ref: 'main', url: remote });

    const plus = await crawl({ id: 's', kind: 'git', location: `git+file://${remote}` }, { cacheDir });
    expect(plus.state?.commit).toBe(head2);

    const tag = await crawl({ id: 's', kind: 'git', location: remote, ref: 'v1' }, { cacheDir });
    expect(tag.docs.map((d) => d.path)).toEqual(['one']);
    expect(tag.state).toEqual({ commit: head, ref: 'v1', url: remote });

    const byId = await crawl({ id: 's', kind: 'git', location: `file://${remote}`, ref: head }, { cacheDir });
    expect(byId.state?.commit).toBe(head);
    expect(byId.docs.map((d) => d.provenance?.commit)).toEqual([head]);
  });

  it('fails with SOURCE_FAILED, in one line, for a missing ref and for a path that is not a repository', async () => {
    const { remote } = makeRepo(base, 'missing-ref', { 'a/SKILL.md': FM('a') });
    const cacheDir = join(base, 'cache-errors');
    const err = await expectSourceFailed(() =>
      crawl({ id: 's', kind: 'git', location: `file://${remote}`, ref: 'no-such-branch' }, { cacheDir }),
    );
    expect(err.message).toContain('no-such-branch');

    const notRepo = join(base, 'not-a-repo');
    mkdirSync(notRepo);
    const err2 = await expectSourceFailed(() =>
      crawl({ id: 's', kind: 'git', location: notRepo }, { cacheDir }),
    );
    expect(err2.message).toMatch(/not.*a git repository/i);
  });

  it('refuses transport helpers, option-like locations and refs at creation with BAD_OPTION', () => {
    const bad = (spec: Partial<SourceSpec>): unknown => {
      try {
        createGitSource({ id: 's', kind: 'git', location: '/x', ...spec });
      } catch (err) {
        return err;
      }
      return undefined;
    };
    for (const location of [
      'ext::sh -c touch% /tmp/pwned',
      '-oProxyCommand=touch x:y',
      'ftp://host/x.git',
      '',
    ]) {
      expect((bad({ location }) as IndexerError).code).toBe(ERROR_CODES.BAD_OPTION);
    }
    for (const ref of ['--upload-pack=touch x', 'main:refs/heads/x', 'HEAD~1', 'a b']) {
      expect((bad({ ref }) as IndexerError).code).toBe(ERROR_CODES.BAD_OPTION);
    }
    expect((bad({ kind: 'dir' }) as IndexerError).code).toBe(ERROR_CODES.BAD_OPTION);
  });

  it('never runs hooks, filters or the fsmonitor of the repository or of the machine config', async () => {
    const marker = join(base, 'hostile-marker');
    const script = join(base, 'hostile.sh');
    writeFileSync(
      script,
      `#!/bin/sh\necho "$0 $*" >> '${marker}'\n[ $# -gt 0 ] && [ "$1" = git ] && exec "$@"\ncat\n`,
    );
    chmodSync(script, 0o755);
    const hook = `#!/bin/sh\necho hook >> '${marker}'\n`;
    const { work, remote } = makeRepo(base, 'hostile', {
      'skills/evil/SKILL.md': FM('evil'),
      '.gitattributes': '* filter=evil\n',
      '.githooks/post-checkout': hook,
      '.githooks/reference-transaction': hook,
      '.githooks/post-merge': hook,
    });
    for (const h of ['post-checkout', 'reference-transaction', 'post-merge']) {
      chmodSync(join(work, '.githooks', h), 0o755);
    }
    commitAll(work, 'exec bits');
    git(work, 'push', '--quiet', 'origin', 'main');
    // Hostile config everywhere git might look: the source repository's own config and a "machine" config.
    const hostile = [
      `[core]\n\thooksPath = ${join(work, '.githooks')}\n\tfsmonitor = ${script}`,
      `[filter "evil"]\n\tsmudge = ${script}\n\tclean = ${script}\n\trequired = true`,
      `[uploadpack]\n\tpackObjectsHook = ${script}`,
      `[credential]\n\thelper = !${script}`,
      '',
    ].join('\n');
    // The machine's config: ~/.gitconfig of a hostile HOME (and XDG config), plus a GIT_DIR left by a parent.
    const home = join(base, 'hostile-home');
    writeTree(home, { '.gitconfig': hostile, '.config/git/config': hostile });
    git(remote, 'config', 'core.hooksPath', join(work, '.githooks'));
    git(remote, 'config', 'core.fsmonitor', script);

    const saved = { ...process.env };
    process.env.HOME = home;
    process.env.XDG_CONFIG_HOME = join(home, '.config');
    process.env.GIT_DIR = join(base, 'elsewhere.git');
    let crawled: Crawled;
    try {
      crawled = await crawl(
        { id: 's', kind: 'git', location: `file://${remote}` },
        { cacheDir: join(base, 'c4') },
      );
      // Twice: the second run takes the "already cached" path (update-ref, which runs reference-transaction).
      await crawl({ id: 's', kind: 'git', location: `file://${remote}` }, { cacheDir: join(base, 'c4') });
    } finally {
      for (const k of ['HOME', 'XDG_CONFIG_HOME', 'GIT_DIR']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
    expect(crawled.docs.map((d) => d.id)).toEqual(['s/skills/evil']);
    expect(crawled.docs[0]?.files[0]?.text).toBe(FM('evil')); // the raw blob: no smudge filter ran
    expect(existsSync(marker)).toBe(false);

    // Control: the same config does run code for a plain clone, so the assertion above has teeth.
    execFileSync('git', ['clone', '--quiet', remote, join(base, 'control-clone')], {
      env: {
        ...testGitEnv({ HOME: home, XDG_CONFIG_HOME: join(home, '.config') }),
        GIT_CONFIG_GLOBAL: undefined,
      },
      stdio: 'ignore',
    });
    expect(existsSync(marker)).toBe(true);
  });

  it('follows submodules only when asked, with the submodule path as prefix and its own provenance', async () => {
    const sub = makeRepo(base, 'sub', { 'tool/SKILL.md': FM('tool') });
    const subHead = git(sub.work, 'rev-parse', 'HEAD');
    const sup = makeRepo(base, 'super', {
      'own/SKILL.md': FM('own'),
      '.gitmodules': '[submodule "vendored"]\n\tpath = vendor/sub\n\turl = ../sub.git\n',
    });
    git(sup.work, 'update-index', '--add', '--cacheinfo', `160000,${subHead},vendor/sub`);
    git(sup.work, 'commit', '--quiet', '--no-verify', '-m', 'add submodule');
    git(sup.work, 'push', '--quiet', 'origin', 'main');
    const cacheDir = join(base, 'cache-sub');
    const location = `file://${sup.remote}`;

    const plain = await crawl({ id: 's', kind: 'git', location }, { cacheDir });
    expect(plain.docs.map((d) => d.id)).toEqual(['s/own']);
    expect(plain.problems).toEqual([]);

    const known: Known = new Map();
    const deep = await crawl({ id: 's', kind: 'git', location, submodules: true }, { cacheDir, known });
    expect(deep.problems).toEqual([]);
    expect(deep.docs.map((d) => d.id)).toEqual(['s/own', 's/vendor/sub/tool']);
    expect(deep.docs[1]?.provenance).toMatchObject({ url: `file://${sub.remote}`, commit: subHead });
    const again = await crawl({ id: 's', kind: 'git', location, submodules: true }, { cacheDir, known });
    expect(again.reads).toEqual([]);
    expect(again.unchanged.map((u) => u.id)).toEqual(['s/own', 's/vendor/sub/tool']);
  });

  it('returns no state, without throwing, when the crawl is aborted', async () => {
    const { remote } = makeRepo(base, 'abort', { 'a/SKILL.md': FM('a'), 'b/SKILL.md': FM('b') });
    const controller = new AbortController();
    const source = createGitSource(
      { id: 's', kind: 'git', location: remote },
      { cacheDir: join(base, 'cache-abort') },
    );
    const gen = source.crawl({ ...makeCtx(new Map(), undefined, [], 1024), signal: controller.signal });
    const first = await gen.next();
    expect(first.done).toBe(false);
    controller.abort();
    const rest = await gen.next();
    expect(rest).toEqual({ done: true, value: undefined });

    const already = createGitSource(
      { id: 's', kind: 'git', location: remote },
      { cacheDir: join(base, 'c') },
    );
    const gen2 = already.crawl({ ...makeCtx(new Map(), undefined, [], 1024), signal: controller.signal });
    expect(await gen2.next()).toEqual({ done: true, value: undefined });
  });

  it('lets two sources of one remote (two refs) crawl at the same time from one cache', async () => {
    const { work, remote } = makeRepo(base, 'two-refs', { 'a/SKILL.md': FM('a') });
    git(work, 'checkout', '--quiet', '-b', 'other');
    writeTree(work, { 'b/SKILL.md': FM('b') });
    const other = commitAll(work, 'other');
    git(work, 'push', '--quiet', 'origin', 'other');
    const main = git(work, 'rev-parse', 'main');
    const cacheDir = join(base, 'cache-two');
    const [m, o] = await Promise.all([
      crawl({ id: 'm', kind: 'git', location: remote, ref: 'main' }, { cacheDir }),
      crawl({ id: 'o', kind: 'git', location: remote, ref: 'other' }, { cacheDir }),
    ]);
    expect(m.state?.commit).toBe(main);
    expect(m.docs.map((d) => d.id)).toEqual(['m/a']);
    expect(o.state?.commit).toBe(other);
    expect(o.docs.map((d) => d.id)).toEqual(['o/a', 'o/b']);
  });

  it('resolves relative submodule URLs the way git does', () => {
    expect(resolveSubmoduleUrl('https://h/o/repo.git', '../other.git')).toBe('https://h/o/other.git');
    expect(resolveSubmoduleUrl('https://h/o/repo.git', './sub')).toBe('https://h/o/repo.git/sub');
    expect(resolveSubmoduleUrl('git@h:o/repo.git', '../x.git')).toBe('git@h:o/x.git');
    expect(resolveSubmoduleUrl('/srv/o/repo', '../x')).toBe('/srv/o/x');
    expect(resolveSubmoduleUrl('https://h/repo.git', '../../x.git')).toBeUndefined();
    expect(resolveSubmoduleUrl('https://h/o/repo.git', 'https://e/x.git')).toBe('https://e/x.git');
  });
});

describe('git source over git:// (git daemon)', () => {
  let base: string;
  let cleanup: () => void;
  let daemon: ChildProcess;
  let port: number;

  beforeAll(async () => {
    ({ dir: base, cleanup } = tempDir('skillsmith-git-daemon-'));
    port = await freePort();
    daemon = spawn(
      'git',
      [
        'daemon',
        '--reuseaddr',
        `--base-path=${base}`,
        '--export-all',
        `--port=${port}`,
        '--listen=127.0.0.1',
        base,
      ],
      { env: testGitEnv(), stdio: 'ignore' },
    );
    await waitForPort(port, daemon);
  });
  afterAll(() => {
    daemon?.kill();
    cleanup?.();
  });

  it('runs the same incremental story over the git protocol', async () => {
    const { work } = makeFixture(base, 'story');
    await incrementalStory(base, `git://127.0.0.1:${port}/story.git`, work);
  });

  it('refuses a submodule of a remote repository that points at a local repository', async () => {
    const local = makeRepo(base, 'local-sub', { 'x/SKILL.md': FM('x') });
    const head = git(local.work, 'rev-parse', 'HEAD');
    const sup = makeRepo(base, 'remote-super', {
      'own/SKILL.md': FM('own'),
      '.gitmodules': `[submodule "x"]\n\tpath = x\n\turl = ${local.remote}\n`,
    });
    git(sup.work, 'update-index', '--add', '--cacheinfo', `160000,${head},x`);
    git(sup.work, 'commit', '--quiet', '--no-verify', '-m', 'local submodule');
    git(sup.work, 'push', '--quiet', 'origin', 'main');
    const r = await crawl(
      { id: 's', kind: 'git', location: `git://127.0.0.1:${port}/remote-super.git`, submodules: true },
      { cacheDir: join(base, 'cache-sub') },
    );
    expect(r.docs.map((d) => d.id)).toEqual(['s/own']);
    expect(r.problems.map((p) => [p.path, p.code, p.scope])).toEqual([
      ['x', ERROR_CODES.SOURCE_FAILED, 'file'],
    ]);
    expect(r.problems[0]?.message).toMatch(/local repository/);
  });

  it('refuses a submodule that points at another host or port than the superproject', async () => {
    const sup = makeRepo(base, 'elsewhere-super', {
      'own/SKILL.md': FM('own'),
      '.gitmodules': `[submodule "y"]\n\tpath = y\n\turl = git://127.0.0.1:1/internal-admin.git\n`,
    });
    git(sup.work, 'update-index', '--add', '--cacheinfo', `160000,${'1'.repeat(40)},y`);
    git(sup.work, 'commit', '--quiet', '--no-verify', '-m', 'foreign submodule');
    git(sup.work, 'push', '--quiet', 'origin', 'main');
    const r = await crawl(
      { id: 's', kind: 'git', location: `git://127.0.0.1:${port}/elsewhere-super.git`, submodules: true },
      { cacheDir: join(base, 'cache-elsewhere') },
    );
    expect(r.docs.map((d) => d.id)).toEqual(['s/own']);
    expect(r.problems.map((p) => [p.path, p.code])).toEqual([['y', ERROR_CODES.SOURCE_FAILED]]);
    expect(r.problems[0]?.message).toMatch(/another host than the superproject's \(127\.0\.0\.1:1\)/);
  });
});

describe('git source failures', () => {
  let base: string;
  let cleanup: () => void;
  beforeAll(() => ({ dir: base, cleanup } = tempDir('skillsmith-git-fail-')));
  afterAll(() => cleanup());

  it('fails quickly with SOURCE_FAILED for an unreachable remote', async () => {
    const port = await freePort();
    const err = await expectSourceFailed(() =>
      crawl({ id: 's', kind: 'git', location: `git://127.0.0.1:${port}/x` }, { cacheDir: join(base, 'c') }),
    );
    expect(err.message).toContain(`git://127.0.0.1:${port}/x`);
  }, 30_000);

  it('never puts a credential from the URL into the error', async () => {
    const port = await freePort();
    const secret = 's3cr3t-T0KEN-value';
    for (const location of [
      `https://user:${secret}@127.0.0.1:${port}/x.git`,
      `git+https://${secret}@127.0.0.1:${port}/x.git`,
      `git://user:${secret}@127.0.0.1:${port}/x`,
    ]) {
      const err = await expectSourceFailed(
        () => crawl({ id: 's', kind: 'git', location }, { cacheDir: join(base, 'c') }),
        secret,
      );
      expect(err.message).toContain('127.0.0.1');
    }
  }, 30_000);

  it('fails with SOURCE_FAILED on an authentication failure, without the credential', async () => {
    const secret = 'hunter2-s3cr3t-value';
    let sawAuth = false;
    const server = http.createServer((req, res) => {
      if (req.headers.authorization) sawAuth = true;
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="x"' }).end('no');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const err = await expectSourceFailed(
        () =>
          crawl(
            { id: 's', kind: 'git', location: `http://user:${secret}@127.0.0.1:${port}/x.git` },
            { cacheDir: join(base, 'c') },
          ),
        secret,
      );
      expect(err.message).toMatch(/authentication failed/i);
      expect(sawAuth).toBe(true); // git did send the credential to the server, and only there
    } finally {
      server.close();
    }
  }, 30_000);

  it('fails with SOURCE_FAILED when git cannot run', async () => {
    const source = createGitSource(
      { id: 's', kind: 'git', location: '/nowhere' },
      { cacheDir: join(base, 'c'), gitBinary: join(base, 'no-git-here') },
    );
    await expectSourceFailed(async () => {
      for await (const item of source.crawl(makeCtx(new Map(), undefined, [], 1024))) void item;
    });
  });
});
