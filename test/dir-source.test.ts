import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { countSkillFolders, crawlDir } from '../src/producer/dir-source.js';
import { MAX_SIBLING_PROBLEMS } from '../src/producer/sibling-problems.js';
import { contentHash } from '../src/shared/content-hash.js';
import { ERROR_CODES, IndexerError } from '../src/shared/errors.js';
import type { CrawlProblem, SkillDoc, SkillUnchanged } from '../src/shared/skill-doc.js';
import { tempDir } from './helpers.js';

const FM = (name: string): string =>
  `---\nname: ${name}\ndescription: Does ${name} things.\n---\n\n# ${name}\n`;

/** Writes files (POSIX relative paths → contents) under `root`. */
function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [rel, content] of Object.entries(files)) {
    const abs = join(root, ...rel.split('/'));
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  }
}

async function collect(
  root: string,
  extra: Partial<Parameters<typeof crawlDir>[0]> = {},
): Promise<{
  docs: SkillDoc[];
  problems: CrawlProblem[];
  all: (SkillDoc | SkillUnchanged | CrawlProblem)[];
}> {
  const all: (SkillDoc | SkillUnchanged | CrawlProblem)[] = [];
  for await (const item of crawlDir({ root, sourceId: 'src', ...extra })) all.push(item);
  const docs = all.filter((i): i is SkillDoc => 'files' in i);
  const problems = all.filter((i): i is CrawlProblem => 'code' in i);
  return { docs, problems, all };
}

let dir: string;
let root: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('skillsmith-dir-source-'));
  root = join(dir, 'root');
  mkdirSync(root);
});
afterEach(() => cleanup());

