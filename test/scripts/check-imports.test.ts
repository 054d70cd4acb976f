import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const script = join(import.meta.dirname, "..", "..", "scripts", "check-imports.mjs");

/** A repository of three components: sdk may import chain; chain may import errors. */
function repo(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "veil-imports-"));
  const all: Record<string, string> = {
    "src/errors/README.md": "# errors\n\n**May import.** Nothing.\n",
    "src/errors/index.ts": "export const x = 1;\n",
    "src/chain/README.md": "# chain\n\n**May import.** `src/errors`.\n",
    "src/chain/client.ts": 'import { x } from "../errors/index.ts";\nexport const y = x;\n',
    "src/sdk/README.md": "# sdk\n\n**May import.** `src/chain`, `src/errors/index.ts`.\n",
    "src/sdk/client.ts": 'import { y } from "../chain/client.ts";\nexport const z = y;\n',
    ...files,
  };
  for (const [path, text] of Object.entries(all)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const check = (root: string) => spawnSync(process.execPath, [script, root], { encoding: "utf8" });

test("imports a README allows pass: whole components, and single files it names", () => {
  const root = repo({ "src/sdk/errors.ts": 'export { x } from "../errors/index.ts";\n' });
  const r = check(root);
  rmSync(root, { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /follow the rules of 3 components/);
});

test("a wrong-way import fails, static or dynamic, and names the file and the rule", () => {
  const root = repo({
    "src/chain/up.ts": 'export const f = () => import("../sdk/client.ts");\n',
    "src/chain/types.ts": 'import type { z } from "../sdk/client.ts";\nexport type T = typeof z;\n',
  });
  const r = check(root);
  rmSync(root, { recursive: true, force: true });
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /src\/chain\/up\.ts imports src\/sdk \("\.\.\/sdk\/client\.ts"\), which src\/chain\/README\.md does not allow/,
  );
  assert.match(r.stderr, /src\/chain\/types\.ts imports src\/sdk/);
  assert.match(r.stderr, /2 import\(s\) against the components' rules/);
});

test("web/ at the root is a component: it may import what its README names, and others name it", () => {
  const root = repo({
    "web/README.md": "# web\n\n**May import.** `src/sdk`.\n",
    "web/main.ts": 'import { z } from "../src/sdk/client.ts";\nexport const w = z;\n',
    "web/build.ts": "export const build = 1;\n",
    "web/bad.ts": 'import { y } from "../src/chain/client.ts";\nexport const b = y;\n',
    "src/chain/README.md": "# chain\n\n**May import.** `src/errors`, `web/build.ts`.\n",
    "src/chain/console.ts": 'import { build } from "../../web/build.ts";\nexport const c = build;\n',
    "src/errors/web.ts": 'import { w } from "../../web/main.ts";\nexport const e = w;\n',
  });
  const r = check(root);
  rmSync(root, { recursive: true, force: true });
  assert.equal(r.status, 1);
  assert.match(
    r.stderr,
    /web\/bad\.ts imports src\/chain \("\.\.\/src\/chain\/client\.ts"\), which web\/README\.md does not allow/,
  );
  assert.match(r.stderr, /src\/errors\/web\.ts imports web \("\.\.\/\.\.\/web\/main\.ts"\)/);
  assert.doesNotMatch(r.stderr, /web\/main\.ts imports|src\/chain\/console\.ts imports/);
  assert.match(r.stderr, /2 import\(s\)/);
});

test("a component without a May import paragraph fails", () => {
  const root = repo({ "src/sdk/README.md": "# sdk\n\nNo rules here.\n" });
  const r = check(root);
  rmSync(root, { recursive: true, force: true });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /src\/sdk\/README\.md has no "\*\*May import\.\*\*" paragraph/);
});

test("this repository follows its own rules", () => {
  const r = check(join(import.meta.dirname, "..", ".."));
  assert.equal(r.status, 0, r.stderr);
});
