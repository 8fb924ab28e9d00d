/**
 * The JSON API's object resources and list pages, and how they map onto the ObjectStore
 * contract (the generation is the ETag; custom metadata names are lower-cased). Apart from
 * GcsStore so the store reads as the requests it sends, with the reading of the answers in one
 * place.
 */
import { StoreError } from "../errors.js";
import type { ListPage, ListRequest, ObjectInfo } from "../object-store.js";
import { PARTS_PREFIX } from "./gcs-compose.js";

export interface GcsObjectResource {
  name?: string;
  size?: string | number;
  generation?: string | number;
  updated?: string;
  contentType?: string;
  metadata?: Record<string, string | number | boolean | null>;
}

export interface GcsListResponse {
  items?: GcsObjectResource[];
  prefixes?: string[];
  nextPageToken?: string;
}

/** One objects.list page as a ListPage; `req` is the request that asked for it. */
export function toListPage(out: GcsListResponse, req: ListRequest): ListPage {
  const nextToken = out.nextPageToken || undefined;
  // Callers page until there is no token: one that does not advance would loop forever.
  if (nextToken !== undefined && nextToken === req.token) {
    throw new StoreError(
      "Other",
      `objects.list under ${JSON.stringify(req.prefix)} returned the page token it was given: the server is not advancing the listing; stopped`,
      req.prefix,
    );
  }
  // The temporaries of in-flight multipart uploads are the store's bookkeeping, not user data:
  // hidden from every listing except one that asks for them (cleanup does).
  const visible = (name: string): boolean => req.prefix.startsWith(PARTS_PREFIX) || !name.startsWith(PARTS_PREFIX);
  return {
    objects: (out.items ?? [])
      .filter((o) => visible(o.name ?? ""))
      .map((o) => ({
        key: o.name ?? "",
        size: Number(o.size ?? 0),
        etag: String(o.generation ?? ""),
        lastModified: new Date(o.updated ?? 0),
      })),
    prefixes: (out.prefixes ?? []).filter(visible),
    nextToken,
  };
}

export function toObjectInfo(key: string, resource: GcsObjectResource): ObjectInfo {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(resource.metadata ?? {})) {
    if (value !== null && value !== undefined) metadata[name.toLowerCase()] = String(value);
  }
  return {
    key,
    size: Number(resource.size ?? 0),
    etag: String(resource.generation ?? ""),
    lastModified: new Date(resource.updated ?? 0),
    metadata,
    contentType: resource.contentType,
  };
}
