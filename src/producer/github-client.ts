import { setTimeout as sleep } from 'node:timers/promises';
import { Octokit } from '@octokit/core';
import { paginateRest } from '@octokit/plugin-paginate-rest';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import type { z } from 'zod';
import { IndexerError } from '../shared/errors.js';
import { redactUrl } from '../shared/redact.js';
import type { ConditionalEndpoint } from './github-api.js';
import { GitHubSourceError } from './github-errors.js';

/**
 * The well-kept client: `@octokit/core` with GitHub's recommended throttling (one queue per kind of request,
 * waits on primary and secondary rate limits), retries of 5xx and network errors with backoff, and `Link`
 * pagination.
 *
 * The rate-limit budget is per process: the throttling plugin can share it across processes through Redis
 * (`throttle.connection`), which belongs to the distributed mode (produce/work/write over BullMQ), not built yet.
 */
const GitHubOctokit = Octokit.plugin(throttling, retry, paginateRest);
type GitHubOctokit = InstanceType<typeof GitHubOctokit>;

/** A response kept for conditional requests: its ETag, the projected body, and its `Link` header (pages). */
export interface CachedResponse {
  etag: string;
  data: unknown;
  link?: string | undefined;
}

/** How the GitHub source sets up its client for one crawl. */
export interface GitHubClientOptions {
  /** API root, no trailing `/` (`https://api.github.com`, `https://ghe.example.com/api/v3`). */
  baseUrl: string;
  /** Sent as `authorization`; never logged, never in a message. */
  token: string | undefined;
  fetch?: typeof fetch | undefined;
  log: (msg: string, fields?: Record<string, unknown>) => void;
  signal?: AbortSignal | undefined;
  /** Total time the crawl may spend waiting for rate limits before it fails. */
  maxRateLimitWaitMs: number;
  /** Retries of a 5xx or network error (backoff 1 s, 4 s, 9 s …). */
  retries: number;
  /** The conditional-request cache the previous crawl returned, by request key. */
  etags: Readonly<Record<string, CachedResponse>>;
  /** Which GET endpoints are conditional, and what of their bodies is kept. */
  conditional: readonly ConditionalEndpoint[];
}

/** Thrown inside the client when it stops waiting for a rate limit; turned into a message naming the request. */
class RateLimitStop extends Error {}

/** Safety net against a server that keeps answering "rate limited" with a reset in the past. */
const MAX_LIMIT_RETRIES = 10;
const DEFAULT_ACCEPT = 'application/vnd.github.v3+json';

interface RequestErrorLike {
  status: number;
  message: string;
  response?: { headers: Record<string, string | number | undefined>; data: unknown } | undefined;
}

/**
 * One crawl's connection to the GitHub API: requests with conditional-request caching, rate-limit waits within a
 * budget, and errors turned into one-line `SOURCE_FAILED` messages that name what was being read.
 */
export class GitHubClient {
  private readonly octokit: GitHubOctokit;
  private readonly basePath: string;
  /** Conditional-cache entries used by this crawl: what goes into the next state. */
  private readonly used = new Map<string, CachedResponse>();
  /** Last rate-limit headers seen, per resource (`core`, `search`, `code_search` …). */
  private readonly limits = new Map<string, { remaining: number; reset: number }>();
  private waitedMs = 0;
  private limitFailure: string | undefined;
  /** Requests answered, and how many of them were 304 Not Modified (free: not counted by GitHub). */
  readonly stats = { requests: 0, notModified: 0 };

