/**
 * The IDC directory tree, as `idc download` lays it out with its default template:
 *   /<collection_id>/<PatientID>/<StudyInstanceUID>/<Modality>_<SeriesInstanceUID>/<crdc_instance_uuid>.dcm
 * Levels 1–4 come from the SQLite index; level 5 from the series listing (bucket LIST, cached on
 * disk). Everything is immutable for a given index version, so resolved listings are kept in an
 * LRU without expiry. Names that cannot be file names are left out at every level (names.ts).
 */
import { LRUCache } from "lru-cache";
import type { Logger } from "../log/logger.js";
import { notFound } from "../vfs/errors.js";
import type { IdcIndexDb, IndexEntry, SeriesRecord } from "./index-db.js";
import { HiddenNames, nameProblem } from "./names.js";
import type { InstanceEntry, SeriesListings } from "./series-listing.js";

export type IdcNode =
  | { level: "root"; parts: [] }
  | { level: "collection" | "patient" | "study"; parts: string[]; sizeMb: number }
  | { level: "series"; parts: string[]; sizeMb: number; series: SeriesRecord }
  | { level: "instance"; parts: string[]; series: SeriesRecord; instance: InstanceEntry };

export type DirChild =
  { name: string; kind: "dir"; sizeMb: number } | { name: string; kind: "file"; instance: InstanceEntry };

const LEVELS = ["root", "collection", "patient", "study", "series", "instance"] as const;

export class IdcTree {
  /** Child listings of index directories (levels 0–3), by path. */
  private readonly dirs = new LRUCache<string, Map<string, IndexEntry>>({ max: 10_000 });
  private readonly seriesRecords = new LRUCache<string, SeriesRecord>({ max: 10_000 });

  private readonly hidden: HiddenNames;

  constructor(
    readonly index: IdcIndexDb,
    readonly listings: SeriesListings,
    log?: Logger,
  ) {
    this.hidden = new HiddenNames(log);
  }

  static split(path: string): string[] {
    return path.split("/").filter((p) => p !== "");
  }

  /** Resolves a path; rejects with ENOENT for anything the (filtered) index does not show. */
  async resolve(path: string): Promise<IdcNode> {
    const parts = IdcTree.split(path);
    if (parts.length === 0) return { level: "root", parts: [] };
    if (parts.length > 5) throw notFound(path);
    const parentEntries = this.indexChildren(parts.slice(0, Math.min(parts.length, 4) - 1));
    const entry = parentEntries.get(parts[Math.min(parts.length, 4) - 1]);
    if (!entry) throw notFound(path);
    if (parts.length < 4)
      return { level: LEVELS[parts.length] as "collection" | "patient" | "study", parts, sizeMb: entry.sizeMb };
    const series = this.seriesAt(parts.slice(0, 4));
    if (!series) throw notFound(path);
    if (parts.length === 4) return { level: "series", parts, sizeMb: entry.sizeMb, series };
    const instance = (await this.instances(series)).find((i) => i.name === parts[4]);
    if (!instance) throw notFound(path);
    return { level: "instance", parts, series, instance };
  }

  /** The children of a directory node. */
  async children(node: IdcNode): Promise<DirChild[]> {
    if (node.level === "instance") return [];
    if (node.level === "series") {
      const files = await this.instances(node.series);
      return files.map((instance) => ({ name: instance.name, kind: "file", instance }));
    }
    return [...this.indexChildren(node.parts).values()].map((e) => ({ name: e.name, kind: "dir", sizeMb: e.sizeMb }));
  }

  /** The series record behind a 4-part path (collection, patient, study, series dir). */
  seriesAt(parts: string[]): SeriesRecord | undefined {
    const key = parts.join("/");
    let record = this.seriesRecords.get(key);
    if (!record) {
      record = this.index.series(parts[0], parts[1], parts[2], parts[3]);
      if (record) this.seriesRecords.set(key, record);
    }
    return record;
  }

  /**
   * The instance files of a series. The listing logs the names it leaves out; this also drops
   * any such name a listing cached by an older version still holds.
   */
  private async instances(series: SeriesRecord): Promise<InstanceEntry[]> {
    return (await this.listings.list(series.aws_bucket, series.crdc_series_uuid)).filter(
      (i) => nameProblem(i.name) === undefined,
    );
  }

  /** Children of a directory at levels 0–3, from the index (names that are file names only), memoised. */
  private indexChildren(parts: string[]): Map<string, IndexEntry> {
    const key = parts.join("/");
    let entries = this.dirs.get(key);
    if (entries) return entries;
    const rows =
      parts.length === 0
        ? this.index.collections().map((c) => ({ name: c.collection_id, sizeMb: c.size_mb }))
        : parts.length === 1
          ? this.index.patients(parts[0])
          : parts.length === 2
            ? this.index.studies(parts[0], parts[1])
            : this.index.seriesDirs(parts[0], parts[1], parts[2]);
    const dir = `/${key}`;
    entries = new Map(rows.filter((r) => this.hidden.showable(dir, r.name)).map((r) => [r.name, r]));
    this.dirs.set(key, entries);
    return entries;
  }
}
