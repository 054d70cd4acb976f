#!/usr/bin/env node
// Builds the `veil` command into dist/cli/ (run by `npm install`'s prepare, or `npm run build`):
// src/cli/main.ts and everything it loads from src/, bundled into ES modules by esbuild, split
// at every dynamic import so that a command loads only what it uses, with npm packages left
// as imports. bin/veil.mjs runs it when it is newer than every file of src/ (and web/) and falls back to
// running src/ through tsx otherwise, so an edit is never masked by an old build (ADR 0022).
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const started = Date.now();
// Built beside, then swapped in: a `veil` starting meanwhile sees the old build or the new one.
const next = join(root, "dist", `.cli-${process.pid}`);
rmSync(next, { recursive: true, force: true });
await build({
  // The sandbox process a worker starts for agents it moves out of its own (src/sandbox/placement.ts).
  entryPoints: {
    main: join(root, "src", "cli", "main.ts"),
    "sandbox-process": join(root, "src", "sandbox", "process-main.ts"),
  },
  outdir: next,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  outExtension: { ".js": ".mjs" },
  // Every module lands two levels below the repository's root, as src/<component>/x.ts is, so
  // that src/'s `../../templates` and the like find the same files from the build.
  chunkNames: "[name]-[hash]",
  logLevel: "warning",
  sourcemap: "linked",
});
writeFileSync(join(next, "built.json"), `${JSON.stringify({ at: Date.now() })}\n`);
mkdirSync(join(root, "dist"), { recursive: true });
const target = join(root, "dist", "cli");
const old = join(root, "dist", `.old-${process.pid}`);
try {
  renameSync(target, old);
} catch {}
renameSync(next, target);
rmSync(old, { recursive: true, force: true });
console.error(`built the veil command into dist/cli in ${Date.now() - started} ms`);