describe('crawlDir: finding skills', () => {
  it('yields one SkillDoc per SKILL.md folder, with POSIX path, stable id and SKILL.md first then sorted siblings', async () => {
    writeTree(root, {
      'a/one/SKILL.md': FM('one'),
      'a/one/zeta.md': 'z',
      'a/one/alpha.md': 'a',
      'a/one/notes.txt': 'not markdown',
      'a/one/references/deep.md': 'in a sub-folder: not part of the skill',
      'b/SKILL.md': FM('b'),
    });
    const { docs, problems } = await collect(root);
    expect(problems).toEqual([]);
    expect(docs.map((d) => [d.id, d.path, d.sourceId])).toEqual([
      ['src/a/one', 'a/one', 'src'],
      ['src/b', 'b', 'src'],
    ]);
    expect(docs[0]?.files.map((f) => f.path)).toEqual(['SKILL.md', 'alpha.md', 'zeta.md']);
    expect(docs[0]?.files[0]?.text).toBe(FM('one'));
  });

  it('uses "." as the path of a SKILL.md at the root', async () => {
    writeTree(root, { 'SKILL.md': FM('root'), 'extra.md': 'x' });
    const { docs } = await collect(root);
    expect(docs.map((d) => [d.id, d.path])).toEqual([['src/.', '.']]);
    expect(docs[0]?.files.map((f) => f.path)).toEqual(['SKILL.md', 'extra.md']);
  });

  it('treats a nested folder with its own SKILL.md as its own skill, yielded after its parent', async () => {
    writeTree(root, {
      'outer/SKILL.md': FM('outer'),
      'outer/guide.md': 'outer guide',
      'outer/skills/inner/SKILL.md': FM('inner'),
      'outer/skills/inner/ref.md': 'inner ref',
      'outer/z-last/SKILL.md': FM('z-last'),
    });
    const { docs } = await collect(root);
    expect(docs.map((d) => d.path)).toEqual(['outer', 'outer/skills/inner', 'outer/z-last']);
    expect(docs[0]?.files.map((f) => f.path)).toEqual(['SKILL.md', 'guide.md']);
    expect(docs[1]?.files.map((f) => f.path)).toEqual(['SKILL.md', 'ref.md']);
  });

  it('yields in the same order every time, sorted by code unit (not locale)', async () => {
    writeTree(root, {
      'b/SKILL.md': FM('b'),
      'B/SKILL.md': FM('B'),
      'a/SKILL.md': FM('a'),
      'a-b/SKILL.md': FM('a-b'),
      'é/SKILL.md': FM('e'),
    });
    const first = (await collect(root)).docs.map((d) => d.path);
    const second = (await collect(root)).docs.map((d) => d.path);
    expect(first).toEqual(['B', 'a', 'a-b', 'b', 'é']);
    expect(second).toEqual(first);
  });

  it('skips node_modules, .git and other dot-folders but crawls agent folders like .claude and .agents', async () => {
    writeTree(root, {
      'node_modules/pkg/SKILL.md': FM('pkg'),
      '.git/SKILL.md': FM('git'),
      '.cache/x/SKILL.md': FM('cache'),
      '.claude/skills/c/SKILL.md': FM('c'),
      '.agents/skills/d/SKILL.md': FM('d'),
      'real/SKILL.md': FM('real'),
      'real/node_modules/dep/SKILL.md': FM('dep'),
    });
    const { docs, problems } = await collect(root);
    expect(problems).toEqual([]);
    expect(docs.map((d) => d.path)).toEqual(['.agents/skills/d', '.claude/skills/c', 'real']);
  });

  it('streams: a skill is yielded before folders further on are even listed', async () => {
    writeTree(root, { 'a/SKILL.md': FM('a'), 'm/SKILL.md': FM('m') });
    const gen = crawlDir({ root, sourceId: 'src' });
    const first = await gen.next();
    expect((first.value as SkillDoc).path).toBe('a');
    // `m` has not been listed yet, so a skill created inside it now is still found.
    writeTree(root, { 'm/late/SKILL.md': FM('late') });
    const rest: string[] = [];
    for await (const item of gen) rest.push(item.path);
    expect(rest).toEqual(['m', 'm/late']);
  });

  it('counts skill folders by the same rules without reading them', async () => {
    writeTree(root, {
      'a/SKILL.md': FM('a'),
      'a/b/SKILL.md': FM('b'),
      'node_modules/x/SKILL.md': FM('x'),
      'big/SKILL.md': 'x'.repeat(5000),
    });
    expect(await countSkillFolders(root)).toBe(3);
    const { docs } = await collect(root);
    expect(docs).toHaveLength(3);
  });
});

describe('crawlDir: decoding', () => {
  it('strips a leading BOM and turns CRLF into LF', async () => {
    writeTree(root, {
      'bom/SKILL.md': Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from('---\r\nname: bom\r\n---\r\nbody\r\n'),
      ]),
      'bom/side.md': '\uFEFFsibling\r\nline\r\n',
    });
    const { docs } = await collect(root);
    expect(docs[0]?.files).toEqual([
      { path: 'SKILL.md', text: '---\nname: bom\n---\nbody\n' },
      { path: 'side.md', text: 'sibling\nline\n' },
    ]);
  });

  it('reports a SKILL.md that is not valid UTF-8 as READ_FAILED', async () => {
    writeTree(root, { 'bad/SKILL.md': Buffer.from([0x2d, 0x2d, 0x2d, 0x0a, 0xff, 0xfe, 0x0a]) });
    const { docs, problems } = await collect(root);
    expect(docs).toEqual([]);
    expect(problems).toEqual([
      expect.objectContaining({
        path: 'bad',
        code: ERROR_CODES.READ_FAILED,
        message: expect.stringMatching(/UTF-8/),
      }),
    ]);
  });
});

