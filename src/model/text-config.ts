import { createHash } from 'node:crypto';

/**
 * What text each vector is made from. Stored in `embedding_models.text_config` beside the vectors, so a
 * reader (or a later run) knows exactly how they were made; bump `version` whenever `skillText` changes,
 * because the text hash of every skill then changes and it will be re-embedded.
 *
 * Chunk 0 (the skill vector) is the name and description: the description is written to say when to use
 * the skill, which is what a search asks. Body text is not embedded: measured with `npm run eval`, adding
 * the body's lead made the default model's vectors worse (docs/search-quality.md).
 */
export const TEXT_CONFIG = {
  version: 1,
  chunks: [{ chunk: 0, text: 'name (hyphens and underscores as spaces) + ". " + description' }],
} as const;

/** The text of a skill's vector (chunk 0). */
export function skillText(skill: { name: string; description: string }): string {
  const name = skill.name.replace(/[-_]+/g, ' ').trim();
  return `${name}. ${skill.description.trim()}`;
}

/** sha256 hex of a text, as stored in `skill_embeddings.text_hash`. */
export function textHash(text: string): string {
  return createHash('sha256').update(`v${TEXT_CONFIG.version}\0`).update(text).digest('hex');
}
