import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** The files the console is served from, besides the bundle esbuild writes (console.js). */
const STATIC_FILES = ["index.html", "style.css"];

/**
 * web/'s sources: beside this file when it runs from source, `../../web` from the compiled CLI
 * (dist/cli/, two levels below the repository's root, docs/adr/0022).
 */
function sourceDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return existsSync(join(here, "main.ts")) ? here : join(here, "../../web");
}

export type BuiltConsole = { dir: string; files: string[]; bytes: number; ms: number };

/**
 * Builds the web console into `outDir` (a network's `console/` directory, which its gateway
 * serves at `/console/`): esbuild bundles web/main.ts and the SDK's browser entry into one
 * `console.js` for browsers (a Node built-in on the way fails the build), beside index.html and
 * style.css. Nothing is fetched at run time; `veil up` calls it at every start.
 *
 * @example
 * ```ts
 * const built = await buildConsole(".veil/console");
 * console.log(`${built.bytes} bytes in ${built.ms} ms`);
 * ```
 */
export async function buildConsole(outDir: string): Promise<BuiltConsole> {
  const started = performance.now();
  const src = sourceDir();
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(src, "main.ts")],
    outfile: join(outDir, "console.js"),
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: true,
    legalComments: "none",
    logLevel: "silent",
  });
  for (const file of STATIC_FILES) copyFileSync(join(src, file), join(outDir, file));
  const files = ["console.js", ...STATIC_FILES];
  const bytes = files.reduce((sum, f) => sum + statSync(join(outDir, f)).size, 0);
  return { dir: outDir, files, bytes, ms: Math.round(performance.now() - started) };
}
