import type { ErrorRecord } from './records.js';

/** What the index knows about one skill id, for the incremental check (the writer answers it, the triage reads it). */
export interface KnownSkill {
  contentHash: string;
  statKey: string | null;
  removed: boolean;
  /** text_hash of the skill vector for the model asked about, or null when there is none. */
  textHash: string | null;
  /** The parse rules the row was made with (PARSE_RULES_VERSION). */
  parseVersion: number;
}

/** What the database knows about one source, for the incremental check. */
export interface KnownSource {
  skills: Map<string, KnownSkill>;
  /** The last rejection of each skill id that was rejected, with the stat key its files had then. */
  rejections: Map<string, ErrorRecord & { statKey: string; parseVersion: number }>;
}

/** A skill seen but not rewritten. */
export interface SeenSkill {
  id: string;
  statKey?: string | undefined;
}
