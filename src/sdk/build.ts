import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import * as esbuild from "esbuild";
import type { Hex } from "viem";
import { VeilError } from "../errors/index.ts";
import { contentHash } from "../storage/blob-store.ts";

/** Largest bundle the network accepts (the runtime issue makes this a per-network setting). */
export const MAX_BUNDLE_BYTES = 5 * 1024 * 1024;

export type BuiltAgent = { entry: string; code: string; bytes: Uint8Array; hash: Hex };

const ENTRY_CANDIDATES = ["src/index.ts", "src/index.js", "index.ts", "index.js", "src/main.ts", "main.ts"];

/** The agent's entry: package.json "veil.entry" or "main", else the usual suspects. */
export function findEntry(dir: string): string {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new VeilError("AGENT_DIR_NOT_FOUND", `${root} is not a directory`, {
      hint: "Pass the agent's project directory, e.g. `veil deploy ./hello-agent --name hello` (make one with `veil init`).",
    });
  }
  const pkgPath = join(root, "package.json");
  if (existsSync(pkgPath)) {
    try {
      const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as { veil?: { entry?: string }; main?: string };
      const declared = pkg.veil?.entry ?? pkg.main;
      if (declared && existsSync(join(root, declared))) return join(root, declared);
    } catch {
      throw new VeilError("AGENT_PACKAGE_INVALID", `${pkgPath} is not valid JSON`, {
        hint: "Fix package.json.",
      });
    }
  }
  for (const candidate of ENTRY_CANDIDATES)
    if (existsSync(join(root, candidate))) return join(root, candidate);
  throw new VeilError("AGENT_ENTRY_NOT_FOUND", `No agent entry point in ${root}`, {
    hint: `Create src/index.ts exporting default { fetch(request, env, ctx) }, or set "main" in package.json.`,
  });
}

/**
 * Builds an agent with esbuild into one self-contained ES module (the bundle that is stored by
 * its content hash and registered on chain). Nothing is written to disk.
 *
 * The bundle depends only on the project's files and its dependencies, not on where the project
 * sits or where the build runs from, so that anyone can rebuild the source and get the hash on
 * chain (`veil verify NAME --source DIR`).
 */
export async function buildAgent(dir: string): Promise<BuiltAgent> {
  const root = resolve(dir);
  const entry = findEntry(root);
  let result: esbuild.BuildResult & { outputFiles: esbuild.OutputFile[] };
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      // esbuild names every module in the bundle (the `// path` comments, the keys of CommonJS
      // wrappers) relative to its working directory, the process's cwd by default: the project
      // root makes those names the same from any cwd and in any checkout.
      absWorkingDir: root,
      bundle: true,
      write: false,
      format: "esm",
      // As Workers' bundler does: a package's "browser" field (a file map, e.g. the Anthropic
      // client's node.mjs → node.browser.mjs) is honoured only on esbuild's browser platform.
      // NODE_ENV is set, not left to esbuild's browser default ("development"): agents run as
      // production code, and there is no `process` in the sandbox to read it from.
      platform: "browser",
      target: "es2022",
      mainFields: ["browser", "module", "main"],
      conditions: ["worker", "browser", "import"],
      define: { "process.env.NODE_ENV": '"production"' },
      logLevel: "silent",
      legalComments: "none",
      charset: "utf8",
    });
  } catch (err) {
    const failure = err as esbuild.BuildFailure;
    const messages = (failure.errors ?? []).map(
      (m) => `${m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ` : ""}${m.text}`,
    );
    throw new VeilError("BUILD_FAILED", `The agent in ${root} failed to build`, {
      context: messages.length ? messages : [String((err as Error).message)],
      hint: "Fix the errors above and deploy again.",
    });
  }
  const output = result.outputFiles[0];
  if (!output) throw new VeilError("BUILD_FAILED", "esbuild produced no output", {});
  const bytes = output.contents;
  if (bytes.byteLength > MAX_BUNDLE_BYTES) {
    throw new VeilError(
      "LIMIT_BUNDLE_TOO_LARGE",
      `The bundle is ${bytes.byteLength} bytes, over ${MAX_BUNDLE_BYTES}`,
      {
        hint: "Drop heavy dependencies from the agent.",
      },
    );
  }
  return { entry, code: output.text, bytes, hash: contentHash(bytes) };
}
