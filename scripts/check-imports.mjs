#!/usr/bin/env node
// Checks that every component imports only what its README's "May import." paragraph names
// (issue 16): a `src/<component>` it lists (any file of it), a `src/<component>/<file>` it lists
// (that file only), or its own folder. The components are the folders of src/ and the web
// console's `web/` at the root (named `web` and `web/<file>` in a README). Run by `npm run lint`
// and so by CI.
//   node scripts/check-imports.mjs [ROOT]   prints each wrong-way import, exit 1 if any
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

const root = resolve(process.argv[2] ?? resolve(dirname(new URL(import.meta.url).pathname), ".."));
const src = join(root, "src");
/** Each component's folder, by name. */
const folders = new Map(
  readdirSync(src)
    .filter((d) => statSync(join(src, d)).isDirectory())
    .map((d) => [d, join(src, d)]),
);
if (existsSync(join(root, "web"))) folders.set("web", join(root, "web"));
const components = [...folders.keys()];

/** The component a file belongs to and its path inside it ("sdk", "browser.ts"), or undefined. */
function componentOf(file) {
  for (const [name, folder] of folders) {
    const inside = relative(folder, file);
    if (!inside.startsWith("..") && !inside.startsWith(sep) && inside !== "")
      return { name, file: inside.split(sep).join("/") };
  }
  return undefined;
}

/**
 * What a README allows: every `src/<name>` (or `web`) in its "May import." paragraph (a whole
 * component) and every `src/<name>/<file>` (or `web/<file>`: one file of it).
 */
function allowed(component) {
  const readme = join(folders.get(component), "README.md");
  let text;
  try {
    text = readFileSync(readme, "utf8");
  } catch {
    return undefined;
  }
  const start = text.indexOf("**May import.**");
  if (start < 0) return undefined;
  const paragraph = text.slice(start).split(/\n\s*\n/)[0];
  const components = new Set();
  const files = new Set();
  for (const [, name, file] of paragraph.matchAll(/`(?:src\/([a-z-]+)|web)(?:\/([\w./-]+))?`/g)) {
    const component = name ?? "web";
    if (file) files.add(`${component}/${file}`);
    else components.add(component);
  }
  return { components, files };
}

function files(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...files(path));
    else if (/\.(ts|mts|js|mjs)$/.test(entry)) out.push(path);
  }
  return out;
}

// Static imports and re-exports, dynamic import("…") and import type: every specifier.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g;

const problems = [];
const shown = (component) => relative(root, folders.get(component)).split(sep).join("/");
for (const component of components) {
  const may = allowed(component);
  if (!may) {
    problems.push(`${shown(component)}/README.md has no "**May import.**" paragraph`);
    continue;
  }
  for (const file of files(folders.get(component))) {
    const code = readFileSync(file, "utf8");
    for (const [, spec] of code.matchAll(SPECIFIER)) {
      if (!spec.startsWith(".")) continue;
      // Outside every component (package.json, bin, test helpers): not checked.
      const target = componentOf(resolve(dirname(file), spec));
      if (!target || target.name === component) continue;
      if (!may.components.has(target.name) && !may.files.has(`${target.name}/${target.file}`))
        problems.push(
          `${relative(root, file)} imports ${shown(target.name)} ("${spec}"), which ${shown(component)}/README.md does not allow`,
        );
    }
  }
}
for (const p of problems) console.error(p);
if (problems.length) {
  console.error(
    `\n${problems.length} import(s) against the components' rules: move the code, or (if the rule is wrong) change the README's "May import." line.`,
  );
  process.exit(1);
}
console.log(`imports follow the rules of ${components.length} components`);
