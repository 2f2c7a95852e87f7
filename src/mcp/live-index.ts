import { statSync } from 'node:fs';
import { openIndex, type OpenIndexOptions, type SkillIndex } from '../reader/index.js';

interface Opened {
  index: SkillIndex;
  /** Device and inode of the file when it was opened. */
  identity: string;
  /** Calls still running on it: a replaced handle is closed when this drops to 0. */
  inFlight: number;
  retired: boolean;
}

function identityOf(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * The index the MCP server reads. A live WAL file needs nothing special: every reader call sees the last
 * committed batch, and the reader reloads its in-memory tables when `PRAGMA data_version` moves. A published
 * snapshot is different: `publish` replaces the file by rename, and an open connection would keep reading the
 * old inode for ever. So before each call the path is stat'ed (microseconds); when it names another file, a
 * new reader is opened for the calls that follow, and the old one is closed once its last call returns.
 */
export class LiveIndex {
  private current: Opened;
  private reopening: Promise<void> | undefined;

  private constructor(
    private readonly path: string,
    private readonly options: OpenIndexOptions,
    first: Opened,
  ) {
    this.current = first;
  }

  static async open(path: string, options: OpenIndexOptions = {}): Promise<LiveIndex> {
    const identity = identityOf(path) ?? '';
    const index = await openIndex(path, options);
    return new LiveIndex(path, options, { index, identity, inFlight: 0, retired: false });
  }

  /** Runs `fn` on the freshest reader; the reader stays open until `fn` settles. */
  async use<T>(fn: (index: SkillIndex) => T | Promise<T>): Promise<T> {
    await this.followReplacement();
    const opened = this.current;
    opened.inFlight += 1;
    try {
      return await fn(opened.index);
    } finally {
      opened.inFlight -= 1;
      if (opened.retired && opened.inFlight === 0) await opened.index.close();
    }
  }

  private async followReplacement(): Promise<void> {
    if (this.reopening) return this.reopening;
    const identity = identityOf(this.path);
    // Missing for a moment (between unlink and rename elsewhere), or unchanged: keep the open reader.
    if (identity === undefined || identity === this.current.identity) return;
    this.reopening = (async () => {
      try {
        const index = await openIndex(this.path, this.options);
        const old = this.current;
        this.current = { index, identity, inFlight: 0, retired: false };
        old.retired = true;
        if (old.inFlight === 0) await old.index.close();
      } catch {
        // Not an index (yet): a half-copied file cannot appear through rename, but a hand-copied one can.
        // Keep serving the reader that works; the next call looks again.
      } finally {
        this.reopening = undefined;
      }
    })();
    return this.reopening;
  }

  async close(): Promise<void> {
    this.current.retired = true;
    if (this.current.inFlight === 0) await this.current.index.close();
  }
}
