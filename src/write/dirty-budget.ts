/**
 * `--max-dirty`: a cap on data written through the mount but not yet uploaded. A writer that
 * would go over it waits until uploads in progress bring the total back under the cap. When
 * nothing is uploading (files written but not yet closed), waiting could never end, so the
 * write proceeds; the staging disk is then the limit, and a full one gives the writer ENOSPC.
 */
export interface DirtyMeasure {
  /** Bytes staged and not yet uploaded (or in flight). */
  dirtyBytes: number;
  /** True while some upload is running that will reduce dirtyBytes. */
  draining: boolean;
}

const POLL_MS = 20;

export class DirtyBudget {
  constructor(
    readonly maxBytes: number,
    private readonly measure: () => DirtyMeasure,
  ) {}

  /** Resolves when a write may proceed. */
  async admit(): Promise<void> {
    for (;;) {
      const { dirtyBytes, draining } = this.measure();
      if (dirtyBytes <= this.maxBytes || !draining) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}
