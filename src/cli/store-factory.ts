/** Builds the ObjectStore for a mount source. */
import type { MountConfig } from "../config/schema.js";
import type { Source } from "../config/source.js";
import type { ObjectStore } from "../store/object-store.js";
import { MemoryStore } from "../store/memory/memory-store.js";
import { S3Store } from "../store/s3/s3-store.js";
import { UsageError } from "./preflight.js";

export function createStore(source: Source, config: MountConfig): ObjectStore {
  switch (source.scheme) {
    case "s3":
      return new S3Store({
        bucket: source.bucket,
        endpoint: config.endpoint,
        region: config.region,
        profile: config.profile,
        noSignRequest: config.noSignRequest,
        pathStyle: config.pathStyle || Boolean(config.endpoint),
      });
    case "mem":
      // An empty in-memory bucket: for trying bucketfs out and for tests; nothing is persisted.
      return new MemoryStore({ bucket: source.bucket });
    case "gs":
      throw new UsageError("gs:// sources need the GCS backend, which this build does not include yet");
  }
}
