import { describeObjectStoreContract } from "../contract/object-store.contract.js";
import { freshBucket, s3Store } from "../helpers/s3.js";

describeObjectStoreContract("S3Store on Ceph RGW", async () => s3Store(await freshBucket("contract")));
