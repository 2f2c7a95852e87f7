import { TextDecoder } from 'node:util';
import { ERROR_CODES, type ErrorCode } from '../shared/errors.js';

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

/**
 * Limits on one skill as a whole, on top of the per-file cap: a folder with hundreds of 1 MiB siblings (or a
 * git tree listing one blob hundreds of times) must not grow one body past what the process can hold.
 * Siblings past a limit are left out of the skill and recorded; the skill itself is still indexed.
 */
export const SKILL_LIMITS = {
  /** SKILL.md plus at most this many sibling `.md` files. */
  maxFiles: 32,
  /** Total characters of a skill's files, as a multiple of the per-file byte cap (4 MiB by default). */
  totalFactor: 4,
} as const;

/** Why a sibling is left out by {@link SKILL_LIMITS}, or undefined when it fits. */
export function overSkillLimits(
  label: string,
  filesSoFar: number,
  charsSoFar: number,
  nextSize: number,
  maxFileBytes: number,
): string | undefined {
  if (filesSoFar >= SKILL_LIMITS.maxFiles) {
    return `${label} left out: the skill already has ${SKILL_LIMITS.maxFiles} files, the most one skill may have`;
  }
  const total = SKILL_LIMITS.totalFactor * maxFileBytes;
  if (charsSoFar + nextSize > total) {
    return `${label} left out: with it the skill's files would pass ${total} bytes in total (4 × maxFileBytes)`;
  }
  return undefined;
}

/** The outcome of reading one skill file, the same for every source. */
export type FileText = { ok: true; text: string } | { ok: false; code: ErrorCode; message: string };

/** A file over the per-file cap: the one message every source gives, before or after reading it. */
export function tooLarge(label: string, size: number, maxFileBytes: number): FileText {
  return {
    ok: false,
    code: ERROR_CODES.FILE_TOO_LARGE,
    message: `${label} is ${size} bytes, over the ${maxFileBytes}-byte limit (maxFileBytes); not read`,
  };
}

/**
 * Checks the bytes actually read against the cap (a file may grow between stat and read; a listing may not
 * give sizes) and decodes them with {@link decodeSkillText}, with the messages every source shares.
 */
export function capAndDecode(label: string, bytes: Uint8Array, maxFileBytes: number): FileText {
  if (bytes.byteLength > maxFileBytes) return tooLarge(label, bytes.byteLength, maxFileBytes);
  const decoded = decodeSkillText(bytes);
  if (decoded.ok) return decoded;
  return {
    ok: false,
    code: ERROR_CODES.READ_FAILED,
    message: `${label} is not valid UTF-8 (${decoded.reason}); re-save it as UTF-8`,
  };
}
