/** One file of a skill folder, read and decoded: BOM stripped, CRLF turned into LF. */
export interface SkillFile {
  /** Path relative to the skill folder, POSIX separators (`SKILL.md`, `reference.md`). */
  readonly path: string;
  readonly text: string;
}

/**
 * A skill as the crawler found it, before parsing: what every source kind (dir, git, github) yields.
 * Crosses thread and process boundaries, so it holds plain data only.
 */
export interface SkillDoc {
  /** Stable id: `${sourceId}/${path}`. */
  readonly id: string;
  readonly sourceId: string;
  /** Folder of the skill relative to the source root, POSIX separators; `.` for a SKILL.md at the root. */
  readonly path: string;
  /** SKILL.md first, then sibling `.md` files sorted by path. */
  readonly files: readonly SkillFile[];
  /** sha256 (hex) over the decoded files (paths and texts): what "unchanged" is judged by. */
  readonly contentHash: string;
  /** Fingerprint of the files' metadata (see the dir source), when the source has one. */
  readonly statKey?: string | undefined;
}

/** A skill the source found unchanged from its stat key alone, without reading it. */
export interface SkillUnchanged {
  readonly unchanged: true;
  readonly id: string;
  readonly sourceId: string;
  readonly path: string;
  readonly statKey: string;
}

/** A file or folder the crawler could not turn into a SkillDoc; becomes an `index_errors` row. */
export interface CrawlProblem {
  readonly sourceId: string;
  /** Path relative to the source root, POSIX separators. */
  readonly path: string;
  readonly code: import('./errors.js').ErrorCode;
  readonly message: string;
  /**
   * `skill`: a SKILL.md that could not be read, so one skill is rejected (counted as seen and failed);
   * `file`: a sibling file or a folder was left out, recorded but no skill is lost.
   */
  readonly scope: 'skill' | 'file';
}
