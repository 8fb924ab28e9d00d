// The hooks-thread half of count-modules.mjs: one line per ES module (or CommonJS entry) loaded.
import { appendFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

let file = "";
export function initialize(data) {
  file = data.file;
}
export async function load(url, context, nextLoad) {
  if (url.startsWith("file:")) appendFileSync(file, `${fileURLToPath(url)}\n`);
  return nextLoad(url, context);
}
