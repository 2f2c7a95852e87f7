import type { CrawlProblem, SkillDoc, SkillUnchanged } from '../shared/skill-doc.js';
import type { SourceKind } from '../shared/source-kinds.js';

export type { SourceKind };

/** One source, as the sources file or the command line declares it (validated by `sources-file.ts`). */
export interface SourceSpec {
  /** Stable id: the prefix of every skill id of this source. Letters, digits, `._-`. */
  id: string;
  kind: SourceKind;
  /**
   * Where it is: a folder path (`dir`); a git URL or path (`git+https://…`, `git@…`, `file://…`, a local repo);
   * `github:owner/repo[/path][@ref]`, `github:owner`, or `github-search:<query>` (`github`).
   */
  location: string;
  /** Branch, tag or commit (git, github). Default: the remote's default branch. */
  ref?: string | undefined;
  /** Globs over skill folder paths (relative to the source root / repo path, POSIX): only these are indexed. */
  include?: string[] | undefined;
  /** Globs over skill folder paths: these are left out (applied after `include`). */
  exclude?: string[] | undefined;
  /** A free label (e.g. `official`, `community`) stored with every skill of the source. */
  trust?: string | undefined;
  /** git: recurse into submodules (off by default: a submodule is someone else's repository). */
  submodules?: boolean | undefined;
  /** github: API base URL (GitHub Enterprise). Default `https://api.github.com`. */
  apiUrl?: string | undefined;
}

/**
 * What a source remembers between runs (stored as JSON in the `sources` table after a complete crawl):
 * the commit it indexed, ETags of API responses, … Each kind defines its own fields.
 */
export type SourceState = Record<string, unknown>;

/** Where a skill came from, stored on its row so readers can link back and tell copies apart. */
export interface Provenance {
  /** The URL a person can open (repository URL, or the folder path). */
  url?: string | undefined;
  ref?: string | undefined;
  /** The commit the skill was read at. */
  commit?: string | undefined;
  /** The blob SHA of its SKILL.md (git and GitHub). */
  blobSha?: string | undefined;
}

/** What the pipeline hands a source for one crawl. */
export interface CrawlContext {
  /**
   * Asked with each skill's id and a fingerprint of its files (dir: names, sizes, mtimes…; git/github: paths and
   * blob SHAs) before any file is read; true means yield a {@link SkillUnchanged} instead of reading it.
   */
  isUnchanged: (id: string, statKey: string) => boolean;
  /** Whether a skill folder path (relative, POSIX, `.` for the root) is wanted (include/exclude globs). */
  wants: (path: string) => boolean;
  /** The state the last complete crawl of this source returned, if any. */
  previous: SourceState | undefined;
  /** Largest file read, in bytes. */
  maxFileBytes: number;
  signal?: AbortSignal | undefined;
  /** Structured log line (never pass a secret). */
  log: (msg: string, fields?: Record<string, unknown>) => void;
}

/** The items a crawl yields: skills read, skills known unchanged, and problems. */
export type CrawlItem = (SkillDoc | SkillUnchanged | CrawlProblem) & { provenance?: Provenance | undefined };

/**
 * A source of skills. `crawl` yields items in a deterministic order and, when it ran to the end (not aborted),
 * returns the state to remember for the next run. Throw `IndexerError` `SOURCE_FAILED` when the whole source
 * cannot be crawled (unreachable, 404, bad credentials): the run records it and goes on with other sources.
 */
export interface SkillSource {
  readonly spec: SourceSpec;
  crawl(ctx: CrawlContext): AsyncGenerator<CrawlItem, SourceState | undefined, undefined>;
}
