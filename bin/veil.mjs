#!/usr/bin/env node
// Entry point for the `veil` command. It runs the build in dist/cli/ (made by `npm install`, or
// `npm run build`: scripts/build-cli.mjs) when that build is newer than every file of src/ and
// web/ (whose build.ts it holds), and otherwise runs src/ through tsx, so that an edit is never
// masked by an old build.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";

// `veil --version` needs nothing loaded: answer before anything else starts.
if (process.argv.length === 3 && (process.argv[2] === "--version" || process.argv[2] === "-V")) {
  const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  process.stdout.write(`${version}\n`);
  process.exit(0);
}

/** The newest modification time under `dir` (ms), or Infinity past `limit` (stop looking). */
function newest(dir, limit) {
  let latest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    const t = entry.isDirectory() ? newest(path, limit) : statSync(path).mtimeMs;
    if (t > latest) latest = t;
    if (latest > limit) return latest;
  }
  return latest;
}

const built = new URL("../dist/cli/built.json", import.meta.url);
const src = new URL("../src", import.meta.url).pathname;
const web = new URL("../web", import.meta.url).pathname;
let fresh = false;
if (existsSync(built) && process.env.VEIL_CLI_FROM_SOURCE !== "1") {
  const at = JSON.parse(readFileSync(built, "utf8")).at;
  fresh = typeof at === "number" && newest(src, at) <= at && (!existsSync(web) || newest(web, at) <= at);
}
if (fresh) {
  await import("../dist/cli/main.mjs");
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
}
