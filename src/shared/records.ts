import type { ErrorCode, WarningCode } from './errors.js';
import type { SourceKind } from './source-kinds.js';

/** A warning recorded with an indexed skill. */
export interface SkillWarning {
  code: WarningCode;
  message: string;
}

/** A parsed, validated skill as the writer stores it (one `skills` row). */
export interface SkillRecord {
  id: string;
  sourceId: string;
  path: string;
  name: string;
  description: string;
  body: string;
  frontMatter: Record<string, unknown>;
  license: string | null;
  allowedTools: string[] | null;
  warnings: SkillWarning[];
  contentHash: string;
  /** Fingerprint of the files' metadata; lets the next run skip reading files that did not change. */
  statKey?: string | undefined;
  /** Where it came from (kind, URL, ref, commit, blob SHA) and its source's trust label. */
  origin?: SkillOrigin | undefined;
  /** PARSE_RULES_VERSION it was parsed with; absent = 1 (a producer from before versioned rules). */
  parseVersion?: number | undefined;
}

/** Provenance stored on a skill row. */
export interface SkillOrigin {
  kind: SourceKind;
  url?: string | undefined;
  ref?: string | undefined;
  commit?: string | undefined;
  blobSha?: string | undefined;
  trust?: string | undefined;
}

/** One vector to store (one `skill_embeddings` row). */
export interface EmbeddingRecord {
  skillId: string;
  modelId: string;
  /** 0 = the skill vector. */
  chunk: number;
  /** The vector, or an already-encoded BLOB reused from the database. */
  vector: Float32Array | Uint8Array;
  textHash: string;
}

/** One rejected input (one `index_errors` row). */
export interface ErrorRecord {
  sourceId: string;
  path: string;
  code: ErrorCode;
  message: string;
  line?: number | undefined;
  /** Stat key of the rejected skill's files, so an unchanged bad skill is not re-read next run. */
  statKey?: string | undefined;
  /** PARSE_RULES_VERSION of a parse rejection: under other rules, the same bytes are parsed again. */
  parseVersion?: number | undefined;
}

/** The counts of a run, as in `index_runs` and the `--json` summary. */
export interface RunCounts {
  seen: number;
  indexed: number;
  unchanged: number;
  removed: number;
  failed: number;
  embedded: number;
  warnings: number;
  /**
   * Of `unchanged`, skills whose vector was made again (a new model or text config, `--reembed`) though their
   * content was already stored. `seen = indexed + unchanged + failed` holds either way.
   */
  reembedded?: number;
}

/** A source as recorded on a run (credentials removed from the location). */
export interface RunSource {
  id: string;
  kind: SourceKind;
  location: string;
  ref?: string | undefined;
  /** The commit indexed (git, github), once the crawl completed. */
  commit?: string | undefined;
  /** `completed`, `interrupted` or `failed` (with `error`). */
  status?: string | undefined;
  error?: string | undefined;
}

/** A source as the database last saved it (`sources` table; credentials were removed from the location). */
export interface StoredSource {
  id: string;
  kind: SourceKind;
  location: string;
  ref: string | null;
  trust: string | null;
}
