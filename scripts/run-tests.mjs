#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner (through tsx). Node 20's runner
// has no glob support, so the files are listed here. Pass paths or substrings to run fewer:
//   npm test -- sandbox        npm test -- test/e2e/network.test.ts
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { postgresBinDir, startPostgres } from "./postgres-cluster.mjs";

/** On a fresh Debian machine, as root: PostgreSQL from Debian's packages, as .ci/run does. */
function installPostgres() {
  const root = process.getuid?.() === 0;
  if (!root || spawnSync("sh", ["-c", "command -v apt-get"]).status !== 0) {
    console.error(
      "The tests need PostgreSQL (the state store's second backend). Install it: sudo apt-get install -y postgresql",
    );
    process.exit(1);
  }
  console.error("::: installing postgresql (apt-get), which the tests need");
  const r = spawnSync(
    "sh",
    [
      "-c",
      "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null",
    ],
    { stdio: "inherit" },
  );
  if (r.status !== 0) process.exit(r.status ?? 1);
}

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
// One PostgreSQL server for the run: test files make their own databases on it
// (test/helpers/postgres.ts). The state store and the network are tested on it as on SQLite.
if (!postgresBinDir()) installPostgres();
const postgres = await startPostgres();
console.error(`::: PostgreSQL for the tests at ${postgres.url}`);
// --test-force-exit: a test file whose tests have all ended exits even if a failed test left a
// server or socket open; otherwise one forgotten handle hangs the whole run until CI's limit.
const child = spawn(
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
  { stdio: "inherit", env: { ...process.env, NODE_ENV: "test", VEIL_TEST_POSTGRES: postgres.url } },
);
const stopAll = () => child.kill("SIGTERM");
process.on("SIGINT", stopAll);
process.on("SIGTERM", stopAll);
const status = await new Promise((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
await postgres.stop();
process.exit(status);
