import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { test } from "node:test";
import { type Hex, zeroAddress } from "viem";
import type { VeilChain } from "../../src/chain/index.ts";
import { buildAgent, verifyAgent } from "../../src/sdk/index.ts";
import { contentHash } from "../../src/storage/blob-store.ts";
import { repoRoot, veil } from "../helpers/cli.ts";

/**
 * One agent project (a local import and an npm import) written under `parent`/`path`, with its
 * own node_modules/hono as `npm ci` would leave it: a copy, not a link, as on a verifier's machine.
 */
function writeProject(parent: string, path: string): string {
  const dir = join(parent, path);
  mkdirSync(join(dir, "src", "lib"), { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "repro", type: "module", main: "src/index.ts", dependencies: { hono: "*" } }),
  );
  writeFileSync(
    join(dir, "src", "index.ts"),
    `import { Hono } from "hono";
import { greet } from "./lib/greet.ts";

const app = new Hono();
app.get("/hi/:name", (c) => c.text(greet(c.req.param("name"))));
export default app;
`,
  );
  writeFileSync(
    join(dir, "src", "lib", "greet.ts"),
    "export const greet = (name: string): string => 'Hello, ' + name + '!';\n",
  );
  cpSync(realpathSync(join(repoRoot, "node_modules", "hono")), join(dir, "node_modules", "hono"), {
    recursive: true,
    dereference: true,
  });
  return dir;
}

test("the same agent source builds to the same bytes and hash from any directory and any cwd", async () => {
  const a = realpathSync(mkdtempSync(join(tmpdir(), "veil-repro-a-")));
  const b = realpathSync(mkdtempSync(join(tmpdir(), "veil-repro-other-")));
  const cwd = process.cwd();
  try {
    // Different names and depths, as two machines' checkouts would be.
    const first = writeProject(a, "agent");
    const second = writeProject(b, join("home", "verifier", "src", "checkout-of-agent"));

    // The SDK, called from inside the project and from far outside it.
    process.chdir(first);
    const fromInside = await buildAgent(".");
    process.chdir(b);
    const fromOutside = await buildAgent(relative(b, second));
    process.chdir(cwd);
    assert.match(fromInside.code, /"Hello, " \+ name/);
    assert.match(fromInside.code, /class Hono/, "hono is bundled in");
    assert.ok(
      !fromInside.code.includes(a) && !fromOutside.code.includes(b),
      "no absolute path in the bundle",
    );
    assert.equal(fromOutside.code, fromInside.code);
    assert.equal(fromOutside.hash, fromInside.hash);

    // `veil build --out` from two other cwds (the project's src/ and the filesystem root).
    const outA = join(a, "bundle-a.js");
    const outB = join(b, "bundle-b.js");
    const buildA = await veil(["build", "..", "--out", outA, "--json"], { cwd: join(first, "src") });
    const buildB = await veil(["build", second, "--out", outB, "--json"], { cwd: "/" });
    assert.equal(buildA.code, 0, buildA.stderr);
    assert.equal(buildB.code, 0, buildB.stderr);
    const bytesA = readFileSync(outA);
    assert.deepEqual(bytesA, readFileSync(outB), "byte-identical bundles");
    assert.equal(contentHash(bytesA), fromInside.hash);
    assert.equal((JSON.parse(buildA.stdout) as { hash: string }).hash, fromInside.hash);
    assert.equal((JSON.parse(buildB.stdout) as { hash: string }).hash, fromInside.hash);
  } finally {
    process.chdir(cwd);
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});

test("a verifier rebuilds the source and checks it against the code hash on chain", async () => {
  const parent = realpathSync(mkdtempSync(join(tmpdir(), "veil-repro-verify-")));
  try {
    const built = await buildAgent(writeProject(parent, "checkout"));
    // Only the agent-level reads: no keys yet and no workers, so the verdict fails for those.
    const onChain = (codeHash: Hex) =>
      ({
        agentIdOf: async () => 7n,
        getAgent: async () => ({
          id: 7n,
          name: "repro",
          owner: zeroAddress,
          currentVersion: 0,
          codeHash,
          versionCount: 1,
        }),
        getAgentKeys: async () => ({ epoch: 0n }),
        listWorkers: async () => [],
      }) as unknown as VeilChain;
    const sourceCheck = async (codeHash: Hex) =>
      (await verifyAgent(onChain(codeHash), "repro", { sourceCodeHash: built.hash })).checks.find(
        (c) => c.name === "code built from source",
      );
    assert.deepEqual(await sourceCheck(built.hash), {
      name: "code built from source",
      ok: true,
      detail: `the source builds to ${built.hash}, the code on chain`,
    });
    const other = contentHash(new TextEncoder().encode("other code"));
    assert.equal((await sourceCheck(other))?.ok, false);
    assert.match((await sourceCheck(other))?.detail ?? "", new RegExp(`the chain has ${other}`));
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});
