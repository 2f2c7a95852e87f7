import { ERROR_CODES, IndexerError } from '../shared/errors.js';

/** What a `github` source points at, read from its `location` (and `ref`). */
export type GitHubTarget =
  | {
      kind: 'repo';
      owner: string;
      repo: string;
      /** Sub-folder of the repository (POSIX, no leading/trailing `/`): only skills under it, ids relative to it. */
      path?: string | undefined;
      /** Branch, tag or commit; undefined = the repository's default branch. */
      ref?: string | undefined;
    }
  | { kind: 'owner'; owner: string }
  | { kind: 'search'; query: string };

// GitHub logins are letters, digits and hyphens; GitHub Enterprise (LDAP/SAML-synced) also allows `_` and `.`.
const OWNER = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const REPO = /^[A-Za-z0-9._-]+$/;

/**
 * Reads a `github` source location:
 * - `github:owner/repo[/path][@ref]` — one repository, optionally a sub-folder, at `ref` (the first `@` starts
 *   the ref, so refs may contain `/` and `@`; a path may not contain `@`);
 * - `github:owner` — every repository of a user or organisation;
 * - `github-search:<query>` — code search for `SKILL.md` files matching `<query>`.
 *
 * `specRef` (the spec's `ref`) applies to the one-repository form only; giving it a different value than `@ref`
 * is an error, as is any ref with the owner or search forms (they crawl each repository's default branch).
 *
 * @throws IndexerError `BAD_OPTION` naming the location and what is wrong with it.
 */
export function parseGitHubLocation(location: string, specRef?: string): GitHubTarget {
  const bad = (why: string): IndexerError =>
    new IndexerError(ERROR_CODES.BAD_OPTION, `github source location ${JSON.stringify(location)}: ${why}`);
  const ref = specRef === undefined || specRef === '' ? undefined : specRef;

  if (location.startsWith('github-search:')) {
    const query = location.slice('github-search:'.length).trim();
    if (query === '') throw bad('nothing to search for after "github-search:"');
    if (ref !== undefined) throw bad('ref does not apply to a code search (it covers default branches only)');
    return { kind: 'search', query };
  }
  if (!location.startsWith('github:')) {
    throw bad('expected github:owner/repo[/path][@ref], github:owner or github-search:<query>');
  }
  const rest = location.slice('github:'.length);
  const at = rest.indexOf('@');
  const where = at < 0 ? rest : rest.slice(0, at);
  const atRef = at < 0 ? undefined : rest.slice(at + 1);
  if (atRef !== undefined && atRef.trim() === '')
    throw bad('nothing after "@" (expected a branch, tag or commit)');
  const segments = where.replace(/^\/+|\/+$/g, '').split('/');
  const [owner, repo, ...pathSegs] = segments;
  if (owner === undefined || owner === '') throw bad('missing owner after "github:"');
  if (!OWNER.test(owner)) throw bad(`"${owner}" is not a valid GitHub owner name`);
  if (repo === undefined) {
    if (atRef !== undefined || ref !== undefined) {
      throw bad('ref does not apply to github:owner (each repository is crawled at its default branch)');
    }
    return { kind: 'owner', owner };
  }
  const repoName = repo.endsWith('.git') ? repo.slice(0, -4) : repo;
  if (!REPO.test(repoName) || repoName === '.' || repoName === '..') {
    throw bad(`"${repo}" is not a valid repository name`);
  }
  if (pathSegs.some((s) => s === '' || s === '.' || s === '..')) {
    throw bad('the path must not contain empty, "." or ".." segments');
  }
  if (atRef !== undefined && ref !== undefined && atRef !== ref) {
    throw bad(`it says @${atRef} but the source's ref is ${JSON.stringify(ref)}; give one of them`);
  }
  return {
    kind: 'repo',
    owner,
    repo: repoName,
    path: pathSegs.length > 0 ? pathSegs.join('/') : undefined,
    ref: atRef ?? ref,
  };
}
