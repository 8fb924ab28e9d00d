/**
 * Who asked: the uid, gid, pid and umask of the process behind the FUSE operation being served.
 * The native binding calls each operation inside `runAs`, so a layer (the audit log, owners of
 * new files) can ask `currentCaller()` without every signature carrying it. Undefined under the
 * fuse-native binding, which does not pass the caller, and outside FUSE operations.
 *
 * It is a synchronous slot, not AsyncLocalStorage (whose promise hooks would tax every promise
 * of the data path): read it at the start of an operation, before the first `await`.
 */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
  umask: number;
}

let current: Caller | undefined;

export function runAs<T>(caller: Caller, work: () => T): T {
  const previous = current;
  current = caller;
  try {
    return work();
  } finally {
    current = previous;
  }
}

export function currentCaller(): Caller | undefined {
  return current;
}