describe('crawlDir: size cap', () => {
  it('reports a SKILL.md over maxFileBytes as FILE_TOO_LARGE without reading it, and goes on', async () => {
    writeTree(root, { 'huge/SKILL.md': FM('huge') + 'x'.repeat(2000), 'ok/SKILL.md': FM('ok') });
    const { docs, problems } = await collect(root, { maxFileBytes: 1000 });
    expect(docs.map((d) => d.path)).toEqual(['ok']);
    expect(problems).toEqual([
      {
        sourceId: 'src',
        path: 'huge',
        code: ERROR_CODES.FILE_TOO_LARGE,
        message: expect.stringMatching(/huge\/SKILL\.md is \d+ bytes, over the 1000-byte limit/),
        scope: 'skill',
      },
    ]);
  });

  it('leaves an oversized sibling out of the skill and reports it under its own file path first', async () => {
    writeTree(root, { 's/SKILL.md': FM('s'), 's/big.md': 'y'.repeat(2000), 's/small.md': 'fine' });
    const { all } = await collect(root, { maxFileBytes: 1000 });
    expect(all).toHaveLength(2);
    expect(all[0]).toMatchObject({ path: 's/big.md', code: ERROR_CODES.FILE_TOO_LARGE, scope: 'file' });
    expect((all[0] as CrawlProblem).message).toMatch(/indexed without it/);
    expect((all[1] as SkillDoc).files.map((f) => f.path)).toEqual(['SKILL.md', 'small.md']);
  });

  it('caps a skill as a whole: siblings past 32 files or 4 × maxFileBytes are left out and recorded', async () => {
    const many: Record<string, string> = { 'wide/SKILL.md': FM('wide') };
    for (let i = 0; i < 40; i++) many[`wide/part-${String(i).padStart(2, '0')}.md`] = `part ${i}`;
    writeTree(root, many);
    const { docs, problems } = await collect(root);
    expect(docs[0]?.files).toHaveLength(32);
    expect(problems).toHaveLength(9);
    expect(problems.every((p) => p.code === ERROR_CODES.FILE_TOO_LARGE && p.scope === 'file')).toBe(true);
    expect(problems[0]?.message).toMatch(/already has 32 files/);

    writeTree(root, {
      'heavy/SKILL.md': FM('heavy'),
      'heavy/a.md': 'a'.repeat(900),
      'heavy/b.md': 'b'.repeat(900),
      'heavy/c.md': 'c'.repeat(900),
      'heavy/d.md': 'd'.repeat(900),
      'heavy/e.md': 'e'.repeat(900),
    });
    const heavy = await collect(root, { maxFileBytes: 1000 });
    const doc = heavy.docs.find((d) => d.path === 'heavy');
    // 4 × 1000 bytes in all: SKILL.md and four 900-byte siblings fit, the fifth does not.
    expect(doc?.files.map((f) => f.path)).toEqual(['SKILL.md', 'a.md', 'b.md', 'c.md', 'd.md']);
    expect(heavy.problems.filter((p) => p.path.startsWith('heavy/')).map((p) => p.path)).toEqual([
      'heavy/e.md',
    ]);
  });

  it('caps the problems one skill reports: 10,000 siblings give 10 rows and one that carries the count', async () => {
    const many: Record<string, string> = { 'flood/SKILL.md': FM('flood') };
    for (let i = 0; i < 10_000; i++) many[`flood/part-${String(i).padStart(5, '0')}.md`] = `part ${i}`;
    writeTree(root, many);
    const { docs, problems } = await collect(root);
    expect(docs[0]?.files).toHaveLength(32);
    expect(problems).toHaveLength(MAX_SIBLING_PROBLEMS + 1);
    expect(problems.slice(0, MAX_SIBLING_PROBLEMS).every((p) => p.path.startsWith('flood/part-'))).toBe(true);
    expect(problems.at(-1)).toEqual({
      sourceId: 'src',
      path: 'flood/*',
      scope: 'file',
      code: ERROR_CODES.FILE_TOO_LARGE,
      message: expect.stringMatching(
        /^9959 more sibling files of this skill were left out \(E_FILE_TOO_LARGE\)/,
      ),
    });
  }, 60_000);

  it('applies a 1 MiB cap by default', async () => {
    writeTree(root, { 'big/SKILL.md': FM('big') + 'x'.repeat(1024 * 1024) });
    const { problems } = await collect(root);
    expect(problems).toEqual([expect.objectContaining({ code: ERROR_CODES.FILE_TOO_LARGE, path: 'big' })]);
  });
});

