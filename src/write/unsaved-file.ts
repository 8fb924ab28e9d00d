/** A file with changes not in the bucket yet, as plain data for status, metrics and shutdown. */
import type { DirtyFile } from "./dirty-file.js";

export interface UnsavedFile {
  path: string;
  /** The object key of the path, and the key the next upload writes (a conflict copy's differs). */
  key: string;
  uploadKey: string;
  /** One of the write-back states (see write/dirty-state.ts). */
  state: string;
  size: number;
  /** Where the data is kept until it is uploaded. */
  stagingPath: string;
  /** True when the last upload failed (it is retried on the next flush). */
  failed: boolean;
  /** The last upload's error message, when it failed with one. */
  lastError?: string;
}

export function unsavedRecord(file: DirtyFile): UnsavedFile {
  const err = file.lastError;
  return {
    path: file.path,
    key: file.key,
    uploadKey: file.uploadKey,
    state: file.state,
    size: file.size,
    stagingPath: file.staging.path,
    failed: err !== undefined,
    lastError: err instanceof Error ? err.message : undefined,
  };
}
