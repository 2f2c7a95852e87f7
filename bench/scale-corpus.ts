/**
 * The 20× corpus of the scale section: `copies` full copies of a corpus folder, each with every skill's name and
 * description perturbed by a word of its own (copy 3 → `-delta` on the name, ` delta` at the end of the
 * description), so that no text of one copy equals a text of another and nothing dedups: the run embeds
 * about `copies` × the distinct texts of the corpus, which symlinked copies (the 10× section) would not.
 *
 * Deterministic: the same corpus gives the same copies. A skill folder whose name equals the skill's name is
 * renamed with it, so the spec's folder-match warning fires exactly where it fires in the original corpus.
 */
import type { Dirent } from 'node:fs';
import { execFileSync } from 'node:child_process';
// Sync fs on purpose: ~1,500 small files per copy, and a thread-pool round trip per call costs more than the call.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, parseDocument } from 'yaml';
import type { BenchSource } from './child.js';

/** One word per copy: short, one token each for the model, and not words skills are searched for. */
const COPY_WORDS = [
  'alfa',
  'bravo',
  'charlie',
  'delta',
  'echo',
  'foxtrot',
  'golf',
  'hotel',
  'india',
  'juliett',
  'kilo',
  'lima',
  'mike',
  'november',
  'oscar',
  'papa',
  'quebec',
  'romeo',
  'sierra',
  'tango',
];

/** How each SKILL.md of the copies was perturbed, summed over all copies. */
export interface ScaleCorpusStats {
  /** Front matter parsed as YAML: name and description replaced in the document. */
  yaml: number;
  /** YAML the parser only recovers (an unquoted ': ', never closed …): the `name:`/`description:` lines edited. */
  lines: number;
  /** No front matter: the name comes from the folder, which is renamed; the description is left. */
  folderOnly: number;
  /** Folders renamed along with their skill's name. */
  renamed: number;
}

export interface ScaleCorpus {
  sources: BenchSource[];
  stats: ScaleCorpusStats;
  /** Wall time to build every copy, ms. */
  buildMs: number;
}

function copyWord(copy: number): string {
  const word = COPY_WORDS[copy % COPY_WORDS.length] as string;
  return copy < COPY_WORDS.length ? word : `${word}${Math.floor(copy / COPY_WORDS.length)}`;
}

/** Appends `suffix` to a one-line YAML value as written (plain or quoted); undefined for other shapes. */
function appendToLineValue(value: string, suffix: string): string | undefined {
  const v = value.trimEnd();
  if (v === '' || v.startsWith('|') || v.startsWith('>')) return undefined;
  const quote = v[0];
  if (quote === '"' || quote === "'") {
    return v.length > 1 && v.endsWith(quote) ? `${v.slice(0, -1)}${suffix}${quote}` : undefined;
  }
  return `${v}${suffix}`;
}

/**
 * The perturbed SKILL.md text and the skill's original name (undefined when it has no front matter, so its
 * name is its folder's).
 */
function perturb(
  text: string,
  word: string,
): { text: string; name: string | undefined; how: 'yaml' | 'lines' | 'folderOnly' } {
  const bom = text.startsWith('\uFEFF') ? '\uFEFF' : '';
  const lines = text.slice(bom.length).replace(/\r\n/g, '\n').split('\n');
  if (!/^---[ \t]*$/.test(lines[0] ?? '')) return { text, name: undefined, how: 'folderOnly' };
  let close = lines.findIndex((l, i) => i > 0 && /^(?:---|\.\.\.)[ \t]*$/.test(l));
  if (close < 0) close = lines.length;
  const yamlText = lines.slice(1, close).join('\n');
  const rest = lines.slice(close);
  const doc = parseDocument(yamlText, { version: '1.2', schema: 'core', uniqueKeys: false });
  const nameNode = isMap(doc.contents) ? doc.get('name', true) : undefined;
  const descNode = isMap(doc.contents) ? doc.get('description', true) : undefined;
  if (
    doc.errors.length === 0 &&
    isScalar(nameNode) &&
    typeof nameNode.value === 'string' &&
    isScalar(descNode) &&
    typeof descNode.value === 'string'
  ) {
    const name = nameNode.value;
    doc.set('name', `${name.trim()}-${word}`);
    doc.set('description', `${descNode.value.trimEnd()} ${word}`);
    // lineWidth 0: no folding, so long one-line values stay one line.
    const yamlOut = doc.toString({ lineWidth: 0 });
    return { text: `${bom}---\n${yamlOut}${rest.join('\n')}`, name, how: 'yaml' };
  }
  // The parser recovers this front matter by its own rules: edit the one-line `name:` and `description:`
  // values in place, which the recovery then reads the same way as the original.
  let name: string | undefined;
  for (let i = 1; i < close; i++) {
    const m = /^(name|description)([ \t]*:[ \t]*)(.*)$/.exec(lines[i] as string);
    if (!m) continue;
    const [, key, sep, value] = m as unknown as [string, string, string, string];
    const edited = appendToLineValue(value, key === 'name' ? `-${word}` : ` ${word}`);
    if (edited === undefined) continue;
    if (key === 'name') name = value.trim().replace(/^["']|["']$/g, '');
    lines[i] = `${key}${sep}${edited}`;
  }
  return { text: `${bom}${lines.join('\n')}`, name, how: 'lines' };
}

/** Folders (relative to `root`) holding a SKILL.md, deepest first, so renaming one never moves another. */
function skillFolders(root: string): string[] {
  const found: string[] = [];
  const walk = (rel: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory() && e.name !== '.git') walk(path.join(rel, e.name));
      else if (e.isFile() && e.name === 'SKILL.md') found.push(rel);
    }
  };
  walk('');
  return found.sort((a, b) => b.split(path.sep).length - a.split(path.sep).length || a.localeCompare(b));
}

/** Builds `copies` perturbed copies of `corpus` under `dest` (copy-0 … copy-N), one source each. */
export function buildScaleCorpus(corpus: string, dest: string, copies: number): ScaleCorpus {
  const started = performance.now();
  const stats: ScaleCorpusStats = { yaml: 0, lines: 0, folderOnly: 0, renamed: 0 };
  const sources: BenchSource[] = [];
  for (let c = 0; c < copies; c++) {
    const root = path.join(dest, `copy-${c}`);
    // coreutils cp: 5–10× faster than fs.cp on ~1,700 files.
    execFileSync('cp', ['-R', '--', corpus, root]);
    const word = copyWord(c);
    for (const rel of skillFolders(root)) {
      const file = path.join(root, rel, 'SKILL.md');
      const out = perturb(readFileSync(file, 'utf8'), word);
      stats[out.how]++;
      writeFileSync(file, out.text);
      const folder = path.basename(rel);
      // No front matter: the folder is the name, so it must change for the text to change.
      if (rel !== '' && (out.name === undefined ? out.how === 'folderOnly' : folder === out.name.trim())) {
        renameSync(path.join(root, rel), path.join(root, path.dirname(rel), `${folder}-${word}`));
        stats.renamed++;
      }
    }
    sources.push({ root });
  }
  return { sources, stats, buildMs: performance.now() - started };
}
