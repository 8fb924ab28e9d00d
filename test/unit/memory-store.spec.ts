import { MemoryStore } from "../../src/store/memory/memory-store.js";
import { describeObjectStoreContract } from "../contract/object-store.contract.js";

describeObjectStoreContract("MemoryStore", async () => new MemoryStore());
