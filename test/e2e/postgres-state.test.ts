import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { Hex } from "viem";
import { readNetwork, startNetwork, stopNetwork, veil } from "../helpers/cli.ts";
import { testDatabase } from "../helpers/postgres.ts";

// A network whose workers keep agents' state in PostgreSQL (`veil up --state postgres://…`):
// the two workers serving an agent see one ctx.state, concurrent increments through both lose
// nothing, and the database's password shows neither in the network file nor in `ps`.
describe("veil up --state postgres://", { timeout: 420_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-pgnet-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  let url = "";

  after(async () => {
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  const ok = async (args: string[]) => {
    const r = await veil(args, { env });
    assert.equal(r.code, 0, `veil ${args.join(" ")}\n${r.stderr}`);
    return r.stdout;
  };

  test("the workers share one state in PostgreSQL; the password stays out of the network file and ps", async () => {
    // Trust authentication takes any password: this one is only there to be looked for.
    const db = new URL(await testDatabase());
    db.username = "postgres";
    db.password = "hunter2-not-shown";
    url = db.toString();
    network = await startNetwork(dir, ["--workers", "2", "--gateway", "process", "--state", url]);
    assert.match(network.output(), /state\s+PostgreSQL \(schema veil_[0-9a-f]+\)/);
    const file = readFileSync(env.VEIL_NETWORK, "utf8");
    assert.doesNotMatch(file, /hunter2/);
    assert.equal(JSON.parse(file).state.kind, "postgres");
    assert.equal(statSync(join(dir, "state-url")).mode & 0o077, 0, "state-url is readable by its owner only");
    for (const w of readNetwork(dir).workers) {
      const cmdline = readFileSync(`/proc/${w.pid}/cmdline`, "utf8");
      assert.doesNotMatch(cmdline, /hunter2/, "a worker's command line shows the password");
    }

    const counter = join(work, "counter");
    mkdirSync(join(counter, "src"), { recursive: true });
    writeFileSync(
      join(counter, "src", "index.ts"),
      `type Tx = { get(k: string): Promise<unknown>; put(k: string, v: unknown): void };
type State = { get(k: string): Promise<unknown>; transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> };
export default {
  async fetch(request: Request, _env: unknown, ctx: { state: State }) {
    if (new URL(request.url).pathname === "/count") return Response.json({ n: (await ctx.state.get("n")) ?? 0 });
    const n = await ctx.state.transaction(async (tx) => {
      const n = (((await tx.get("n")) as number | undefined) ?? 0) + 1;
      tx.put("n", n);
      return n;
    });
    return Response.json({ n });
  },
};
`,
    );
    await ok(["deploy", counter, "--name", "counter"]);
    const workers = readNetwork(dir).workers;
    // Straight to each worker in turn, so that both serve it at once.
    const call = async (i: number, path = "/"): Promise<number> => {
      for (let attempt = 0; attempt < 200; attempt++) {
        const res = await fetch(`${workers[i % 2]!.url}/v1/agents/counter/invoke${path}`, { method: "POST" });
        if (res.status === 200) return ((await res.json()) as { n: number }).n;
        // Until the worker has loaded the agent (and has its keys).
        if (res.status !== 503 && res.status !== 404) throw new Error(`${res.status} ${await res.text()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error("the counter was never served");
    };
    assert.equal(await call(0, "/count"), 0);
    assert.equal(await call(1, "/count"), 0);
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => call(i)));
    assert.deepEqual(
      answers.sort((a, b) => a - b),
      Array.from({ length: 40 }, (_, i) => i + 1),
      "every increment answered with its own count",
    );
    assert.equal(await call(0, "/count"), 40);
    assert.equal(await call(1, "/count"), 40);
  });

  test("bundles: uploaded by deploy to the gateway, fetched by hash; the gateway keeps no bytes that are no agent's version", async () => {
    const gateway = readNetwork(dir).gateway.url;
    const info = JSON.parse(await ok(["inspect", "counter", "--json"])) as { codeHash: Hex; id: string };
    const code = await fetch(`${gateway}/v1/bundles/${info.codeHash}`);
    assert.equal(code.status, 200);
    const bytes = new Uint8Array(await code.arrayBuffer());
    assert.equal(`0x${createHash("sha256").update(bytes).digest("hex")}`, info.codeHash);
    // Each worker holds its own copy, and serves it to peers.
    for (const w of readNetwork(dir).workers) {
      const res = await fetch(`${w.url}/v1/bundles/${info.codeHash}`);
      assert.equal(res.status, 200);
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
    }
    // A stranger storing its own bytes on the network: refused, nothing kept.
    const junk = new TextEncoder().encode("not anyone's agent");
    const junkHash = `0x${createHash("sha256").update(junk).digest("hex")}`;
    const put = await fetch(`${gateway}/v1/agents/counter/bundles/${junkHash}`, {
      method: "PUT",
      body: junk,
    });
    assert.equal(put.status, 409);
    assert.equal(((await put.json()) as { error: { code: string } }).error.code, "BUNDLE_NOT_REGISTERED");
    assert.equal((await fetch(`${gateway}/v1/bundles/${junkHash}`)).status, 404);
    // Other bytes under a registered version's hash: refused.
    const swapped = await fetch(`${gateway}/v1/agents/${info.id}/bundles/${info.codeHash}`, {
      method: "PUT",
      body: junk,
    });
    assert.equal(swapped.status, 400);
    assert.equal(((await swapped.json()) as { error: { code: string } }).error.code, "BUNDLE_HASH_MISMATCH");
  });

  test("resumed without --state, the network finds its database again; --state naming SQLite is refused", async () => {
    assert.ok(network);
    network.child.kill("SIGINT");
    await new Promise((r) => network!.child.once("exit", r));
    const refused = await veil([
      "up",
      "--dir",
      dir,
      "--base-port",
      "0",
      "--state",
      join(work, "other.sqlite"),
    ]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /NETWORK_STATE_CHANGED/);
    network = await startNetwork(dir, []);
    assert.match(network.output(), /resuming network/);
    const worker = readNetwork(dir).workers[0]!;
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${worker.url}/v1/agents/counter/invoke/count`, { method: "POST" });
      if (res.status === 200) {
        assert.deepEqual(await res.json(), { n: 40 });
        break;
      }
      assert.ok(attempt < 200, `never served after resume: ${res.status}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  });
});
