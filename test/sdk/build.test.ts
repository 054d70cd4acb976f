import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { VeilError } from "../../src/errors/index.ts";
import { buildAgent } from "../../src/sdk/index.ts";
import { contentHash } from "../../src/storage/blob-store.ts";

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "veil-build-"));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

test("builds TypeScript with its local imports into one ES module named by its sha256", async () => {
  const dir = project({
    "src/index.ts":
      'import { greet } from "./greet.ts";\nexport default { fetch: () => new Response(greet("Ada")) };\n',
    "src/greet.ts": "export const greet = (n: string): string => 'Hello, ' + n + '!';\n",
  });
  const built = await buildAgent(dir);
  assert.match(built.code, /Hello, /);
  assert.doesNotMatch(built.code, /from "\.\/greet/);
  assert.equal(built.hash, contentHash(built.bytes));
  assert.equal((await buildAgent(dir)).hash, built.hash, "the same source builds to the same hash");
});

test("a syntax error is BUILD_FAILED with file:line:column", async () => {
  const dir = project({ "src/index.ts": "export default {\n  fetch( {\n" });
  await assert.rejects(buildAgent(dir), (e: unknown) => {
    assert.ok(e instanceof VeilError);
    assert.equal(e.code, "BUILD_FAILED");
    assert.match(e.context.join("\n"), /index\.ts:\d+:\d+/);
    return true;
  });
});

test("an import that does not resolve is BUILD_FAILED", async () => {
  const dir = project({
    "src/index.ts": 'import x from "no-such-package";\nexport default { fetch: () => new Response(x) };\n',
  });
  await assert.rejects(buildAgent(dir), (e: unknown) => e instanceof VeilError && e.code === "BUILD_FAILED");
});

test("a directory without an entry, or no directory, says what to do", async () => {
  await assert.rejects(
    buildAgent(project({ "README.md": "x" })),
    (e: unknown) => e instanceof VeilError && e.code === "AGENT_ENTRY_NOT_FOUND",
  );
  await assert.rejects(
    buildAgent("/no/such/dir"),
    (e: unknown) => e instanceof VeilError && e.code === "AGENT_DIR_NOT_FOUND",
  );
});

test("a package's browser field swaps its Node-only files, as Workers' bundler does; NODE_ENV is production", async () => {
  const dir = project({
    "src/index.ts":
      'import { where } from "dual";\nexport default { fetch: () => new Response(where + " " + process.env.NODE_ENV) };\n',
    "node_modules/dual/package.json": JSON.stringify({
      name: "dual",
      type: "module",
      main: "index.js",
      browser: { "./node.js": "./node.browser.js" },
    }),
    "node_modules/dual/index.js": 'export { where } from "./node.js";\n',
    "node_modules/dual/node.js": 'import { hostname } from "node:os";\nexport const where = hostname();\n',
    "node_modules/dual/node.browser.js": 'export const where = "web";\n',
  });
  const built = await buildAgent(dir);
  assert.match(built.code, /"web"/);
  assert.match(built.code, /where \+ " production"/);
  assert.doesNotMatch(built.code, /node:os/);
});
