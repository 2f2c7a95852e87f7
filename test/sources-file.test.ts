import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { globFilter } from '../src/stages/glob-filter.js';
import { parseSourceArg } from '../src/producer/source-arg.js';
import { loadSourcesFile } from '../src/producer/sources-file.js';
import { redactUrl } from '../src/shared/redact.js';
import { repoRoot, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function file(name: string, text: string): string {
  const p = join(tmp.dir, name);
  writeFileSync(p, text);
  return p;
}

describe('sources file', () => {
  it('reads YAML and JSON, resolving folder locations against the file', () => {
    const yaml = file(
      'ok.yaml',
      `sources:
  - id: local
    kind: dir
    location: ./skills
    include: ["skills/**"]
    trust: internal
  - id: anthropic
    kind: github
    location: github:anthropics/skills
    ref: main
`,
    );
    const specs = loadSourcesFile(yaml);
    expect(specs).toEqual([
      {
        id: 'local',
        kind: 'dir',
        location: join(tmp.dir, 'skills'),
        include: ['skills/**'],
        trust: 'internal',
      },
      { id: 'anthropic', kind: 'github', location: 'github:anthropics/skills', ref: 'main' },
    ]);
    const json = file(
      'ok.json',
      JSON.stringify([{ id: 'g', kind: 'git', location: 'file:///srv/repo.git' }]),
    );
    expect(loadSourcesFile(json)).toEqual([{ id: 'g', kind: 'git', location: 'file:///srv/repo.git' }]);
  });

  it('accepts the example sources file shipped in ops/', () => {
    const specs = loadSourcesFile(join(repoRoot, 'ops', 'skillsmith.sources.example.yaml'));
    expect(specs.map((s) => `${s.id}:${s.kind}`)).toEqual([
      'anthropic:github',
      'obra:github',
      'team:git',
      'local:dir',
    ]);
    expect(specs.map((s) => parseSourceArg(s.location).kind).slice(0, 3)).toEqual([
      'github',
      'github',
      'git',
    ]);
  });

  it('names the file, the entry and the field of a bad entry', () => {
    const bad = file(
      'bad.yaml',
      'sources:\n  - id: a\n    kind: dir\n    location: x\n  - id: docs\n    kind: svn\n    location: y\n',
    );
    expect(() => loadSourcesFile(bad)).toThrow(/bad\.yaml: sources\[1\] \(id "docs"\) kind: /);
    const badId = file('bad-id.yaml', 'sources:\n  - id: "has space"\n    kind: dir\n    location: x\n');
    expect(() => loadSourcesFile(badId)).toThrow(/sources\[0\] \(id "has space"\) id: must be letters/);
    const unknown = file(
      'unknown.yaml',
      'sources:\n  - id: a\n    kind: dir\n    location: x\n    branch: main\n',
    );
    expect(() => loadSourcesFile(unknown)).toThrow(/sources\[0\] \(id "a"\).*branch/);
    const twice = file(
      'twice.yaml',
      'sources:\n  - {id: a, kind: dir, location: x}\n  - {id: a, kind: dir, location: y}\n',
    );
    expect(() => loadSourcesFile(twice)).toThrow(/sources\[1\] id: "a" is used twice/);
    expect(() => loadSourcesFile(file('broken.yaml', 'sources: [\n'))).toThrow(
      /broken\.yaml: not valid YAML/,
    );
    expect(() => loadSourcesFile(join(tmp.dir, 'missing.yaml'))).toThrow(/missing\.yaml: cannot read it/);
  });
});

describe('sources on the command line', () => {
  it('tells folders, git URLs and GitHub sources apart, with stable ids', () => {
    expect(parseSourceArg('github:anthropics/skills')).toMatchObject({
      id: 'anthropics__skills',
      kind: 'github',
    });
    expect(parseSourceArg('github:anthropics/skills/skills@v1')).toMatchObject({ id: 'anthropics__skills' });
    expect(parseSourceArg('github:obra')).toMatchObject({ id: 'obra', kind: 'github' });
    expect(parseSourceArg('git+https://example.com/team/skills.git')).toMatchObject({
      id: 'skills',
      kind: 'git',
    });
    expect(parseSourceArg('git@github.com:obra/superpowers.git')).toMatchObject({
      id: 'superpowers',
      kind: 'git',
    });
    expect(parseSourceArg('file:///srv/repos/tools')).toMatchObject({ id: 'tools', kind: 'git' });
    expect(parseSourceArg('./some dir')).toMatchObject({ id: 'some-dir', kind: 'dir' });
    expect(() => parseSourceArg('github:')).toThrow(/nothing after the colon/);
  });

  it('never keeps credentials in a location it shows or stores', () => {
    expect(redactUrl('https://user:ghp_secret@example.com/x.git')).toBe('https://***@example.com/x.git');
    expect(redactUrl('https://example.com/x?access_token=abc&y=1')).toBe(
      'https://example.com/x?access_token=***&y=1',
    );
    expect(redactUrl('git@github.com:o/r.git')).toBe('git@github.com:o/r.git');
    expect(redactUrl('deploy:SECRETTOKEN98@git.example.com:team/skills.git')).toBe(
      '***@git.example.com:team/skills.git',
    );
    expect(redactUrl('cannot read https://u:p/w@rd@host/x.git: 401')).toBe(
      'cannot read https://***@host/x.git: 401',
    );
    expect(redactUrl('https://host/api?private_token=abc')).toBe('https://host/api?private_token=***');
    expect(redactUrl('/srv/skills/a:b@c')).toBe('/srv/skills/a:b@c');
  });
});

describe('include and exclude globs', () => {
  it('keeps included folders and drops excluded ones, exclude winning', () => {
    const f = globFilter(['skills/**'], ['skills/legacy/**']);
    expect(f('skills/pdf')).toBe(true);
    expect(f('skills/legacy/old')).toBe(false);
    expect(f('docs/x')).toBe(false);
    expect(globFilter()('anything')).toBe(true);
    expect(globFilter(undefined, ['.claude/**'])('.claude/skills/a')).toBe(false);
  });
});
