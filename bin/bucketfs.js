#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/ (npm run build).
// The SDK warns on every start that future releases need Node 22; bucketfs supports Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
// Node >= 22.1 keeps V8's compiled code of every module on disk and starts faster on the next
// run; Node 20 has no such cache (the call is absent there) and starts as before.
const { enableCompileCache } = await import("node:module");
enableCompileCache?.();
const { main } = await import("../dist/cli/main.js");

await main(process.argv);
