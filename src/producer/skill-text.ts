import { TextDecoder } from 'node:util';

/** The file that makes a folder a skill. Matched exactly (case-sensitive), as agents do. */
export const SKILL_FILE = 'SKILL.md';

/** A sibling file that belongs to a skill: `*.md` (any case), directly in the skill folder. */
export function isMarkdownName(name: string): boolean {
  return name.toLowerCase().endsWith('.md') && name.length > 3;
}

/** Code-unit order, not locale order: the same on every machine. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes a skill file the same way for every source: strict UTF-8 (invalid bytes are an error, not
 * replacement characters), one leading BOM dropped, CRLF turned into LF.
 */
export function decodeSkillText(
  bytes: Uint8Array,
): { ok: true; text: string } | { ok: false; reason: string } {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return { ok: true, text: text.replace(/\r\n/g, '\n') };
}