  constructor(private readonly opts: GitHubClientOptions) {
    this.basePath = new URL(opts.baseUrl).pathname.replace(/\/+$/, '');
    const warn = (message: string, info?: object): void =>
      opts.log(this.scrub(`github: ${message}`), info ? { detail: this.scrub(String(info)) } : undefined);
    this.octokit = new GitHubOctokit({
      ...(opts.token ? { auth: opts.token } : {}),
      baseUrl: opts.baseUrl,
      userAgent: 'skillsmith-indexer',
      request: {
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      log: { debug: () => {}, info: () => {}, warn, error: warn },
      // GitHub's list of answers a retry cannot fix, plus 409 (empty repository).
      retry: { retries: opts.retries, doNotRetry: [400, 401, 403, 404, 409, 410, 422, 451] },
      throttle: {
        // Our handlers do the waiting themselves (abortable, counted against the budget) and return whether to
        // retry; a base of 0 makes the plugin retry at once after they return instead of waiting again.
        retryAfterBaseValue: 0,
        onRateLimit: (retryAfter, options, _octokit, retryCount) =>
          this.onLimit('primary', retryAfter, `${options.method} ${options.url}`, retryCount),
        onSecondaryRateLimit: (retryAfter, options, _octokit, retryCount) =>
          this.onLimit('secondary', retryAfter, `${options.method} ${options.url}`, retryCount),
      },
    });
    // Registered after the plugins, so it wraps them: it sees each request once, before throttling and retries.
    this.octokit.hook.wrap('request', (request, options) => this.conditionalRequest(request, options));
  }

  /** The conditional-cache entries this crawl used (the rest are stale): store them in the source state. */
  etags(): Record<string, CachedResponse> {
    return Object.fromEntries(this.used);
  }

  /** One GET, its body checked (and projected) by `schema`. */
  async get<S extends z.ZodType>(
    what: string,
    route: string,
    params: Record<string, unknown>,
    schema: S,
  ): Promise<z.output<S>> {
    let data: unknown;
    try {
      data = (await this.octokit.request(route, params)).data;
    } catch (err) {
      throw this.fail(err, what);
    }
    return this.check(what, schema, data);
  }

  /** Every page of a paginated GET (following `Link: rel="next"`), each page's items checked by `schema`. */
  async *pages<S extends z.ZodType>(
    what: string,
    route: string,
    params: Record<string, unknown>,
    schema: S,
  ): AsyncGenerator<z.output<S>> {
    const pages = this.octokit.paginate.iterator(route, params)[Symbol.asyncIterator]();
    for (;;) {
      let page: IteratorResult<{ data: unknown }>;
      try {
        page = await pages.next();
      } catch (err) {
        throw this.fail(err, what);
      }
      if (page.done) return;
      yield this.check(what, schema, page.value.data);
    }
  }

  private check<S extends z.ZodType>(what: string, schema: S, data: unknown): z.output<S> {
    const parsed = schema.safeParse(data);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    const at = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new GitHubSourceError(
      `unexpected response from GitHub for ${what}: ${issue?.message ?? 'invalid'}${at}`,
      'response',
    );
  }

  /**
   * The request hook: waits out a rate limit known to be exhausted, sends `If-None-Match` for conditional
   * endpoints and answers a 304 from the cache, keeps the ETag of what changed, records rate-limit headers,
   * and retries 403/429 answers with `retry-after` that the throttling plugin did not recognise.
   */
  private async conditionalRequest<R extends { headers: Record<string, unknown>; data: unknown }>(
    request: (
      options: Required<Parameters<GitHubOctokit['request']['endpoint']['parse']>[0]>,
    ) => R | Promise<R>,
    options: Required<Parameters<GitHubOctokit['request']['endpoint']['parse']>[0]>,
  ): Promise<R> {
    const parsed = this.octokit.request.endpoint.parse(options);
    const url = new URL(parsed.url);
    // The token goes with every request: never to another origin than the API's, whatever a `Link` header
    // (or a tampered cached one) points at.
    if (url.origin !== new URL(this.opts.baseUrl).origin) {
      throw new GitHubSourceError(
        `refused a request to ${url.origin}: only ${new URL(this.opts.baseUrl).origin} gets the token`,
        'response',
      );
    }
    const rel = url.pathname.startsWith(this.basePath)
      ? url.pathname.slice(this.basePath.length)
      : url.pathname;
    const resource = resourceOf(rel);
    const accept = String(parsed.headers.accept ?? DEFAULT_ACCEPT);
    const rule =
      parsed.method === 'GET'
        ? this.opts.conditional.find((r) => r.path.test(rel) && (r.accept ?? DEFAULT_ACCEPT) === accept)
        : undefined;
    // Keyed by path + query (+ media type): page URLs from `Link` headers are absolute, the host may differ.
    const key = rule ? `${url.pathname}${url.search}${rule.accept ? ` ${rule.accept}` : ''}` : undefined;
    let cached = key !== undefined ? this.opts.etags[key] : undefined;
    if (cached && rule && !rule.keep.safeParse(cached.data).success) cached = undefined;
    // In place: before-after-hook calls the inner hooks with the options object it was given, not with an
    // argument passed here. The object is made fresh for each request by the endpoint merge, so this is local.
    if (cached) options.headers['if-none-match'] = cached.etag;

    for (let attempt = 0; ; attempt++) {
      await this.respectKnownLimit(resource, rel);
      try {
        const response = await request(options);
        this.stats.requests++;
        this.noteLimit(resource, response.headers);
        if (!rule || key === undefined) return response;
        const projected = rule.keep.safeParse(response.data);
        // Not GitHub's shape: not cached; the caller's own check reports it, naming what was read.
        if (!projected.success) return response;
        const kept: unknown = projected.data;
        const etag = response.headers.etag;
        const link = response.headers.link;
        if (typeof etag === 'string' && etag !== '') {
          // A copy: the paginate plugin rewrites the body it is handed (search pages), the cache must not change.
          this.used.set(key, {
            etag,
            data: structuredClone(kept),
            ...(typeof link === 'string' ? { link } : {}),
          });
        }
        return { ...response, data: kept };
      } catch (err) {
        const e = asRequestError(err);
        if (e?.response) this.noteLimit(resource, e.response.headers);
        if (e?.status === 304 && cached && key !== undefined && e.response) {
          this.stats.requests++;
          this.stats.notModified++;
          this.used.set(key, cached);
          const headers = { ...e.response.headers, ...(cached.link ? { link: cached.link } : {}) };
          return { ...(e.response as unknown as R), headers, data: structuredClone(cached.data) };
        }
        if (e && (e.status === 403 || e.status === 429)) {
          if (this.limitFailure !== undefined) throw new RateLimitStop(this.limitFailure);
          const after = retryAfterMs(e.response?.headers['retry-after']);
          // GitHub's own limit answers are retried by the throttling plugin; this catches the ones it does not
          // recognise (a 429 or 403 with retry-after but another message, e.g. from a proxy in front of GHE).
          if (after !== undefined && attempt < MAX_LIMIT_RETRIES) {
            if (!(await this.waitFor(after, 'secondary', `${parsed.method} ${rel}`))) {
              throw new RateLimitStop(this.limitFailure ?? 'rate limited');
            }
            continue;
          }
        }
        throw err;
      }
    }
  }

  /** When the last answer said the budget is spent, waits for the reset instead of sending a request bound to fail. */
  private async respectKnownLimit(resource: string, rel: string): Promise<void> {
    const known = this.limits.get(resource);
    if (!known || known.remaining > 0) return;
    // One second past the reset, as GitHub recommends (clocks differ).
    const ms = known.reset * 1000 - Date.now() + 1000;
    this.limits.delete(resource);
    if (ms <= 0) return;
    if (!(await this.waitFor(ms, 'primary', `GET ${rel}`))) {
      throw new RateLimitStop(this.limitFailure ?? 'rate limited');
    }
  }

  private noteLimit(fallbackResource: string, headers: Record<string, unknown>): void {
    const remaining = Number(headers['x-ratelimit-remaining']);
    const reset = Number(headers['x-ratelimit-reset']);
    if (
      headers['x-ratelimit-remaining'] === undefined ||
      !Number.isFinite(remaining) ||
      !Number.isFinite(reset)
    ) {
      return;
    }
    const resource =
      typeof headers['x-ratelimit-resource'] === 'string'
        ? headers['x-ratelimit-resource']
        : fallbackResource;
    this.limits.set(resource, { remaining, reset });
  }

  /** The throttling plugin's limit handler: waits (abortably, within the budget), then says whether to retry. */
  private async onLimit(
    kind: 'primary' | 'secondary',
    retryAfterSeconds: number,
    route: string,
    retryCount: number,
  ): Promise<boolean> {
    if (retryCount >= MAX_LIMIT_RETRIES) {
      this.limitFailure = `${kind} rate limit still in force after ${retryCount} waits`;
      return false;
    }
    return this.waitFor(Math.max(0, retryAfterSeconds) * 1000, kind, route);
  }

  /** Waits `ms` unless that would exceed the budget or the crawl is aborted; false (with a reason) if not. */
  private async waitFor(ms: number, kind: 'primary' | 'secondary', route: string): Promise<boolean> {
    const max = this.opts.maxRateLimitWaitMs;
    if (this.waitedMs + ms > max) {
      this.limitFailure =
        `${kind} rate limit: GitHub asks to wait ${seconds(ms)}, more than is left of the ${seconds(max)} ` +
        `allowed for rate-limit waits (maxRateLimitWaitMs, ${seconds(this.waitedMs)} used); try again later`;
      return false;
    }
    this.waitedMs += ms;
    this.opts.log('github: rate limited, waiting before retrying', {
      kind,
      route: this.scrub(route),
      waitMs: Math.round(ms),
      waitedMs: Math.round(this.waitedMs),
    });
    try {
      await sleep(ms, undefined, this.opts.signal ? { signal: this.opts.signal } : undefined);
    } catch {
      this.limitFailure = 'aborted while waiting for a rate limit';
      return false;
    }
    return true;
  }

  /** A one-line `SOURCE_FAILED` for a failed request, naming what was read; never the token. */
  private fail(err: unknown, what: string): IndexerError {
    if (err instanceof IndexerError) return err;
    if (err instanceof RateLimitStop) {
      return new GitHubSourceError(this.scrub(`${what}: ${err.message}`), 'rate-limit');
    }
    const e = asRequestError(err);
    if (!e) {
      const message = err instanceof Error ? err.message : String(err);
      return new GitHubSourceError(
        this.scrub(`cannot read ${what} from GitHub: ${oneLine(message)}`),
        'response',
      );
    }
    const body = e.response?.data as { message?: unknown } | undefined;
    const said = oneLine(
      typeof body?.message === 'string' ? body.message : e.message.replace(/ - https?:\S+$/, ''),
    );
    const api = redactUrl(this.opts.baseUrl);
    let message: string;
    if (!e.response) {
      message = `cannot reach the GitHub API at ${api} for ${what}: ${said}`;
    } else if (e.status === 401) {
      message = this.opts.token
        ? `GitHub rejected the token (401 ${said}) reading ${what}; check GITHUB_TOKEN or the token option`
        : `GitHub requires a token (401 ${said}) to read ${what}; set GITHUB_TOKEN`;
    } else if (e.status === 403) {
      message = `GitHub refused access (403 ${said}) to ${what}; check the token's scopes and SSO authorisation`;
    } else if (e.status === 404) {
      message = `${what} not found on GitHub (404 ${said}); check the name, and that the token can read it if it is private`;
    } else if (e.status >= 500) {
      message = `GitHub answered ${e.status} ${said} for ${what}, after ${this.opts.retries} retries`;
    } else {
      message = `GitHub answered ${e.status} ${said} for ${what}`;
    }
    return e.response
      ? new GitHubSourceError(this.scrub(message), 'status', e.status)
      : new GitHubSourceError(this.scrub(message), 'network');
  }

  /** Belt and braces: nothing that reaches a message or a log line may contain the token. */
  private scrub(text: string): string {
    const token = this.opts.token;
    return token ? text.split(token).join('[redacted]') : text;
  }
}

function asRequestError(err: unknown): RequestErrorLike | undefined {
  if (!(err instanceof Error)) return undefined;
  const status = (err as { status?: unknown }).status;
  return typeof status === 'number' ? (err as unknown as RequestErrorLike) : undefined;
}

/** Which rate-limit bucket a path draws from (GitHub names it in `x-ratelimit-resource`). */
function resourceOf(rel: string): string {
  if (rel.startsWith('/search/code')) return 'code_search';
  if (rel.startsWith('/search/')) return 'search';
  if (rel.startsWith('/graphql')) return 'graphql';
  return 'core';
}

/** `retry-after` as delay-seconds or an HTTP date, in ms; undefined when absent or unreadable. */
function retryAfterMs(value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = Number(value);
  if (Number.isFinite(n)) return Math.max(0, n) * 1000;
  const at = Date.parse(String(value));
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

function seconds(ms: number): string {
  return `${Math.ceil(ms / 1000)} s`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
