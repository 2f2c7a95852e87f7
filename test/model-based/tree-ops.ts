import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Prng } from './prng.js';

/** The source kinds the walk drives: a folder on disk, or the committed tree of a git repository. */
export type WalkKind = 'dir' | 'git';

/**
 * A real tree the walk changes step by step: the source root (`dir`) or the work tree of the repository the
 * source reads (`git`, as `file://<root>`). `outside` is a folder next to it that symlinks point into.
 */
export interface Tree {
  kind: WalkKind;
  root: string;
  outside: string;
  /** Files spoiled by an op, with the bytes to put back (unreadable, broken YAML). */
  spoiled: Map<string, { bytes: Buffer; how: 'unreadable' | 'yaml' }>;
  /** Monotonic counter for new names (so names never depend on wall time). */
  serial: number;
  /** Branch the work tree is on (git). */
  branch: string;
}

const asRoot = process.getuid?.() === 0;
/** Marker word in every generated body: full-text hits on it must be exactly the live skills. */
export const BODY_MARKER = 'walkbody';

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'walk',
  GIT_AUTHOR_EMAIL: 'walk@example.invalid',
  GIT_COMMITTER_NAME: 'walk',
  GIT_COMMITTER_EMAIL: 'walk@example.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'core.hooksPath=/dev/null', ...args], {
    cwd,
    env: GIT_ENV,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function skillText(name: string, description: string, body: string): string {
  return `---\nname: ${name}\ndescription: ${description}\n---\n# ${name}\n\n${body} ${BODY_MARKER}\n`;
}

/** Creates the starting tree: a few skills, some with sibling files, one nested below another. */
export function createTree(kind: WalkKind, base: string, rng: Prng): Tree {
  const tree: Tree = {
    kind,
    root: join(base, 'tree'),
    outside: join(base, 'outside'),
    spoiled: new Map(),
    serial: 0,
    branch: 'main',
  };
  mkdirSync(tree.root, { recursive: true });
  mkdirSync(tree.outside, { recursive: true });
  writeFileSync(join(tree.outside, 'SKILL.md'), skillText('outsider', 'lives outside the root', 'secret'));
  writeFileSync(join(tree.outside, 'notes.md'), 'outside notes\n');
  for (let i = 0; i < 4; i++) addSkill(tree, rng);
  if (kind === 'git') {
    git(tree.root, 'init', '-q');
    // A force-push from elsewhere may replace the checked-out branch, as a push to a server would.
    git(tree.root, 'config', 'receive.denyCurrentBranch', 'updateInstead');
    commit(tree, 'initial');
  }
  return tree;
}

/** Every folder holding a `SKILL.md` entry of any type (symlinks included), `.git` skipped. */
export function skillFolders(tree: Tree): string[] {
  const out: string[] = [];
  const visit = (rel: string): void => {
    const abs = join(tree.root, rel);
    let entries;
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch {
      return;
    }
    if (entries.some((e) => e.name === 'SKILL.md')) out.push(rel);
    for (const e of entries)
      if (e.isDirectory() && e.name !== '.git') visit(rel ? `${rel}/${e.name}` : e.name);
  };
  visit('');
  return out.filter((f) => f !== '').sort();
}

/** Skill folders whose SKILL.md is a regular file that no op has spoiled. */
function plainSkills(tree: Tree): string[] {
  return skillFolders(tree).filter((f) => {
    const p = join(tree.root, f, 'SKILL.md');
    return lstatSync(p).isFile() && !tree.spoiled.has(p);
  });
}

function newName(tree: Tree, rng: Prng): string {
  tree.serial++;
  return `${rng.pick(['pdf', 'deploy', 'review', 'search', 'audio'])}-${tree.serial}`;
}

