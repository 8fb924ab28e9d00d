/**
 * Mapping between mount paths (`/a/b`) and object keys (`<prefix>a/b`). A directory `a` is the
 * key prefix `<prefix>a/`, and may also have a zero-byte marker object with that exact key.
 *
 * Some keys cannot be file names: empty segments (`a//b`), `.` and `..`, segments longer than
 * 255 bytes, or NUL. Those objects are hidden from listings (and logged once by the caller); they
 * can never be reached through the mount, so no path can escape it. (The IDC tree applies the same
 * rule to names from its index: src/idc/names.ts.)
 *
 * Names are UTF-8, as keys are. The native binding refuses a path that is not valid UTF-8 with
 * EILSEQ (decodePath in src/fuse/native-binding.ts), so `$'\xff'` and `$'\xfe'` can never both
 * become U+FFFD and alias one key. Under the fuse-native fallback (`--fuse-binding fuse-native`)
 * paths arrive already decoded, invalid bytes replaced by U+FFFD: a name that did not round-trip
 * cannot be told from one that really contains U+FFFD, so there such names do alias.
 */
import { FsError } from "./errors.js";

export const NAME_MAX = 255;
/** S3's limit on key length, in UTF-8 bytes. */
export const KEY_MAX = 1024;

export class KeyMapper {
  /** `prefix` is "" or ends with "/". */
  constructor(readonly prefix: string) {}

  fileKey(path: string): string {
    const key = this.prefix + path.replace(/^\/+/, "");
    if (Buffer.byteLength(key) > KEY_MAX)
      throw new FsError("ENAMETOOLONG", `object key would exceed ${KEY_MAX} bytes: ${path}`);
    return key;
  }

  /** The prefix under which a directory's children live ("" for the root of an unprefixed mount). */
  dirPrefix(path: string): string {
    return path === "/" ? this.prefix : this.fileKey(path) + "/";
  }

  /** The mount path of a key under this mapper's prefix. */
  pathOf(key: string): string {
    return "/" + key.slice(this.prefix.length).replace(/\/$/, "");
  }
}

export function parentOf(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

/** Why a single key segment cannot be shown as a file name, or undefined when it can. */
export function invalidNameReason(name: string): string | undefined {
  if (name === "") return "empty path segment";
  if (name === "." || name === "..") return `"${name}" segment`;
  if (name.includes("\0")) return "NUL character";
  if (Buffer.byteLength(name) > NAME_MAX) return `segment longer than ${NAME_MAX} bytes`;
  return undefined;
}

/** Why a key (relative to the mount prefix) cannot be reached through the mount, if it cannot. */
export function invalidKeyReason(relativeKey: string): string | undefined {
  const segments = relativeKey.replace(/\/$/, "").split("/");
  for (const segment of segments) {
    const reason = invalidNameReason(segment);
    if (reason) return reason;
  }
  return undefined;
}
