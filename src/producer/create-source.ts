import { createDirSource } from './dir-source.js';
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
  }
}
