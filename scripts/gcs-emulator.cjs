#!/usr/bin/env node
// Starts the Cloud Storage emulator that ships inside the npm package firebase-tools (a pinned
// devDependency), offline: no Java, no download, no emulator hub. Used by the integration and
// e2e tiers (test/helpers/global-setup.ts via scripts/gcs-emulator.sh) and by scripts/bench-gcs.ts.
//
// Why not `firebase emulators:start`: it refuses Java < 21 and downloads a rules-runtime jar at
// start. That jar only evaluates Firebase Security Rules for the Firebase-SDK routes (/v0/...);
// the GCS JSON API routes that @google-cloud/storage uses go through the emulator's admin storage
// layer and never consult rules, so we stub the runtime and drive StorageEmulator directly.
// These are firebase-tools internals, not a public API: keep firebase-tools pinned.
//
// The stock emulator lacks parts of the GCS JSON API that bucketfs relies on (compose,
// preconditions, bucket create, chunked resumable uploads, 416 on ranges past the end...);
// gcs-emulator-overlay.cjs adds them so the production code can stay true to real GCS.
//
// Usage: node scripts/gcs-emulator.cjs [--host 127.0.0.1] [--port 9230]
// Prints "READY http://HOST:PORT" once the port answers; stops cleanly on SIGTERM/SIGINT.
// Blobs go to $TMPDIR/firebase/storage/blobs: give each instance its own TMPDIR.
"use strict";
const path = require("node:path");

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const host = arg("host", "127.0.0.1");
const port = Number(arg("port", "9230"));
const ftDir = path.dirname(require.resolve("firebase-tools/package.json", { paths: [__dirname, process.cwd()] }));
const lib = (p) => require(path.join(ftDir, "lib", p));

require("./gcs-emulator-overlay.cjs")(ftDir);

const { StorageRulesRuntime } = lib("emulator/storage/rules/runtime");
StorageRulesRuntime.prototype.start = async function start() {
  this._alive = false;
};
StorageRulesRuntime.prototype.stop = async function stop() {};

const { StorageEmulator } = lib("emulator/storage");
const { EmulatorRegistry } = lib("emulator/registry");
const { Emulators } = lib("emulator/types");

(async () => {
  const emulator = new StorageEmulator({ host, port, projectId: "demo-bucketfs", rules: [], auto_download: false });
  await EmulatorRegistry.start(emulator);
  process.stdout.write(`READY http://${host}:${port}\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await EmulatorRegistry.stop(Emulators.STORAGE);
    } catch (err) {
      console.error(err);
    }
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
