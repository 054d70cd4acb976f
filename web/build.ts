import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

/** The files the console is served from, besides what esbuild writes (console.js and its chunks). */
const STATIC_FILES = ["index.html", "style.css"];

/**
 * web/'s sources: beside this file when it runs from source, `../../web` from the compiled CLI
 * (dist/cli/, two levels below the repository's root, docs/adr/0022).
 */
function sourceDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return existsSync(join(here, "main.ts")) ? here : join(here, "../../web");
}

export type BuiltConsole = {
  dir: string;
  files: string[];
  bytes: number;
  /** What the landing page loads: console.js and the chunks it imports statically, index.html, style.css. */
  firstLoadBytes: number;
  ms: number;
};

/**
 * Builds the web console into `outDir` (a network's `console/` directory, which its gateway
 * serves at `/console/`): esbuild bundles web/main.ts and the SDK's browser entry for browsers
 * (a Node built-in on the way fails the build) into `console.js` and the chunks of the pages
 * main.ts loads when first shown (`chunk-HASH.js`: flat names, which the gateway serves), beside
 * index.html and style.css. Nothing is fetched from elsewhere; `veil up` calls it at every start.
 *
 * @example
 * ```ts
 * const built = await buildConsole(".veil/console");
 * console.log(`${built.firstLoadBytes} bytes first, ${built.bytes} in all, in ${built.ms} ms`);
 * ```
 */
export async function buildConsole(outDir: string): Promise<BuiltConsole> {
  const started = performance.now();
  const src = sourceDir();
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const { metafile } = await build({
    entryPoints: [join(src, "main.ts")],
    outdir: outDir,
    entryNames: "console",
    splitting: true,
    chunkNames: "chunk-[hash]",
    metafile: true,
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    minify: true,
    legalComments: "none",
    logLevel: "silent",
  });
  for (const file of STATIC_FILES) copyFileSync(join(src, file), join(outDir, file));
  const outputs = new Map(Object.entries(metafile.outputs).map(([path, o]) => [basename(path), o]));
  const files = [
    ...[...outputs.keys()].sort((a, b) =>
      a === "console.js" ? -1 : b === "console.js" ? 1 : a.localeCompare(b),
    ),
    ...STATIC_FILES,
  ];
  const size = (file: string) => statSync(join(outDir, file)).size;
  // The first load: console.js and, transitively, the chunks it imports statically.
  const first = new Set<string>();
  const visit = (file: string) => {
    if (first.has(file)) return;
    first.add(file);
    for (const i of outputs.get(file)?.imports ?? [])
      if (i.kind === "import-statement") visit(basename(i.path));
  };
  visit("console.js");
  return {
    dir: outDir,
    files,
    bytes: files.reduce((sum, f) => sum + size(f), 0),
    firstLoadBytes: [...first, ...STATIC_FILES].reduce((sum, f) => sum + size(f), 0),
    ms: Math.round(performance.now() - started),
  };
}
