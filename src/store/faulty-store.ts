/**
 * An ObjectStore decorator that fails chosen calls, for tests and fault drills: every call of an
 * operation while a rule is active, or the next N calls. Failures are real StoreErrors, so the
 * layers above see exactly what a failing backend would give them.
 */
import { StoreError, type StoreErrorKind } from "./errors.js";
import type { ObjectStore } from "./object-store.js";

type Operation = Exclude<keyof ObjectStore, "capabilities" | "description">;

interface FaultRule {
  operations: Set<Operation>;
  kind: StoreErrorKind;
  /** Remaining failures; Infinity until cleared. */
  remaining: number;
}

export class FaultyStore implements ObjectStore {
  private rules: FaultRule[] = [];
  /** Calls not settled yet (tests wait for them instead of sleeping). */
  private readonly inflight = new Set<Promise<unknown>>();
  readonly capabilities: ObjectStore["capabilities"];
  readonly description: string;

  constructor(private readonly inner: ObjectStore) {
    this.capabilities = inner.capabilities;
    this.description = inner.description;
  }

  /** Fails `count` calls (default: all, until `heal`) of the given operations. */
  failNext(operations: Operation[], kind: StoreErrorKind = "Unreachable", count = Infinity): void {
    this.rules.push({ operations: new Set(operations), kind, remaining: count });
  }

  heal(): void {
    this.rules = [];
  }

  private check(operation: Operation): void {
    const rule = this.rules.find((r) => r.remaining > 0 && r.operations.has(operation));
    if (!rule) return;
    rule.remaining--;
    throw new StoreError(rule.kind, `injected fault: ${operation} (${rule.kind})`);
  }

  private async call<T>(operation: Operation, run: () => Promise<T>): Promise<T> {
    this.check(operation);
    const call = run();
    this.inflight.add(call);
    const done = (): void => void this.inflight.delete(call);
    call.then(done, done);
    return call;
  }

  /**
   * Resolves when no call is in flight after the event loop has had a turn (so work queued
   * behind a settled call has started): e.g. a "crash" in a test lets requests land first.
   */
  async idle(): Promise<void> {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.inflight.size === 0) return;
      await Promise.allSettled([...this.inflight]);
    }
  }

  checkAccess: ObjectStore["checkAccess"] = (signal) => this.call("checkAccess", () => this.inner.checkAccess(signal));
  head: ObjectStore["head"] = (req) => this.call("head", () => this.inner.head(req));
  get: ObjectStore["get"] = (req) => this.call("get", () => this.inner.get(req));
  list: ObjectStore["list"] = (req) => this.call("list", () => this.inner.list(req));
  put: ObjectStore["put"] = (req) => this.call("put", () => this.inner.put(req));
  copy: ObjectStore["copy"] = (req) => this.call("copy", () => this.inner.copy(req));
  delete: ObjectStore["delete"] = (req) => this.call("delete", () => this.inner.delete(req));
  createMultipart: ObjectStore["createMultipart"] = (req) =>
    this.call("createMultipart", () => this.inner.createMultipart(req));
  uploadPart: ObjectStore["uploadPart"] = (req) => this.call("uploadPart", () => this.inner.uploadPart(req));
  copyPart: ObjectStore["copyPart"] = (req) => this.call("copyPart", () => this.inner.copyPart(req));
  completeMultipart: ObjectStore["completeMultipart"] = (req) =>
    this.call("completeMultipart", () => this.inner.completeMultipart(req));
  abortMultipart: ObjectStore["abortMultipart"] = (req) =>
    this.call("abortMultipart", () => this.inner.abortMultipart(req));
}
