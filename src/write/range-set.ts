/**
 * A set of byte offsets kept as sorted, disjoint, non-adjacent half-open ranges: which parts of
 * a sparse staging file hold data. Small on purpose: a file edited in a few places has a few
 * ranges, so linear scans are cheaper than any tree.
 */
import type { ByteRange } from "../store/object-store.js";

export class RangeSet {
  /** INVARIANT: sorted by start; for consecutive a, b: a.end < b.start; every range non-empty. */
  private ranges: ByteRange[] = [];

  static of(ranges: readonly ByteRange[]): RangeSet {
    const set = new RangeSet();
    for (const r of ranges) set.add(r.start, r.end);
    return set;
  }

  /** The ranges, in order (copies). */
  list(): ByteRange[] {
    return this.ranges.map((r) => ({ ...r }));
  }

  get bytes(): number {
    return this.ranges.reduce((sum, r) => sum + r.end - r.start, 0);
  }

  get empty(): boolean {
    return this.ranges.length === 0;
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    const before = this.ranges.filter((r) => r.end < start);
    const after = this.ranges.filter((r) => r.start > end);
    const touching = this.ranges.slice(before.length, this.ranges.length - after.length);
    const merged = {
      start: Math.min(start, touching[0]?.start ?? start),
      end: Math.max(end, touching.at(-1)?.end ?? end),
    };
    this.ranges = [...before, merged, ...after];
  }

  addAll(other: RangeSet): void {
    for (const r of other.ranges) this.add(r.start, r.end);
  }

  /** Removes every offset at or past `size`. */
  clip(size: number): void {
    this.ranges = this.ranges
      .filter((r) => r.start < size)
      .map((r) => ({ start: r.start, end: Math.min(r.end, size) }));
  }

  intersects(start: number, end: number): boolean {
    if (end <= start) return false;
    return this.ranges.some((r) => r.start < end && r.end > start);
  }

  /** The parts of [start, end) that are not in the set, in order. */
  gaps(start: number, end: number): ByteRange[] {
    const out: ByteRange[] = [];
    let cursor = start;
    for (const r of this.ranges) {
      if (r.end <= cursor) continue;
      if (r.start >= end) break;
      if (r.start > cursor) out.push({ start: cursor, end: r.start });
      cursor = Math.max(cursor, r.end);
    }
    if (cursor < end) out.push({ start: cursor, end });
    return out;
  }

  clone(): RangeSet {
    return RangeSet.of(this.ranges);
  }
}
