import { unhandledKind } from '../shared/source-kinds.js';
import { countSkillFolders, createDirSource } from './dir-source.js';
import { createGitHubSource } from './github-source.js';
import { createGitSource } from './git-source.js';
import type { SkillSource, SourceSpec } from './source.js';

/** The source for a spec, by kind. */
export function createSource(spec: SourceSpec): SkillSource {
  switch (spec.kind) {
    case 'dir':
      return createDirSource(spec);
    case 'git':
      return createGitSource(spec);
    case 'github':
      return createGitHubSource(spec);
    default:
      return unhandledKind(spec.kind);
  }
}

/**
 * How many skills a source holds, when that is cheap to know before its crawl (a folder: names only, nothing
 * read), for a progress bar's total; 0 when it is not (a repository is known only once fetched) or on failure.
 */
export async function countSkillsBeforeCrawl(spec: SourceSpec): Promise<number> {
  switch (spec.kind) {
    case 'dir':
      return countSkillFolders(spec.location).catch(() => 0);
    case 'git':
    case 'github':
      return 0;
    default:
      return unhandledKind(spec.kind);
  }
}
