#!/usr/bin/env node
// Entry point for the `veil` command: loads the TypeScript CLI through tsx so that
// there is no build step and no stale build output to fall out of step with src/.
import { readFileSync } from "node:fs";

// `veil --version` needs nothing loaded: answer before the TypeScript loader starts.
if (process.argv.length === 3 && (process.argv[2] === "--version" || process.argv[2] === "-V")) {
  const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  process.stdout.write(`${version}\n`);
  process.exit(0);
}

const { register } = await import("tsx/esm/api");
register();
await import("../src/cli/main.ts");
