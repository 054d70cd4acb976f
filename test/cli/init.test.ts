import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { buildAgent } from "../../src/sdk/build.ts";
import { veil } from "../helpers/cli.ts";

// `veil init` offers every example as a template; what it makes builds into deployable bundles.
describe("veil init", () => {
  const work = mkdtempSync(join(tmpdir(), "veil-init-"));
  after(() => rmSync(work, { recursive: true, force: true }));

  test("--help lists the templates with what each is", async () => {
    const help = await veil(["init", "--help"]);
    assert.equal(help.code, 0);
    for (const t of ["hello", "chat", "pipeline", "price-oracle"])
      assert.match(help.stdout, new RegExp(`\\n  ${t} +\\S`));
  });

  test("hello is the default; each template makes agents that build", async () => {
    const hello = await veil(["init", "hello-agent"], { cwd: work });
    assert.equal(hello.code, 0, hello.stderr);
    assert.match(hello.stdout, /from the "hello" template/);
    assert.match(hello.stdout, /npx veil deploy \.\/hello-agent --name hello-agent/);
    assert.equal(
      JSON.parse(readFileSync(join(work, "hello-agent", "package.json"), "utf8")).name,
      "hello-agent",
    );
    const dirs: Record<string, string[]> = {
      chat: ["my-chat"],
      "price-oracle": ["my-oracle"],
      pipeline: ["my-pipeline/planner", "my-pipeline/tool"],
    };
    for (const [template, agents] of Object.entries(dirs)) {
      const root = agents[0]!.split("/")[0]!;
      const r = await veil(["init", root, "--template", template], { cwd: work });
      assert.equal(r.code, 0, r.stderr);
      for (const a of agents) {
        assert.match(r.stdout, new RegExp(`npx veil deploy \\./${a} --name`));
        const built = await buildAgent(join(work, a));
        assert.ok(built.bytes.byteLength > 0);
      }
      assert.ok(existsSync(join(work, root, "README.md")));
    }
  });

  test("an unknown template or a non-empty directory is refused, and nothing is written", async () => {
    const unknown = await veil(["init", "x", "--template", "nope"], { cwd: work });
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /TEMPLATE_NOT_FOUND/);
    assert.match(unknown.stderr, /hello, chat, pipeline, price-oracle/);
    assert.equal(existsSync(join(work, "x")), false);
    const again = await veil(["init", "hello-agent", "--template", "chat"], { cwd: work });
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /DIRECTORY_NOT_EMPTY/);
    assert.equal(existsSync(join(work, "hello-agent", "src", "index.ts")), true);
    assert.doesNotMatch(readFileSync(join(work, "hello-agent", "src", "index.ts"), "utf8"), /ctx\.llm/);
  });
});
