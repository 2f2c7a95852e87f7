import { stringify } from 'yaml';
import type { Skill } from '../reader/index.js';

/** One file of a skill folder as the index stored it. */
export interface StoredFile {
  path: string;
  text: string;
}

/**
 * The parser appends each sibling `.md` file to the body after a `<!-- file: NAME -->` line (see
 * src/stages/parse-skill.ts); only names the crawler could have produced (one path segment ending in `.md`)
 * count as separators, so an HTML comment of another shape inside a body stays where it is.
 */
const SIBLING_MARKER = /\n\n<!-- file: ([^/\n]+\.md) -->\n/i;

/** Splits a stored body back into SKILL.md's own body and its sibling files, in crawl order. */
export function splitBody(body: string): { main: string; siblings: StoredFile[] } {
  const parts = body.split(new RegExp(SIBLING_MARKER.source, 'gi'));
  // split() with one capture group gives [main, name1, text1, name2, text2, …].
  const siblings: StoredFile[] = [];
  for (let i = 1; i + 1 < parts.length; i += 2) {
    siblings.push({ path: parts[i] as string, text: parts[i + 1] as string });
  }
  return { main: parts[0] ?? '', siblings };
}

/**
 * SKILL.md as the index knows it: the stored front matter as YAML, then the body without its siblings. The
 * index keeps parsed fields, not the original bytes, so comments and key quoting in the YAML are not kept.
 */
export function skillMarkdown(skill: Skill): string {
  const { main } = splitBody(skill.body);
  const yaml = Object.keys(skill.frontMatter).length > 0 ? stringify(skill.frontMatter) : '';
  return `---\n${yaml}---\n\n${main}`;
}

/** `skill://` link of an id; each path segment percent-encoded, the slashes kept (the `{+id}` template). */
export function skillUri(id: string): string {
  return `skill://${id.split('/').map(encodeURIComponent).join('/')}`;
}

/** The id inside a `skill://` link's variable; undefined when its percent-encoding is broken. */
export function idFromUriVariable(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}
