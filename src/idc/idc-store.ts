/**
 * IDC's store: one ReadableStore over IDC's several public buckets, addressed as
 * `<aws_bucket>/<key>`, so the ordinary read chain (chunk cache → ranged GET), the metrics
 * decorator and the series listing all work on it unchanged. Each bucket is served by its own
 * unsigned store (the mount builds them: AWS, the Google mirror, or --endpoint). It offers no
 * change at all: the type has no put, copy or delete to refuse.
 */
import { StoreError } from "../store/errors.js";
import type {
  GetRequest,
  HeadRequest,
  ListPage,
  ListRequest,
  ObjectInfo,
  ReadableStore,
  StoreCapabilities,
} from "../store/object-store.js";
import { PRIMARY_BUCKET } from "./buckets.js";

const READ_ONLY_CAPABILITIES: StoreCapabilities = {
  readOnly: true,
  minPartSize: 5 * 1024 * 1024,
  maxParts: 10_000,
  maxCopySize: 0,
  maxCopyPartSize: 0,
};

function split(key: string): [bucket: string, key: string] {
  const cut = key.indexOf("/");
  if (cut <= 0) throw new StoreError("NotFound", `not an IDC object key (expected <bucket>/<key>): ${key}`, key);
  return [key.slice(0, cut), key.slice(cut + 1)];
}

export class IdcStore implements ReadableStore {
  readonly capabilities = READ_ONLY_CAPABILITIES;
  readonly description: string;
  private readonly stores = new Map<string, ReadableStore>();

  /** `storeFor` maps an index aws_bucket to the store that serves it (created once per bucket). */
  constructor(
    private readonly storeFor: (awsBucket: string) => ReadableStore,
    where: string,
  ) {
    this.description = `idc (${where})`;
  }

  private store(bucket: string): ReadableStore {
    let store = this.stores.get(bucket);
    if (!store) {
      store = this.storeFor(bucket);
      this.stores.set(bucket, store);
    }
    return store;
  }

  /** Anonymous access to the main bucket proves the endpoint is reachable and public reads work. */
  checkAccess(signal?: AbortSignal): Promise<void> {
    return this.store(PRIMARY_BUCKET).checkAccess(signal);
  }

  async head(req: HeadRequest): Promise<ObjectInfo> {
    const [bucket, key] = split(req.key);
    return { ...(await this.store(bucket).head({ ...req, key })), key: req.key };
  }

  get(req: GetRequest): Promise<Buffer> {
    const [bucket, key] = split(req.key);
    return this.store(bucket).get({ ...req, key });
  }

  async list(req: ListRequest): Promise<ListPage> {
    const [bucket, prefix] = split(req.prefix);
    const page = await this.store(bucket).list({ ...req, prefix });
    return {
      objects: page.objects.map((o) => ({ ...o, key: `${bucket}/${o.key}` })),
      prefixes: page.prefixes.map((p) => `${bucket}/${p}`),
      nextToken: page.nextToken,
    };
  }
}
