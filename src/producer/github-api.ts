import { z } from 'zod';

/*
 * The parts of GitHub's REST responses the GitHub source reads. Each schema is both a check (a response that
 * does not fit is an error naming the endpoint, not an undefined deep inside the crawl) and a projection: zod
 * objects drop unknown keys, so what the conditional-request cache keeps in the source state is only these
 * fields (a repository object is ~6 KB as GitHub sends it, ~150 bytes as kept here).
 */

const owner = z.object({ login: z.string() });

/** `GET /repos/{owner}/{repo}` and the items of the repository listings. */
export const repoSchema = z.object({
  name: z.string(),
  full_name: z.string(),
  owner,
  default_branch: z.string(),
  fork: z.boolean(),
  archived: z.boolean().optional(),
  disabled: z.boolean().optional(),
});
export type GitHubRepo = z.infer<typeof repoSchema>;

/** `GET /users/{username}`: tells a user from an organisation. */
export const userSchema = z.object({ login: z.string(), type: z.string() });

/**
 * `GET /repos/{owner}/{repo}/commits/{ref}` with `Accept: application/vnd.github.sha`: the bare commit SHA as
 * text (40 hex, or 64 in a SHA-256 repository). A JSON commit (a server ignoring the media type) is accepted too.
 */
export const commitShaSchema = z
  .union([z.string(), z.object({ sha: z.string() }).transform((c) => c.sha)])
  .transform((s) => s.trim())
  .refine((s) => /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(s), 'expected a commit SHA');

/** `GET /repos/{owner}/{repo}/git/trees/{tree_sha}[?recursive=1]`. */
export const treeSchema = z.object({
  sha: z.string(),
  truncated: z.boolean(),
  tree: z.array(
    z.object({
      path: z.string(),
      mode: z.string(),
      type: z.string(),
      sha: z.string(),
      size: z.number().optional(),
    }),
  ),
});
export type GitHubTree = z.infer<typeof treeSchema>;

/** `GET /repos/{owner}/{repo}/git/blobs/{file_sha}`. */
export const blobSchema = z.object({
  sha: z.string(),
  size: z.number(),
  content: z.string(),
  encoding: z.string(),
});

const searchItem = z.object({
  name: z.string(),
  path: z.string(),
  repository: z.object({ name: z.string(), full_name: z.string(), owner }),
});
export type GitHubCodeHit = z.infer<typeof searchItem>;

/** `GET /search/code` as GitHub sends it (before the paginate plugin flattens it to `items`). */
export const searchPageSchema = z.object({
  total_count: z.number(),
  incomplete_results: z.boolean(),
  items: z.array(searchItem),
});
/** One `/search/code` page after the paginate plugin flattened it. */
export const searchItemsSchema = z.array(searchItem);

/** A GET endpoint whose responses are cached by ETag, and what of their body is kept. */
export interface ConditionalEndpoint {
  /** Matches the request path relative to the API root (no query). */
  path: RegExp;
  /** The `Accept` header the cached responses were requested with (responses differ by media type). */
  accept?: string;
  /** Validates and projects the body; also re-validates a cached body read back from the state. */
  keep: z.ZodType;
}

/** The media type that makes `GET …/commits/{ref}` answer with the bare SHA (and the SHA as its ETag). */
export const SHA_MEDIA_TYPE = 'application/vnd.github.sha';

/**
 * The requests that decide whether anything changed: these are sent with `If-None-Match`, and a 304 is answered
 * from the cache. Trees and blobs are not here: they are addressed by SHA, so they are simply not requested
 * again when the commit did not change.
 */
export const CONDITIONAL_ENDPOINTS: readonly ConditionalEndpoint[] = [
  { path: /^\/repos\/[^/]+\/[^/]+$/, keep: repoSchema },
  { path: /^\/users\/[^/]+$/, keep: userSchema },
  { path: /^\/(?:users|orgs)\/[^/]+\/repos$/, keep: z.array(repoSchema) },
  { path: /^\/repos\/[^/]+\/[^/]+\/commits\/.+$/, accept: SHA_MEDIA_TYPE, keep: commitShaSchema },
  { path: /^\/search\/code$/, keep: searchPageSchema },
];
