import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawlDir } from '../src/producer/dir-source.js';
import { parseSkill } from '../src/producer/parse-skill.js';
import type { ParseResult } from '../src/producer/parse-skill.js';
import { contentHash } from '../src/shared/content-hash.js';
import { ERROR_CODES, WARNING_CODES } from '../src/shared/errors.js';
import { frontMatterSchema } from '../src/shared/front-matter.js';
import type { CrawlProblem, SkillDoc, SkillUnchanged } from '../src/shared/skill-doc.js';
import { corpusDir, sharedDir, tempDir } from './helpers.js';

const temp = tempDir('skillsmith-parse-skill-');
afterAll(() => temp.cleanup());
let fixtureCount = 0;

/**
 * Writes a skill folder `<fresh temp root>/<folder>/SKILL.md` (plus siblings) exactly as given (string or raw
 * bytes), crawls it with the real dir source and parses the one SkillDoc: the path real files take.
 */
async function parseFixture(
  skillMd: string | Buffer,
  opts: { folder?: string; siblings?: Record<string, string> } = {},
): Promise<{ doc: SkillDoc; result: ParseResult }> {
  const root = join(temp.dir, `case-${++fixtureCount}`);
  const folder = opts.folder ?? 'my-skill';
  const files: Record<string, string | Buffer> = { 'SKILL.md': skillMd, ...opts.siblings };
  for (const [name, content] of Object.entries(files)) {
    const abs = join(root, folder, name);
    mkdirSync(dirname(abs), { recursive: true });
    writeFileSync(abs, content);
  }
  const items: (SkillDoc | SkillUnchanged | CrawlProblem)[] = [];
  for await (const item of crawlDir({ root, sourceId: 'src' })) items.push(item);
  expect(items).toHaveLength(1);
  const doc = items[0] as SkillDoc;
  expect(doc.files).toBeDefined();
  return { doc, result: parseSkill(doc) };
}

