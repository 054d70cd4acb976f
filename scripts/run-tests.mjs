#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner (through tsx). Node 20's runner
// has no glob support, so the files are listed here. Pass paths or substrings to run fewer:
//   npm test -- sandbox        npm test -- test/e2e/network.test.ts
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

function find(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...find(path));
    else if (entry.endsWith(".test.ts")) out.push(relative(process.cwd(), path));
  }
  return out;
}

const filters = process.argv.slice(2);
const files = find("test")
  .sort()
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}
// --test-force-exit: a test file whose tests have all ended exits even if a failed test left a
// server or socket open; otherwise one forgotten handle hangs the whole run until CI's limit.
const result = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    "--test-force-exit",
    "--test-reporter=spec",
    "--test-concurrency=2",
    ...files,
  ],
  { stdio: "inherit", env: { ...process.env, NODE_ENV: "test" } },
);
process.exit(result.status ?? 1);
