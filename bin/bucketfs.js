#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/ (npm run build).
// The SDK warns on every start that future releases need Node 22; bucketfs supports Node 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { main } = await import("../dist/cli/main.js");

await main(process.argv);
