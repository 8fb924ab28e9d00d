/**
 * Object versions that open files are reading. The chunk cache drops an object's other versions
 * when a new one is first fetched; a version still open is kept, so its reader goes on reading
 * the bytes it opened (the store may no longer have them: the object was replaced) instead of
 * failing its If-Match GET half-way through the file.
 */
export class VersionPins {
  /** Open count by key, then by ETag. */
  private readonly open = new Map<string, Map<string, number>>();

  /** Pins `etag` of `key` until the returned function is called (once; later calls do nothing). */
  pin(key: string, etag: string): () => void {
    const versions = this.open.get(key) ?? new Map<string, number>();
    this.open.set(key, versions);
    versions.set(etag, (versions.get(etag) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (versions.get(etag) ?? 1) - 1;
      if (left > 0) versions.set(etag, left);
      else versions.delete(etag);
      if (versions.size === 0 && this.open.get(key) === versions) this.open.delete(key);
    };
  }

  /** The ETags of `key` that are open. */
  pinned(key: string): ReadonlySet<string> {
    return new Set(this.open.get(key)?.keys());
  }
}
