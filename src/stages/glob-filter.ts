import picomatch from 'picomatch';

/**
 * The include/exclude filter of a source over skill folder paths (POSIX, relative; `.` = the root). No
 * include list means everything; exclude wins over include.
 */
export function globFilter(
  include?: readonly string[],
  exclude?: readonly string[],
): (path: string) => boolean {
  const inc = include && include.length > 0 ? picomatch([...include], { dot: true }) : undefined;
  const exc = exclude && exclude.length > 0 ? picomatch([...exclude], { dot: true }) : undefined;
  return (path) => (!inc || inc(path)) && !(exc && exc(path));
}