function rejected(result: ParseResult): Extract<ParseResult, { ok: false }> {
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.skill)}`);
  return result;
}

function accepted(result: ParseResult): Extract<ParseResult, { ok: true }> {
  if (!result.ok) throw new Error(`expected the skill to be indexed, got ${result.code}: ${result.message}`);
  return result;
}

describe('parseSkill: well-formed skills', () => {
  it('indexes a spec-conforming skill with all its fields and no warnings', async () => {
    const { doc, result } = await parseFixture(
      [
        '---',
        'name: pdf-tools',
        'description: Extract text and tables from PDF files. Use when the user mentions PDFs.',
        'license: Apache-2.0',
        'allowed-tools: Read, Grep Bash(git status:*)',
        'metadata:',
        '  author: someone',
        '  version: "1.0"',
        'origin: elsewhere',
        '---',
        '',
        '# PDF tools',
        '',
        'Body text.',
        '',
      ].join('\n'),
    );
    const { skill, warnings } = accepted(result);
    expect(warnings).toEqual([]);
    expect(skill).toEqual({
      id: 'src/my-skill',
      sourceId: 'src',
      path: 'my-skill',
      name: 'pdf-tools',
      description: 'Extract text and tables from PDF files. Use when the user mentions PDFs.',
      license: 'Apache-2.0',
      allowedTools: ['Read', 'Grep', 'Bash(git status:*)'],
      metadata: { author: 'someone', version: '1.0' },
      frontMatter: {
        name: 'pdf-tools',
        description: 'Extract text and tables from PDF files. Use when the user mentions PDFs.',
        license: 'Apache-2.0',
        'allowed-tools': 'Read, Grep Bash(git status:*)',
        metadata: { author: 'someone', version: '1.0' },
        origin: 'elsewhere',
      },
      body: '# PDF tools\n\nBody text.\n',
      contentHash: doc.contentHash,
    });
    expect(frontMatterSchema.safeParse(skill.frontMatter).success).toBe(true);
  });

  it('accepts allowed-tools as a YAML list', async () => {
    const { result } = await parseFixture(
      '---\nname: x\ndescription: d\nallowed-tools:\n  - Read\n  - " Write "\n  - Bash(npm run *)\n---\nbody\n',
    );
    expect(accepted(result).skill.allowedTools).toEqual(['Read', 'Write', 'Bash(npm run *)']);
  });

  it("accepts '...' as the closing line of the front matter", async () => {
    const { result } = await parseFixture('---\nname: dots\ndescription: closed with dots\n...\nbody\n');
    expect(accepted(result).skill.body).toBe('body\n');
  });

  it('appends sibling .md files to the body under a file marker, in crawl order', async () => {
    const { result } = await parseFixture('---\nname: s\ndescription: d\n---\n\nmain body\n', {
      siblings: { 'zz.md': 'last file', 'aa.md': 'first file' },
    });
    expect(accepted(result).skill.body).toBe(
      'main body\n\n\n<!-- file: aa.md -->\nfirst file\n\n<!-- file: zz.md -->\nlast file',
    );
  });

  it('reads a BOM-prefixed file', async () => {
    const bytes = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from('---\nname: bom\ndescription: d\n---\nb\n'),
    ]);
    const { skill, warnings } = accepted((await parseFixture(bytes)).result);
    expect(warnings).toEqual([]);
    expect(skill.name).toBe('bom');
  });

  it('reads a CRLF file and keeps no carriage returns', async () => {
    const { result } = await parseFixture(
      '---\r\nname: crlf\r\ndescription: |\r\n  two\r\n  lines\r\n---\r\nbody\r\n',
    );
    const { skill } = accepted(result);
    expect(skill.description).toBe('two\nlines');
    expect(skill.body).toBe('body\n');
    expect(JSON.stringify(skill)).not.toContain('\\r');
  });

  it('uses YAML 1.2 core types and keeps the front matter JSON-safe', async () => {
    const { result } = await parseFixture(
      [
        '---',
        'name: types',
        'description: d',
        'enabled: yes',
        'created: 2024-01-02',
        'stamp: !!timestamp 2024-01-02T03:04:05Z',
        'ratio: .inf',
        'nothing: .nan',
        'version: 1.10',
        '__proto__: { polluted: true }',
        '---',
        'b',
      ].join('\n'),
    );
    const fm = accepted(result).skill.frontMatter;
    expect(fm['enabled']).toBe('yes');
    expect(fm['created']).toBe('2024-01-02');
    expect(typeof fm['stamp']).toBe('string');
    expect(fm['ratio']).toBe('Infinity');
    expect(fm['nothing']).toBe('NaN');
    expect(fm['version']).toBe(1.1);
    expect(JSON.parse(JSON.stringify(fm))).toEqual(fm);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('allows duplicate keys, the last one winning', async () => {
    const { result } = await parseFixture(
      '---\nname: dup\ndescription: first\ndescription: second\n---\nb\n',
    );
    expect(accepted(result).skill.description).toBe('second');
  });

  it('labels a skill at the source root as <sourceId>/SKILL.md and names it after the source', () => {
    const files = [{ path: 'SKILL.md', text: '---\ndescription: root skill\n---\nb' }];
    const result = parseSkill({
      id: 'team-skills/.',
      sourceId: 'team-skills',
      path: '.',
      files,
      contentHash: contentHash(files),
    });
    const { skill, warnings } = accepted(result);
    expect(skill.name).toBe('team-skills');
    expect(warnings[0]?.message).toMatch(/^team-skills\/SKILL\.md: /);
  });
});

describe('parseSkill: rejected skills', () => {
  it('rejects a file without front matter as NO_FRONT_MATTER with the fix in the message', async () => {
    const { result } = await parseFixture('# Just a title\n\nSome text.\n');
    expect(rejected(result)).toEqual({
      ok: false,
      code: ERROR_CODES.NO_FRONT_MATTER,
      message:
        "src/my-skill/SKILL.md has no YAML front matter: it must start with a line '---', then name/description, then '---'",
    });
  });

  it("rejects an opening '---' that is never closed, pointing at line 1", async () => {
    const { result } = await parseFixture('---\nname: open\ndescription: never closed\n\n# Body\n\ntext\n');
    const r = rejected(result);
    expect(r.code).toBe(ERROR_CODES.NO_FRONT_MATTER);
    expect(r.line).toBe(1);
    expect(r.message).toMatch(/^src\/my-skill\/SKILL\.md line 1: .*never closed.*first blank line is line 4/);
  });

  it('rejects pseudo front matter written as Markdown, saying which line looks like a field', async () => {
    const { result } = await parseFixture(
      '# Sample\n\n---\n\n**Name**: sample-skill\n**Tier**: BASIC\n\n---\n\nBody\n',
    );
    const r = rejected(result);
    expect(r.code).toBe(ERROR_CODES.NO_FRONT_MATTER);
    expect(r.message).toMatch(
      /line 5 looks like a 'name:' field, but fields only count in a '---' block that starts on line 1/,
    );
  });

  it("rejects '### Name:' headings as front matter", async () => {
    const { result } = await parseFixture('### Name: tutor\n\n**Description:** helps\n');
    expect(rejected(result).message).toMatch(/line 1 looks like a 'name:' field/);
  });

  it('rejects front matter that does not start on line 1, saying so', async () => {
    const { result } = await parseFixture('\n\n---\nname: late\ndescription: d\n---\n');
    const r = rejected(result);
    expect(r.code).toBe(ERROR_CODES.NO_FRONT_MATTER);
    expect(r.message).toMatch(/the '---' on line 3 must be the very first line/);
  });

  it('rejects a BOM + CRLF file without front matter as NO_FRONT_MATTER', async () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('# Title\r\n\r\ntext\r\n')]);
    expect(rejected((await parseFixture(bytes)).result).code).toBe(ERROR_CODES.NO_FRONT_MATTER);
  });

  it("rejects an unquoted ': ' in a value as INVALID_YAML with the SKILL.md line and a quoting hint", async () => {
    const { result } = await parseFixture(
      '---\nname: host-ping\ndescription: Detect if a host (IP: 39.106.7.8) is up\n---\nbody\n',
    );
    const r = rejected(result);
    expect(r.code).toBe(ERROR_CODES.INVALID_YAML);
    expect(r.line).toBe(3);
    expect(r.message).toMatch(/^src\/my-skill\/SKILL\.md line 3: invalid YAML front matter: /);
    expect(r.message).toMatch(
      /Hint: the value of 'description' contains ': ' \(column 34\).*quote the value/,
    );
    expect(r.message).toContain('description: "Detect if a host (IP: 39.106.7.8) is up"');
  });

  it('rejects other YAML errors with the line but without the quoting hint', async () => {
    const { result } = await parseFixture(
      '---\nname: x\ndescription: "unterminated\nlicense: MIT\n---\nbody\n',
    );
    const r = rejected(result);
    expect(r.code).toBe(ERROR_CODES.INVALID_YAML);
    expect(r.line).toBeGreaterThanOrEqual(3);
    expect(r.message).not.toMatch(/Hint/);
  });

  it('rejects a YAML alias bomb instead of expanding it', async () => {
    const lines = ['---', 'a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 8; i++) {
      const prev = String.fromCharCode(97 + i);
      const next = String.fromCharCode(98 + i);
      lines.push(
        `${next}: &${next} [*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev}]`,
      );
    }
    lines.push('description: boom', '---', 'b');
    expect(rejected((await parseFixture(lines.join('\n'))).result).code).toBe(ERROR_CODES.INVALID_YAML);
  });

  it.each([
    ['a list', '- name: x\n- description: y'],
    ['a single string value', 'just a sentence'],
  ])('rejects front matter that is %s as FRONT_MATTER_NOT_MAPPING', async (kind, yaml) => {
    const r = rejected((await parseFixture(`---\n${yaml}\n---\nbody\n`)).result);
    expect(r.code).toBe(ERROR_CODES.FRONT_MATTER_NOT_MAPPING);
    expect(r.message).toContain(kind);
    expect(r.message).toMatch(/^src\/my-skill\/SKILL\.md line 2: /);
  });

  it.each([
    ['missing', '---\nname: x\n---\nb\n', /has no 'description'/, undefined],
    ['empty', '---\nname: x\ndescription: "  "\n---\nb\n', /has an empty 'description'/, 3],
    ['null', '---\nname: x\ndescription:\n---\nb\n', /has an empty 'description'/, 3],
    ['a number', '---\nname: x\ndescription: 42\n---\nb\n', /is a number \(42\), not text \(quote it\)/, 3],
    ['a list', '---\nname: x\ndescription: [a, b]\n---\nb\n', /is a list, not text/, 3],
    ['in an empty block', '---\n---\nb\n', /has no 'description'/, undefined],
  ])('rejects a description that is %s as MISSING_DESCRIPTION', async (_kind, text, message, line) => {
    const r = rejected((await parseFixture(text)).result);
    expect(r.code).toBe(ERROR_CODES.MISSING_DESCRIPTION);
    expect(r.message).toMatch(message);
    expect(r.message).toMatch(/add 'description: /);
    expect(r.line).toBe(line);
  });

  it('rejects a SkillDoc without a SKILL.md file as READ_FAILED', () => {
    const files = [{ path: 'other.md', text: 'x' }];
    const r = rejected(
      parseSkill({ id: 's/a', sourceId: 's', path: 'a', files, contentHash: contentHash(files) }),
    );
    expect(r.code).toBe(ERROR_CODES.READ_FAILED);
  });
});

describe('parseSkill: indexed with warnings', () => {
  it('indexes a skill without name under its folder name, warning MISSING_NAME', async () => {
    const { result } = await parseFixture('---\ndescription: no name here\n---\nbody\n', {
      folder: 'make-cl',
    });
    const { skill, warnings } = accepted(result);
    expect(skill.name).toBe('make-cl');
    expect(warnings).toEqual([
      {
        code: WARNING_CODES.MISSING_NAME,
        message: expect.stringMatching(/^src\/make-cl\/SKILL\.md: .*no 'name'.*folder name "make-cl"/),
      },
    ]);
  });

  it.each([
    ['uppercase and spaces', 'PDF Tools'],
    ['a trailing hyphen', 'pdf-'],
    ['a double hyphen', 'pdf--tools'],
    ['65 characters', 'a'.repeat(65)],
  ])('keeps a name with %s as written, warning INVALID_NAME with its line', async (_kind, name) => {
    const { result } = await parseFixture(`---\ndescription: d\nname: "${name}"\n---\nb\n`);
    const { skill, warnings } = accepted(result);
    expect(skill.name).toBe(name);
    expect(warnings.map((w) => w.code)).toEqual([WARNING_CODES.INVALID_NAME]);
    expect(warnings[0]?.message).toMatch(/^src\/my-skill\/SKILL\.md line 3: 'name' /);
  });

  it('indexes a numeric name as text, warning BAD_FIELD_TYPE', async () => {
    const { skill, warnings } = accepted(
      (await parseFixture('---\nname: 2048\ndescription: d\n---\nb\n')).result,
    );
    expect(skill.name).toBe('2048');
    expect(warnings.map((w) => w.code)).toEqual([WARNING_CODES.BAD_FIELD_TYPE]);
  });

  it('warns LONG_DESCRIPTION over 1024 characters and keeps the description in full', async () => {
    const long = 'word '.repeat(300).trim();
    const { skill, warnings } = accepted(
      (await parseFixture(`---\nname: long\ndescription: ${long}\n---\nb\n`)).result,
    );
    expect(skill.description).toBe(long);
    expect(warnings).toEqual([
      {
        code: WARNING_CODES.LONG_DESCRIPTION,
        message: expect.stringMatching(/line 3: 'description' is 1499 characters/),
      },
    ]);
  });

  it('warns BAD_FIELD_TYPE for license, allowed-tools and metadata of the wrong type, keeping them in frontMatter', async () => {
    const { result } = await parseFixture(
      '---\nname: typed\ndescription: d\nlicense: 3\nallowed-tools: { Read: true }\nmetadata: just text\n---\nb\n',
    );
    const { skill, warnings } = accepted(result);
    expect([skill.license, skill.allowedTools, skill.metadata]).toEqual([null, null, null]);
    expect(skill.frontMatter).toMatchObject({
      license: 3,
      'allowed-tools': { Read: true },
      metadata: 'just text',
    });
    expect(warnings.map((w) => [w.code, w.message.match(/line \d+: '[a-z-]+'/)?.[0]])).toEqual([
      [WARNING_CODES.BAD_FIELD_TYPE, "line 4: 'license'"],
      [WARNING_CODES.BAD_FIELD_TYPE, "line 5: 'allowed-tools'"],
      [WARNING_CODES.BAD_FIELD_TYPE, "line 6: 'metadata'"],
    ]);
  });
});

/** Paths listed under a `**Heading**` in STATS.md. */
function statsList(stats: string, heading: string): string[] {
  const start = stats.indexOf(`**${heading}**`);
  if (start < 0) throw new Error(`STATS.md has no section "${heading}"`);
  const section = stats.slice(start).split('\n\n')[1] ?? '';
  return [...section.matchAll(/^- `([^`]+)`/gm)].map((m) => m[1] as string);
}

