/**
 * Takes over the uploads a previous run left in the upload journal: each staged file is served
 * from its staging file (reads and stat see the data at once) while its upload runs in the
 * background. Failures stay journaled as "failed"; incomplete data is never uploaded.
 */
import { constants } from "node:fs";
import { access, rm } from "node:fs/promises";
import type { Logger } from "../log/logger.js";
import { DirtyFile } from "./dirty-file.js";
import type { JournalEntry, UploadJournal } from "./journal.js";
import { SparseContent } from "./sparse-content.js";
import type { StagingArea } from "./staging.js";

export interface RecoveryDeps {
  journal: UploadJournal;
  staging: StagingArea;
  log: Logger;
  keyOf(path: string): string;
  makeSparse(file: DirtyFile, content: SparseContent): void;
  /** Shows the file at its path unless a file is there already. */
  showIfFree(file: DirtyFile): void;
  isShown(file: DirtyFile): boolean;
  sync(file: DirtyFile): Promise<void>;
  releaseIfIdle(file: DirtyFile): Promise<void>;
}

export interface RecoveryResult {
  adopted: number;
  /** Resolves when every adopted upload has finished. */
  done: Promise<{ recovered: number; failed: number }>;
}

export async function recoverJournal(deps: RecoveryDeps): Promise<RecoveryResult> {
  const latest = new Map<string, JournalEntry>();
  const copies: JournalEntry[] = [];
  for (const entry of deps.journal.entries()) {
    if (entry.state === "incomplete") {
      deps.log.warn(
        { path: entry.path, stagingFile: entry.stagingFile },
        "not uploading incomplete data kept by a previous run",
      );
      continue;
    }
    // A conflict copy is data of its own, not a version of the file at its path: never superseded.
    if (isConflictCopy(entry, deps)) {
      copies.push(entry);
      continue;
    }
    const stale = latest.get(entry.path);
    if (stale) await dropEntry(stale, "superseded by a later version of the same file", deps);
    latest.set(entry.path, entry);
  }
  const files: DirtyFile[] = [];
  for (const entry of [...copies, ...latest.values()]) {
    const file = await adopt(entry, deps);
    if (file) files.push(file);
  }
  if (files.length > 0) deps.log.info({ files: files.map((f) => f.path) }, "finishing uploads left by a previous run");
  return { adopted: files.length, done: uploadRecovered(files, deps) };
}

async function uploadRecovered(files: DirtyFile[], deps: RecoveryDeps): Promise<{ recovered: number; failed: number }> {
  const results = await Promise.allSettled(
    files.map(async (file) => {
      try {
        await deps.sync(file);
      } catch (err) {
        // A conflict copy (not shown at its path) that failed again stays journaled for the next
        // mount; nothing here reaches it any more, so its staging file is closed now.
        if (!deps.isShown(file)) await file.staging.handle.close().catch(() => undefined);
        throw err;
      }
      await deps.releaseIfIdle(file);
    }),
  );
  const failed = results.filter((r) => r.status === "rejected").length;
  if (files.length > 0)
    deps.log.info({ recovered: files.length - failed, failed }, "finished uploads left by a previous run");
  return { recovered: files.length - failed, failed };
}

function isConflictCopy(entry: JournalEntry, deps: RecoveryDeps): boolean {
  return entry.state === "conflict" || entry.key !== deps.keyOf(entry.path);
}

async function adopt(entry: JournalEntry, deps: RecoveryDeps): Promise<DirtyFile | undefined> {
  const exists = await access(entry.stagingFile, constants.R_OK).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await dropEntry(entry, "its staging file is gone", deps);
    return undefined;
  }
  const staging = await deps.staging.reopen(entry.stagingFile);
  const key = deps.keyOf(entry.path);
  const file = new DirtyFile({
    path: entry.path,
    key,
    staging,
    metadata: entry.metadata,
    baseEtag: entry.baseEtag,
    contentType: entry.contentType,
    size: entry.size,
    conflictCheck: entry.conflictCheck,
    conflictKey: entry.key !== key ? entry.key : undefined,
  });
  if (entry.sparse) deps.makeSparse(file, SparseContent.fromRecord(entry.sparse));
  file.markChanged();
  // A conflict copy is not the file at its path: upload it without showing it there.
  if (file.conflictKey === undefined) deps.showIfFree(file);
  return file;
}

async function dropEntry(entry: JournalEntry, why: string, deps: RecoveryDeps): Promise<void> {
  deps.log.warn({ path: entry.path, stagingFile: entry.stagingFile }, `dropping journaled upload: ${why}`);
  deps.journal.remove(entry.stagingFile);
  await rm(entry.stagingFile, { force: true });
}
