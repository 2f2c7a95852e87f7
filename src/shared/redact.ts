/**
 * Removes credentials from a URL-like string before it is logged, stored or shown:
 * `https://user:token@host/x` → `https://***@host/x`; query parameters named like secrets are masked too.
 * Plain paths and `git@host:owner/repo` (an SSH user, not a secret) pass unchanged.
 */
export function redactUrl(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@')
    .replace(/([?&](?:access_token|token|password|key|secret)=)[^&\s]+/gi, '$1***');
}