describe.skipIf(!existsSync(corpusDir))('crawling and parsing the real corpus', () => {
  const outcome = new Map<string, ParseResult>();
  const problems: CrawlProblem[] = [];
  let files = 0;
  let stats = '';

  beforeAll(async () => {
    stats = readFileSync(join(sharedDir, 'corpus', 'STATS.md'), 'utf8');
    for await (const item of crawlDir({ root: corpusDir, sourceId: 'corpus' })) {
      if ('files' in item) {
        files += item.files.length;
        outcome.set(item.path, parseSkill(item));
      } else if ('code' in item) problems.push(item);
    }
  });

  it('sees all 1467 skills and 1723 files with no crawl problems', () => {
    expect(problems).toEqual([]);
    expect(outcome.size).toBe(1467);
    expect(files).toBe(1723);
  });

  it('ends every skill in exactly one of indexed / indexed with warnings / rejected with a reason', () => {
    const buckets = { indexed: 0, warned: 0, rejected: 0 };
    for (const r of outcome.values()) {
      if (!r.ok) {
        expect(Object.values(ERROR_CODES)).toContain(r.code);
        expect(r.message).toMatch(/SKILL\.md/);
        buckets.rejected++;
      } else if (r.warnings.length > 0) buckets.warned++;
      else buckets.indexed++;
    }
    expect(buckets.indexed + buckets.warned + buckets.rejected).toBe(1467);
  });

  it.each([
    ['No front matter', ERROR_CODES.NO_FRONT_MATTER, 30],
    ['Invalid YAML front matter', ERROR_CODES.INVALID_YAML, 24],
    ['Valid front matter, missing description', ERROR_CODES.MISSING_DESCRIPTION, 2],
  ])('rejects every skill listed under "%s" with %s', (heading, code, count) => {
    const paths = statsList(stats, heading);
    expect(paths).toHaveLength(count);
    for (const p of paths) {
      const r = outcome.get(p);
      expect(r, p).toBeDefined();
      expect(r?.ok ? 'indexed' : r?.code, p).toBe(code);
    }
  });

  it('gives the quoting hint for every invalid-YAML skill (all are the unquoted ": " case)', () => {
    for (const p of statsList(stats, 'Invalid YAML front matter')) {
      const r = outcome.get(p);
      expect(r?.ok === false ? r.message : '', p).toMatch(/quote the value/);
    }
  });

  it('rejects nothing beyond the skills STATS.md lists as bad', () => {
    const expected = new Set([
      ...statsList(stats, 'No front matter'),
      ...statsList(stats, 'Invalid YAML front matter'),
      ...statsList(stats, 'Valid front matter, missing description'),
    ]);
    const rejectedPaths = [...outcome].filter(([, r]) => !r.ok).map(([p]) => p);
    expect(new Set(rejectedPaths)).toEqual(expected);
  });

  it('indexes the 7 skills without name under their folder name, with a MISSING_NAME warning', () => {
    const paths = statsList(stats, 'Valid front matter, missing name');
    expect(paths).toHaveLength(7);
    for (const p of paths) {
      const r = outcome.get(p);
      expect(r?.ok, p).toBe(true);
      if (!r?.ok) continue;
      expect(r.warnings.map((w) => w.code)).toContain(WARNING_CODES.MISSING_NAME);
      expect(r.skill.name).toBe(p.split('/').pop());
    }
  });

  it('indexes the BOM and CRLF skills that have front matter', () => {
    const noFrontMatter = new Set(statsList(stats, 'No front matter'));
    const paths = [...statsList(stats, 'UTF-8 BOM'), ...statsList(stats, 'CRLF line endings')];
    expect(paths.length).toBe(23);
    for (const p of paths.filter((x) => !noFrontMatter.has(x))) expect(outcome.get(p)?.ok, p).toBe(true);
  });

  it('gives the byte-identical pair the same content hash', async () => {
    const pair = [
      'openclaw__skills/skills/shashwatgtm/content-writing-thought-leadership',
      'openclaw__skills/skills/shashwatgtm/social-media-management',
    ];
    const hashes = pair.map((p) => {
      const r = outcome.get(p);
      return r?.ok ? r.skill.contentHash : undefined;
    });
    expect(hashes[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(hashes[1]).toBe(hashes[0]);
  });

  it('keeps warning-free front matter valid against the strict front matter schema', () => {
    for (const [p, r] of outcome) {
      if (r.ok && r.warnings.length === 0)
        expect(frontMatterSchema.safeParse(r.skill.frontMatter).success, p).toBe(true);
    }
  });
});
