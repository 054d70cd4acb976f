#!/usr/bin/env node
// Checks that every component imports only what its README's "May import." paragraph names
// (issue 16): a `src/<component>` it lists (any file of it), a `src/<component>/<file>` it lists
// (that file only), or its own folder. Run by `npm run lint` and so by CI.
//   node scripts/check-imports.mjs [ROOT]   prints each wrong-way import, exit 1 if any
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

const root = resolve(process.argv[2] ?? resolve(dirname(new URL(import.meta.url).pathname), ".."));
const src = join(root, "src");
const components = readdirSync(src).filter((d) => statSync(join(src, d)).isDirectory());

/**
 * What a README allows: every `src/<name>` in its "May import." paragraph (a whole component)
 * and every `src/<name>/<file>` (one file of it).
 */
function allowed(component) {
  const readme = join(src, component, "README.md");
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
  for (const [, name, file] of paragraph.matchAll(/`src\/([a-z-]+)(?:\/([\w./-]+))?`/g)) {
    if (file) files.add(`${name}/${file}`);
    else components.add(name);
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
for (const component of components) {
  const may = allowed(component);
  if (!may) {
    problems.push(`src/${component}/README.md has no "**May import.**" paragraph`);
    continue;
  }
  for (const file of files(join(src, component))) {
    const code = readFileSync(file, "utf8");
    for (const [, spec] of code.matchAll(SPECIFIER)) {
      if (!spec.startsWith(".")) continue;
      const target = relative(src, resolve(dirname(file), spec));
      if (target.startsWith("..")) continue; // outside src (package.json, bin): not a component
      const other = target.split(sep)[0];
      if (other === component || !components.includes(other)) continue;
      if (!may.components.has(other) && !may.files.has(target.split(sep).join("/")))
        problems.push(
          `${relative(root, file)} imports src/${other} ("${spec}"), which src/${component}/README.md does not allow`,
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
