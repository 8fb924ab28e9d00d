/**
 * The states of a file being written, and which moves between them are allowed.
 *
 * - clean: nothing unsaved (opened and not changed, or everything uploaded).
 * - streaming: written front to back from empty; whole parts upload while it is written.
 * - sparse: unsaved changes, and some bytes are still only in the base object.
 * - staged: unsaved changes, and the staging file holds every byte.
 * - uploading: an upload of the file is running.
 * - failed: the last upload failed (retried on the next flush), or a staging write failed.
 * - conflict: the object changed in the bucket; this data goes to a `.conflict-<ts>` copy.
 *
 * A DirtyFile derives its state from its private fields after every event and moves along this
 * table; a move the table does not list is a bug in the write path. Under test (VITEST or
 * BUCKETFS_STRICT_STATES=1) it throws; in a mount it is counted and the state still follows the
 * data, so a missing edge never loses a write.
 */
import type { SaveState } from "./save-state.js";
import type { SparseContent } from "./sparse-content.js";

export type DirtyState = "clean" | "streaming" | "sparse" | "staged" | "uploading" | "failed" | "conflict";

/**
 * The state a DirtyFile's private fields describe: its save state, a failed staging write, whether
 * it is written front to back, and its sparse bookkeeping. The order says which wins when several hold.
 */
export function classify(
  saves: SaveState,
  incomplete: Error | undefined,
  frontToBack: boolean,
  sparse: SparseContent | undefined,
): DirtyState {
  if (saves.running) return "uploading";
  if (saves.conflictKey !== undefined) return "conflict";
  if (incomplete || saves.lastError !== undefined) return "failed";
  if (!saves.dirty) return "clean";
  if (frontToBack) return "streaming";
  if (sparse && !sparse.complete) return "sparse";
  return "staged";
}

export const TRANSITIONS: Readonly<Record<DirtyState, readonly DirtyState[]>> = {
  clean: ["streaming", "sparse", "staged", "uploading", "failed", "conflict"],
  streaming: ["staged", "uploading", "failed"],
  sparse: ["staged", "uploading", "failed"],
  staged: ["streaming", "uploading", "failed"],
  uploading: ["clean", "streaming", "sparse", "staged", "failed", "conflict"],
  failed: ["uploading"],
  conflict: ["uploading"],
};

export class IllegalTransition extends Error {
  override readonly name = "IllegalTransition";
  constructor(
    readonly from: DirtyState,
    readonly to: DirtyState,
    path: string,
  ) {
    super(`${path}: illegal write-back state change ${from} -> ${to}`);
  }
}

const strict = process.env["VITEST"] !== undefined || process.env["BUCKETFS_STRICT_STATES"] === "1";

/** Illegal moves seen in a mount (non-strict mode), for diagnosis. */
export let illegalTransitions = 0;

/** Checks a move against the table; throws in strict mode. */
export function checkTransition(from: DirtyState, to: DirtyState, path: string): void {
  if (from === to || TRANSITIONS[from].includes(to)) return;
  if (strict) throw new IllegalTransition(from, to, path);
  illegalTransitions++;
}