function addSkill(tree: Tree, rng: Prng): string {
  const name = newName(tree, rng);
  const existing = skillFolders(tree);
  // Mostly under a category folder; sometimes nested inside another skill (a skill of its own).
  const parent =
    existing.length > 0 && rng.chance(0.15) ? rng.pick(existing) : rng.pick(['skills', 'tools', 'team/ops']);
  const rel = `${parent}/${name}`;
  mkdirSync(join(tree.root, rel), { recursive: true });
  writeFileSync(join(tree.root, rel, 'SKILL.md'), skillText(name, rng.words(6), rng.words(20)));
  if (rng.chance(0.4)) writeFileSync(join(tree.root, rel, 'reference.md'), `${rng.words(15)}\n`);
  return `add ${rel}`;
}

function editSkill(tree: Tree, rng: Prng, part: 'body' | 'description'): string {
  const skills = plainSkills(tree);
  if (skills.length === 0) return addSkill(tree, rng);
  const rel = rng.pick(skills);
  const file = join(tree.root, rel, 'SKILL.md');
  const text = readFileSync(file, 'utf8');
  const next =
    part === 'description'
      ? text.replace(/^description: .*$/m, `description: ${rng.words(6)}`)
      : text.replace(/\n# ([^\n]*)\n\n[\s\S]*$/, `\n# $1\n\n${rng.words(20)} ${BODY_MARKER}\n`);
  writeFileSync(file, next);
  return `${part} ${rel}`;
}

function editSibling(tree: Tree, rng: Prng): string {
  const skills = plainSkills(tree);
  if (skills.length === 0) return addSkill(tree, rng);
  const rel = rng.pick(skills);
  const file = join(tree.root, rel, rng.pick(['reference.md', 'notes.md']));
  if (existsSync(file) && !lstatSync(file).isFile()) rmSync(file);
  if (tree.spoiled.has(file)) tree.spoiled.delete(file);
  chmodIfExists(file, 0o644);
  writeFileSync(file, `${rng.words(15)}\n`);
  return `sibling ${file.slice(tree.root.length + 1)}`;
}

function chmodIfExists(file: string, mode: number): void {
  if (existsSync(file) && lstatSync(file).isFile()) chmodSync(file, mode);
}

function touch(tree: Tree, rng: Prng): string {
  const skills = skillFolders(tree);
  const all = rng.chance(0.3);
  const targets = all ? skills : skills.length > 0 ? [rng.pick(skills)] : [];
  const when = new Date(Date.UTC(2030, 0, 1) + tree.serial++ * 1000);
  for (const rel of targets) {
    for (const e of readdirSync(join(tree.root, rel), { withFileTypes: true })) {
      if (e.isFile()) utimesSync(join(tree.root, rel, e.name), when, when);
    }
  }
  return all ? 'touch all' : `touch ${targets[0] ?? '-'}`;
}

/** `cp -r` the tree away and back: every file gets a new inode and mtime, the bytes stay. */
function rewriteTree(tree: Tree): string {
  const copy = `${tree.root}.copy`;
  cpSync(tree.root, copy, { recursive: true, verbatimSymlinks: true });
  rmSync(tree.root, { recursive: true, force: true });
  renameSync(copy, tree.root);
  return 'rewrite tree (same bytes, new inodes)';
}

function moveSkill(tree: Tree, rng: Prng): string {
  const skills = skillFolders(tree);
  if (skills.length === 0) return addSkill(tree, rng);
  const rel = rng.pick(skills);
  const to = `${rng.pick(['skills', 'moved', 'tools/sub'])}/${newName(tree, rng)}`;
  mkdirSync(dirname(join(tree.root, to)), { recursive: true });
  renameSync(join(tree.root, rel), join(tree.root, to));
  rekeySpoiled(tree, join(tree.root, rel), join(tree.root, to));
  return `move ${rel} -> ${to}`;
}

function rekeySpoiled(tree: Tree, from: string, to: string): void {
  for (const [p, v] of [...tree.spoiled]) {
    if (p.startsWith(`${from}/`)) {
      tree.spoiled.delete(p);
      tree.spoiled.set(to + p.slice(from.length), v);
    }
  }
}

function deleteSkill(tree: Tree, rng: Prng): string {
  const skills = skillFolders(tree);
  if (skills.length <= 1) return addSkill(tree, rng);
  const rel = rng.pick(skills);
  rmSync(join(tree.root, rel), { recursive: true, force: true });
  for (const p of [...tree.spoiled.keys()])
    if (p.startsWith(join(tree.root, rel) + '/')) tree.spoiled.delete(p);
  return `delete ${rel}`;
}

/** Puts a spoiled file back, or spoils one. */
function toggleSpoil(tree: Tree, rng: Prng, how: 'unreadable' | 'yaml'): string {
  const mine = [...tree.spoiled].filter(([p, v]) => v.how === how && existsSync(p));
  if (mine.length > 0 && rng.chance(0.5)) {
    const [file, { bytes }] = rng.pick(mine);
    chmodIfExists(file, 0o644);
    if (lstatSync(file).isFile()) writeFileSync(file, bytes);
    tree.spoiled.delete(file);
    return `${how === 'yaml' ? 'fix yaml' : 'readable again'} ${file.slice(tree.root.length + 1)}`;
  }
  const skills = plainSkills(tree);
  if (skills.length === 0) return addSkill(tree, rng);
  const rel = rng.pick(skills);
  const candidates = readdirSync(join(tree.root, rel), { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.md'))
    .map((e) => join(tree.root, rel, e.name))
    .filter((p) => !tree.spoiled.has(p));
  const file = how === 'yaml' ? join(tree.root, rel, 'SKILL.md') : rng.pick(candidates);
  const bytes = readFileSync(file);
  tree.spoiled.set(file, { bytes, how });
  if (how === 'yaml') {
    writeFileSync(file, bytes.toString('utf8').replace(/^description: /m, 'description: [unclosed, '));
  } else if (asRoot || tree.kind === 'git') {
    // Root reads anything, and git stores no read bits: an undecodable file is what "cannot be read" is then.
    writeFileSync(file, Buffer.concat([bytes, Buffer.from([0xff, 0xfe, 0x0a])]));
  } else {
    chmodSync(file, 0o000);
  }
  return `${how === 'yaml' ? 'break yaml' : 'unreadable'} ${file.slice(tree.root.length + 1)}`;
}

/** Replaces a SKILL.md, a sibling or a whole skill folder with a symlink out of the root. */
function symlinkOut(tree: Tree, rng: Prng): string {
  const skills = skillFolders(tree);
  if (skills.length === 0) return addSkill(tree, rng);
  const rel = rng.pick(skills);
  const what = rng.pick(['SKILL.md', 'reference.md', '.'] as const);
  const target = join(tree.root, rel, what === '.' ? '' : what).replace(/\/$/, '');
  rmSync(target, { recursive: true, force: true });
  for (const p of [...tree.spoiled.keys()])
    if (p === target || p.startsWith(`${target}/`)) tree.spoiled.delete(p);
  symlinkSync(
    what === '.' ? tree.outside : join(tree.outside, what === 'SKILL.md' ? 'SKILL.md' : 'notes.md'),
    target,
  );
  return `symlink out ${rel}/${what}`;
}

function duplicate(tree: Tree, rng: Prng): string {
  const skills = plainSkills(tree);
  if (skills.length === 0) return addSkill(tree, rng);
  const rel = rng.pick(skills);
  const to = `copies/${newName(tree, rng)}`;
  mkdirSync(join(tree.root, to), { recursive: true });
  for (const e of readdirSync(join(tree.root, rel), { withFileTypes: true })) {
    if (e.isFile()) cpSync(join(tree.root, rel, e.name), join(tree.root, to, e.name));
  }
  for (const p of [...tree.spoiled.keys()])
    if (p.startsWith(join(tree.root, to) + '/')) tree.spoiled.delete(p);
  return `duplicate ${rel} -> ${to}`;
}

/** The file operations, the same for both kinds (git commits after each). */
const FILE_OPS: readonly [string, (t: Tree, r: Prng) => string][] = [
  ['add', addSkill],
  ['body', (t, r) => editSkill(t, r, 'body')],
  ['description', (t, r) => editSkill(t, r, 'description')],
  ['sibling', editSibling],
  ['touch', touch],
  ['rewrite', (t) => rewriteTree(t)],
  ['move', moveSkill],
  ['delete', deleteSkill],
  ['unreadable', (t, r) => toggleSpoil(t, r, 'unreadable')],
  ['yaml', (t, r) => toggleSpoil(t, r, 'yaml')],
  ['symlink', symlinkOut],
  ['duplicate', duplicate],
];

function commit(tree: Tree, message: string, amend = false): void {
  git(tree.root, 'add', '-A');
  git(
    tree.root,
    'commit',
    '-q',
    '--allow-empty',
    '--no-verify',
    '-m',
    message,
    ...(amend ? ['--amend'] : []),
  );
}

function commits(tree: Tree): number {
  return Number(git(tree.root, 'rev-list', '--count', 'HEAD').trim());
}

/** The git-only operations: history changes the indexer must follow. */
function gitOp(tree: Tree, rng: Prng): string {
  const op = rng.pick(['amend', 'reset', 'unrelated', 'branch', 'non-skill'] as const);
  switch (op) {
    case 'amend': {
      const what = rng.pick(FILE_OPS)[1](tree, rng);
      commit(tree, 'amended', true);
      return `amend (${what})`;
    }
    case 'reset':
      if (commits(tree) < 2) return gitOp(tree, rng);
      git(tree.root, 'reset', '-q', '--hard', 'HEAD~1');
      tree.spoiled.clear(); // whatever was spoiled may be gone; spoiled files are found again by content
      return 'reset --hard HEAD~1';
    case 'unrelated': {
      // Another repository with its own history, force-pushed over the branch checked out here.
      const other = `${tree.root}.other`;
      rmSync(other, { recursive: true, force: true });
      mkdirSync(other);
      git(other, 'init', '-q');
      const drawn = skillFolders(tree).filter(() => rng.chance(0.5));
      // A folder nested in another kept one is copied with it. Copied again, cpSync meets its own symlinks
      // already there and throws EINVAL ("to a subdirectory of self"): soak seed 7000, git.
      const keep = drawn.filter((rel) => !drawn.some((o) => rel.startsWith(`${o}/`)));
      for (const rel of keep)
        cpSync(join(tree.root, rel), join(other, rel), { recursive: true, verbatimSymlinks: true });
      const scratch: Tree = { ...tree, root: other, spoiled: new Map() };
      addSkill(scratch, rng);
      tree.serial = scratch.serial;
      git(other, 'add', '-A');
      git(other, 'commit', '-q', '-m', 'unrelated');
      git(other, 'push', '-q', '-f', tree.root, `HEAD:${tree.branch}`);
      rmSync(other, { recursive: true, force: true });
      tree.spoiled.clear();
      return `force-push unrelated history (kept ${keep.length})`;
    }
    case 'branch': {
      if (tree.branch === 'main') {
        tree.branch = `other-${tree.serial++}`;
        git(tree.root, 'checkout', '-q', '-b', tree.branch);
        const what = rng.pick(FILE_OPS)[1](tree, rng);
        commit(tree, 'on a branch');
        return `checkout -b ${tree.branch} (${what})`;
      }
      tree.branch = 'main';
      git(tree.root, 'checkout', '-q', '-f', 'main');
      git(tree.root, 'clean', '-q', '-fdx');
      tree.spoiled.clear();
      return 'checkout main';
    }
    case 'non-skill':
      writeFileSync(join(tree.root, 'README.txt'), `${rng.words(5)}\n`);
      mkdirSync(join(tree.root, 'scripts'), { recursive: true });
      writeFileSync(join(tree.root, 'scripts', 'run.py'), `print("${rng.words(3)}")\n`);
      commit(tree, 'not about skills');
      return 'commit of non-skill files';
  }
}

/** Draws one operation and applies it to the tree; returns what it did (for the replay log). */
export function applyRandomOp(tree: Tree, rng: Prng): string {
  if (tree.kind === 'git' && rng.chance(0.35)) return gitOp(tree, rng);
  const [, op] = rng.pick(FILE_OPS);
  const what = op(tree, rng);
  if (tree.kind === 'git') commit(tree, what);
  return what;
}
