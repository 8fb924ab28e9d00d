/**
 * Where each byte of a file opened for writing over an existing object lives, so the object is
 * never downloaded whole: bytes the user changed are in the staging file; bytes not yet changed
 * are still in the base object (the version the file was opened from), and are fetched only
 * when read, or when a part that must be uploaded needs them. Unchanged parts are copied
 * server-side at upload time (see planParts).
 *
 * Three sets, all within the file's size:
 * - `changed`: written locally since the current upload began (or since open);
 * - `uploading`: written before the upload in progress began (what it is sending);
 * - `filled`: copies of base bytes that were fetched into staging.
 * Offsets at or past `baseValid` that no set holds are holes (zeros), as after a truncate-then-
 * extend on a local disk: `baseValid` is the base size, lowered by every truncate.
 */
import type { ByteRange } from "../store/object-store.js";
import { RangeSet } from "./range-set.js";

/** One version of an object, pinned by ETag. */
export interface BaseObject {
  key: string;
  etag: string;
  size: number;
}

/** What the upload journal keeps of a sparse file, so a crash does not lose the base or the changes. */
export interface SparseRecord {
  base: BaseObject;
  baseValid: number;
  changed: ByteRange[];
}

export class SparseContent {
  changed = new RangeSet();
  uploading = new RangeSet();
  filled = new RangeSet();
  baseValid: number;
  /** The smallest size the file had since the upload in progress began (truncates during it). */
  private lowWater = Number.POSITIVE_INFINITY;

  constructor(public base: BaseObject) {
    this.baseValid = base.size;
  }

  static fromRecord(record: SparseRecord): SparseContent {
    const content = new SparseContent(record.base);
    content.baseValid = record.baseValid;
    content.changed = RangeSet.of(record.changed);
    return content;
  }

  /** Everything needed to finish the upload after a crash: base, and every unsaved change. */
  toRecord(): SparseRecord {
    return { base: { ...this.base }, baseValid: this.baseValid, changed: this.unsaved().list() };
  }

  /** The bytes of [start, end) still only in the base object (to fetch before serving them). */
  missing(start: number, end: number): ByteRange[] {
    const present = this.unsaved();
    present.addAll(this.filled);
    return present.gaps(start, Math.min(end, this.baseValid));
  }

  /** True when [start, end) is unchanged base data, which an upload may copy server-side. */
  copyable(start: number, end: number): boolean {
    return end <= this.baseValid && !this.changed.intersects(start, end) && !this.uploading.intersects(start, end);
  }

  /** Every base byte has been fetched: the staging file alone holds the whole file. */
  get complete(): boolean {
    return this.missing(0, this.baseValid).length === 0;
  }

  /** Bytes written locally and not yet in the bucket. */
  get unsavedBytes(): number {
    return this.unsaved().bytes;
  }

  noteWrite(start: number, end: number): void {
    this.changed.add(start, end);
  }

  noteFill(start: number, end: number): void {
    this.filled.add(start, end);
  }

  truncate(size: number): void {
    for (const set of [this.changed, this.uploading, this.filled]) set.clip(size);
    this.baseValid = Math.min(this.baseValid, size);
    this.lowWater = Math.min(this.lowWater, size);
  }

  /** An upload starts: it sends what was changed until now; later writes count as new changes. */
  beginUpload(): void {
    this.uploading.addAll(this.changed);
    this.changed = new RangeSet();
    this.lowWater = Number.POSITIVE_INFINITY;
  }

  uploadFailed(): void {
    this.changed.addAll(this.uploading);
    this.uploading = new RangeSet();
  }

  /**
   * The upload made `uploaded` (of `size` bytes) the object: it is the new base, and the bytes
   * it sent are now copies of it. Changes made while it ran stay in `changed`.
   */
  uploadSucceeded(uploaded: BaseObject): void {
    this.filled.addAll(this.uploading);
    this.uploading = new RangeSet();
    this.base = uploaded;
    this.baseValid = Math.min(uploaded.size, this.lowWater);
    this.filled.clip(this.baseValid);
  }

  private unsaved(): RangeSet {
    const all = this.changed.clone();
    all.addAll(this.uploading);
    return all;
  }
}
