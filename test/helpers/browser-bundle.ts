import { builtinModules } from "node:module";
import { build, type Plugin } from "esbuild";
import { repoRoot } from "./cli.ts";

// What the console runs must bundle for a browser: these tests build code the way a bundler
// would for platform=browser and list every Node built-in it reached instead of failing on the
// first, so one run names them all.

const builtins = new Set(builtinModules);

function nodeImportsOf(found: string[]): Plugin {
  return {
    name: "no-node-builtins",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const bare = args.path.replace(/^node:/, "").split("/")[0]!;
        if (args.path.startsWith("node:") || (builtins.has(bare) && !args.path.startsWith("."))) {
          found.push(`${args.path} (imported by ${args.importer.replace(`${repoRoot}/`, "")})`);
          return { path: args.path, external: true };
        }
        return undefined;
      });
    },
  };
}

/**
 * Bundles `contents` (TypeScript, resolved from the repository's root) for a browser as one
 * script that leaves its exports in the global `veil`; every Node built-in it imports is pushed
 * to `found`.
 */
export async function bundleForBrowser(contents: string, found: string[]): Promise<string> {
  const out = await build({
    stdin: { contents, resolveDir: repoRoot, loader: "ts" },
    bundle: true,
    platform: "browser",
    format: "iife",
    globalName: "veil",
    write: false,
    logLevel: "silent",
    plugins: [nodeImportsOf(found)],
  });
  return out.outputFiles[0]!.text;
}
