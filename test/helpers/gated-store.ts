/**
 * An ObjectStore wrapper that holds calls of one operation until the test lets them go, so a
 * test can act while an upload is in flight (signals, not sleeps: `entered` resolves when a
 * held call has arrived, `seen` when a call of another operation was made). A held call whose
 * request is aborted rejects at once with StoreError "Aborted", as a real backend would.
 */
import { StoreError } from "../../src/store/errors.js";
import type { ObjectStore } from "../../src/store/object-store.js";

type Operation = Exclude<keyof ObjectStore, "capabilities" | "description">;

export interface Gate {
  /** The store to give the filesystem. */
  store: ObjectStore;
  /** Resolves when the next held call arrives (call again for the one after it). */
  entered(): Promise<void>;
  /** Resolves when `operation` is first called on the gated store (never held). */
  seen(operation: Operation): Promise<void>;
  /** Lets every held call (and every later one) through. */
  open(): void;
  /** How many calls were held so far. */
  readonly held: number;
}

export function gateStore(inner: ObjectStore, operation: Operation): Gate {
  let isOpen = false;
  let held = 0;
  let letGo: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    letGo = resolve;
  });
  const arrivals: (() => void)[] = [];
  const arrived: Promise<void>[] = [];
  const watched = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  const watch = (name: string): { promise: Promise<void>; resolve: () => void } => {
    let entry = watched.get(name);
    if (!entry) {
      let resolve: () => void = () => undefined;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      entry = { promise, resolve };
      watched.set(name, entry);
    }
    return entry;
  };
  const hold = async (signal: AbortSignal | undefined): Promise<void> => {
    held++;
    const waiter = arrivals.shift();
    if (waiter) waiter();
    else arrived.push(Promise.resolve());
    const aborted = new Promise<never>((_, reject) => {
      const fail = (): void => reject(new StoreError("Aborted", `held ${String(operation)} aborted`));
      if (signal?.aborted) fail();
      else signal?.addEventListener("abort", fail, { once: true });
    });
    aborted.catch(() => undefined);
    await Promise.race([opened, aborted]);
  };
  const store = new Proxy(inner, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== "function") return value;
      const fn = value as (...a: unknown[]) => Promise<unknown>;
      return async (...args: unknown[]) => {
        watch(String(name)).resolve();
        if (name === operation && !isOpen) await hold((args[0] as { signal?: AbortSignal } | undefined)?.signal);
        return fn.apply(target, args);
      };
    },
  });
  return {
    store,
    entered: () => arrived.shift() ?? new Promise((resolve) => arrivals.push(resolve)),
    seen: (name) => watch(name).promise,
    open: () => {
      isOpen = true;
      letGo();
    },
    get held() {
      return held;
    },
  };
}
