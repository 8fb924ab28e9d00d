/**
 * Names from the IDC index (collection, patient, study, series) and from series listings
 * (instance files) become directory entries. One that cannot be a file name — empty, `.`, `..`,
 * containing `/` or NUL, longer than 255 bytes — would break the kernel's listing (a `/` makes
 * the whole READDIR fail with EIO) or show a bogus entry (a second `..`). Such entries are hidden,
 * and each is logged once: the same rule as for bucket keys (src/vfs/paths.ts). They cannot be
 * reached either, since a lookup only finds what a listing shows.
 */
import { createLogger, type Logger } from "../log/logger.js";
import { invalidNameReason } from "../vfs/paths.js";

/** Why `name` cannot be one directory entry, or undefined when it can. */
export function nameProblem(name: string): string | undefined {
  return invalidNameReason(name) ?? (name.includes("/") ? "contains /" : undefined);
}

export class HiddenNames {
  private readonly logged = new Set<string>();

  /** Without a logger, warnings go to stderr (the daemon's log file). */
  constructor(private readonly log: Logger = createLogger({ level: "warn" })) {}

  /** True when `name` can be shown in `dir`; otherwise false, and logged the first time. */
  showable(dir: string, name: string): boolean {
    const reason = nameProblem(name);
    if (reason === undefined) return true;
    const key = `${dir}\0${name}`;
    if (!this.logged.has(key)) {
      this.logged.add(key);
      this.log.warn({ path: dir, name, reason }, "IDC entry hidden: its name cannot be shown as a file name");
    }
    return false;
  }
}
