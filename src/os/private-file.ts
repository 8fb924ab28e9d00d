/**
 * Files and directories that hold user data or the names of user data are private to the user
 * whatever umask the process inherited: files 0600, directories bucketfs creates 0700.
 *
 * SQLite creates its database 0644 (minus the umask) and gives the -wal, -shm and -journal files
 * the mode of the database. So a database is created 0600 *before* SQLite opens it, and one an
 * older version left looser is tightened, with its companions.
 */
import { chmodSync, closeSync, constants, mkdirSync, openSync, statSync } from "node:fs";

const SQLITE_COMPANIONS = ["-wal", "-shm", "-journal"];

/** Creates `path` (empty, mode 0600) if missing; makes an existing one 0600 if it is looser. */
export function privateFile(path: string): void {
  closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT, 0o600));
  tighten(path, 0o600);
}

/** A SQLite database at `path` that SQLite will open next: it and its companions are 0600. */
export function privateDatabase(path: string): void {
  if (path === ":memory:" || path === "") return;
  privateFile(path);
  for (const suffix of SQLITE_COMPANIONS) tighten(path + suffix, 0o600);
}

/**
 * `mkdir -p` with every directory it creates 0700. An existing directory is left as it is: it
 * may be a shared one the caller was pointed at (never chmod /tmp).
 */
export function privateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
}

function tighten(path: string, mode: number): void {
  let current: number;
  try {
    current = statSync(path).mode & 0o777;
  } catch {
    return; // absent: nothing to tighten
  }
  if ((current & ~mode) !== 0) chmodSync(path, current & mode);
}