describe('crawlDir: symlinks', () => {
  it('reports a SKILL.md symlinked to a file outside the root as PATH_ESCAPE and never reads it', async () => {
    writeTree(dir, { 'outside/SKILL.md': FM('outside') });
    mkdirSync(join(root, 'evil'));
    symlinkSync(join(dir, 'outside', 'SKILL.md'), join(root, 'evil', 'SKILL.md'));
    const { docs, problems } = await collect(root);
    expect(docs).toEqual([]);
    expect(problems).toEqual([
      expect.objectContaining({
        path: 'evil',
        code: ERROR_CODES.PATH_ESCAPE,
        message: expect.stringMatching(/outside the source root/),
      }),
    ]);
  });

  it('reports a folder symlinked outside the root as PATH_ESCAPE and does not descend into it', async () => {
    writeTree(dir, { 'outside/skill/SKILL.md': FM('outside') });
    symlinkSync(join(dir, 'outside'), join(root, 'linked'), 'dir');
    const { docs, problems } = await collect(root);
    expect(docs).toEqual([]);
    expect(problems).toEqual([expect.objectContaining({ path: 'linked', code: ERROR_CODES.PATH_ESCAPE })]);
  });

  it('reports a sibling .md symlinked outside the root and indexes the skill without it', async () => {
    writeTree(dir, { 'secret.md': 'secret' });
    writeTree(root, { 's/SKILL.md': FM('s') });
    symlinkSync(join(dir, 'secret.md'), join(root, 's', 'leak.md'));
    const { docs, problems } = await collect(root);
    expect(problems).toEqual([expect.objectContaining({ path: 's/leak.md', code: ERROR_CODES.PATH_ESCAPE })]);
    expect(docs[0]?.files.map((f) => f.path)).toEqual(['SKILL.md']);
    expect(JSON.stringify(docs)).not.toContain('secret');
  });

  it('silently skips a folder or SKILL.md symlinked inside the root, so the target is yielded once', async () => {
    writeTree(root, { 'real/SKILL.md': FM('real') });
    symlinkSync(join(root, 'real'), join(root, 'alias'), 'dir');
    mkdirSync(join(root, 'other'));
    symlinkSync(join(root, 'real', 'SKILL.md'), join(root, 'other', 'SKILL.md'));
    const { docs, problems } = await collect(root);
    expect(problems).toEqual([]);
    expect(docs.map((d) => d.path)).toEqual(['real']);
  });

  it('crawls a root given through a symlink, keeping paths relative to its real location', async () => {
    writeTree(root, { 'a/SKILL.md': FM('a') });
    symlinkSync(root, join(dir, 'root-link'), 'dir');
    const { docs } = await collect(join(dir, 'root-link'));
    expect(docs.map((d) => d.id)).toEqual(['src/a']);
  });
});

