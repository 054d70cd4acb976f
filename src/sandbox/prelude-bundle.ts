import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

let cached: Promise<string> | undefined;

/**
 * The in-isolate prelude as one minified script, built from prelude/ with esbuild on first use
 * and kept for the life of the process (every sandbox evaluates the same string).
 */
export function buildPrelude(): Promise<string> {
  cached ??= esbuild
    .build({
      // From the repository's root, which is two levels up from src/sandbox/ and from the
      // bundled CLI's dist/cli/ alike (scripts/build-cli.mjs).
      entryPoints: [join(dirname(fileURLToPath(import.meta.url)), "../../src/sandbox/prelude/index.ts")],
      bundle: true,
      write: false,
      format: "iife",
      platform: "neutral",
      target: "es2022",
      // Minified names are given back to what agents see where it is installed (index.ts), rather
      // than with esbuild's keepNames, which wraps every named function and cost each new realm
      // ~0.3 ms (one per end-to-end encrypted request).
      minify: true,
      legalComments: "none",
      // Strict code hides its frames' functions and receivers from an agent's
      // Error.prepareStackTrace (CallSite getFunction/getThis), so none of the prelude's
      // internals can be fished out of a stack trace.
      banner: { js: '"use strict";' },
    })
    .then((r) => {
      const out = r.outputFiles[0];
      if (!out) throw new Error("esbuild produced no prelude");
      return out.text;
    });
  return cached;
}
