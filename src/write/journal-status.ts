/**
 * `bucketfs status` and the upload gauges, fed by the upload journal: every journaled upload
 * (pending, in flight with bytes sent so far, failed with its error, and where its data is kept),
 * plus files being written that have not reached a flush yet.
 */
import type { UploadState, UploadStatusProvider } from "../metrics/status.js";
import type { UploadJournal } from "./journal.js";
import type { UnsavedFile } from "./unsaved-file.js";

export function journalUploadStatus(
  journal: UploadJournal,
  unsaved: () => UnsavedFile[],
  sentBytes: (key: string) => number | undefined,
): UploadStatusProvider {
  return {
    uploads: (): UploadState[] => {
      const states = new Map<string, UploadState>();
      for (const entry of journal.entries()) {
        const sent = entry.state === "pending" ? sentBytes(entry.key) : undefined;
        states.set(entry.stagingFile, {
          path: entry.path,
          state: entry.state !== "pending" ? "failed" : sent !== undefined ? "uploading" : "pending",
          sizeBytes: entry.size,
          sentBytes: sent,
          error: entry.error,
          stagingFile: entry.stagingFile,
        });
      }
      for (const file of unsaved()) {
        if (states.has(file.stagingPath)) continue;
        // Single PUTs are journaled only if they fail: one in flight shows here, with its progress.
        const sent = sentBytes(file.uploadKey);
        states.set(file.stagingPath, {
          path: file.path,
          state: sent !== undefined ? "uploading" : "pending",
          sizeBytes: file.size,
          sentBytes: sent,
          stagingFile: file.stagingPath,
        });
      }
      return [...states.values()];
    },
  };
}
