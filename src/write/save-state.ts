/**
 * What a DirtyFile knows of its object in the bucket: the version its data is based on, where
 * the next upload goes, which change was last saved, and the upload queue. Private to DirtyFile
 * (it holds one and changes it only from its own event methods).
 */
import type { Precondition } from "./uploader.js";

export class SaveState {
  /** ETag of the object the data is based on, when it existed. */
  baseEtag?: string;
  /** False when the base version is unknown (after a directory rename): uploads are unconditional. */
  conflictCheck = true;
  /** Set after a conflict: the data goes to a `.conflict-<ts>` sibling instead of the file's key. */
  conflictKey?: string;
  /** Counts changes; the upload of generation G leaves the file clean only if none happened meanwhile. */
  generation = 0;
  uploadedGeneration = 0;
  /** The last upload's failure, reported by every flush/fsync until an upload succeeds. */
  lastError?: unknown;
  /** True while an upload of the file runs. */
  running = false;
  /** Serialises uploads of the file. */
  private queue: Promise<unknown> = Promise.resolve();

  get dirty(): boolean {
    return this.generation !== this.uploadedGeneration;
  }

  /** What the object must still be for the next upload to replace it. */
  get precondition(): Precondition {
    if (this.conflictKey !== undefined || !this.conflictCheck) return { kind: "none" };
    return this.baseEtag === undefined ? { kind: "absent" } : { kind: "etag", etag: this.baseEtag };
  }

  /** Runs `work` after the uploads queued before it; `changed` is told when it starts and ends. */
  enqueue<T>(work: () => Promise<T>, changed: () => void): Promise<T> {
    const run = this.queue.then(async () => {
      this.running = true;
      changed();
      try {
        return await work();
      } finally {
        this.running = false;
        changed();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves when no upload runs or is queued. */
  idle(): Promise<unknown> {
    return this.queue;
  }
}