describe('crawlDir: content hash', () => {
  it('is sha256 over each file path + NUL + text + NUL, in file order', async () => {
    writeTree(root, { 's/SKILL.md': 'main', 's/b.md': 'bee' });
    const { docs } = await collect(root);
    const expected = createHash('sha256').update('SKILL.md\0main\0b.md\0bee\0').digest('hex');
    expect(docs[0]?.contentHash).toBe(expected);
    expect(contentHash(docs[0]?.files ?? [])).toBe(expected);
  });

  it('is the same for the same content, whatever the folder or line endings, and changes with a sibling', async () => {
    writeTree(root, {
      'one/SKILL.md': FM('x'),
      'one/ref.md': 'ref\n',
      'two/SKILL.md': FM('x').replace(/\n/g, '\r\n'),
      'two/ref.md': 'ref\r\n',
      'three/SKILL.md': FM('x'),
      'three/ref.md': 'ref changed\n',
    });
    const byPath = new Map((await collect(root)).docs.map((d) => [d.path, d]));
    expect(byPath.get('one')?.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(byPath.get('two')?.contentHash).toBe(byPath.get('one')?.contentHash);
    expect(byPath.get('three')?.contentHash).not.toBe(byPath.get('one')?.contentHash);

    const before = byPath.get('one')?.contentHash;
    writeTree(root, { 'one/ref.md': 'ref edited\n' });
    const after = (await collect(root)).docs.find((d) => d.path === 'one');
    expect(after?.contentHash).not.toBe(before);
    expect(after?.id).toBe('src/one');
  });

  it('keeps framing unambiguous between a path and its text', () => {
    expect(contentHash([{ path: 'a.md', text: 'bc' }])).not.toBe(contentHash([{ path: 'a.mdb', text: 'c' }]));
  });
});

describe('crawlDir: options, root and abort', () => {
  it('throws SOURCE_FAILED when the root does not exist', async () => {
    await expect(collect(join(dir, 'nope'))).rejects.toMatchObject({
      code: ERROR_CODES.SOURCE_FAILED,
      message: expect.stringMatching(/does not exist/),
    });
  });

  it('throws SOURCE_FAILED when the root is a file', async () => {
    writeTree(dir, { 'file.txt': 'x' });
    await expect(collect(join(dir, 'file.txt'))).rejects.toMatchObject({
      code: ERROR_CODES.SOURCE_FAILED,
      message: expect.stringMatching(/is not a directory/),
    });
  });

  it.each([
    [{ maxFileBytes: 0 }, /maxFileBytes must be an integer ≥ 1 \(got 0\)/],
    [{ maxFileBytes: 1.5 }, /maxFileBytes must be an integer/],
    [{ sourceId: '' }, /sourceId must be a non-empty string \(got ""\)/],
    [{ root: '' }, /root must be a non-empty path/],
    [{ signal: 'stop' }, /signal must be an AbortSignal/],
    [{ maxBytes: 5 }, /unknown option\(s\) maxBytes/],
  ])('rejects bad option %o with BAD_OPTION naming it', async (bad, message) => {
    const err = await collect(root, bad as Partial<Parameters<typeof crawlDir>[0]>).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IndexerError);
    expect(err).toMatchObject({ code: ERROR_CODES.BAD_OPTION, message: expect.stringMatching(message) });
  });

  it('stops yielding once the signal is aborted', async () => {
    writeTree(root, { 'a/SKILL.md': FM('a'), 'b/SKILL.md': FM('b'), 'c/SKILL.md': FM('c') });
    const controller = new AbortController();
    const seen: string[] = [];
    for await (const item of crawlDir({ root, sourceId: 'src', signal: controller.signal })) {
      seen.push(item.path);
      controller.abort();
    }
    expect(seen).toEqual(['a']);
  });

  it('yields nothing when the signal is already aborted', async () => {
    writeTree(root, { 'a/SKILL.md': FM('a') });
    const { all } = await collect(root, { signal: AbortSignal.abort() });
    expect(all).toEqual([]);
  });

  // As root, permissions do not stop reads: nothing to observe there.
  it.skipIf(process.getuid?.() === 0)(
    'reports an unreadable sub-folder as READ_FAILED and goes on',
    async () => {
      writeTree(root, { 'locked/x/SKILL.md': FM('x'), 'ok/SKILL.md': FM('ok') });
      chmodSync(join(root, 'locked'), 0o000);
      try {
        const { docs, problems } = await collect(root);
        expect(docs.map((d) => d.path)).toEqual(['ok']);
        expect(problems).toEqual([
          expect.objectContaining({ path: 'locked', code: ERROR_CODES.READ_FAILED }),
        ]);
      } finally {
        chmodSync(join(root, 'locked'), 0o755);
      }
    },
  );
});
