/**
 * Removes credentials from a URL-like string before it is logged, stored or shown:
 * `https://user:token@host/x` → `https://***@host/x`, scp-style `user:token@host:repo` → `***@host:repo`,
 * and query parameters named like secrets are masked. Plain paths and `git@host:owner/repo` (an SSH user name,
 * not a secret) pass unchanged.
 */
export function redactUrl(text: string): string {
  return (
    text
      // scheme://userinfo@ — userinfo may itself contain '/' or '@' when a tool did not encode it
      .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s]*@(?=[^\s@/]+(?:[/:?#]|$|\s))/gi, '$1***@')
      // scp-style user:password@host: (a colon in the user part means a secret follows it)
      .replace(/(^|[\s"'(=])[^\s@/:"']+:[^\s@/"']+@(?=[^\s@/:]+:)/g, '$1***@')
      .replace(/([?&](?:access_token|private_token|token|password|key|secret)=)[^&\s]+/gi, '$1***')
  );
}
