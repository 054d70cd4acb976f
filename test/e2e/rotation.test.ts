import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

// A rotation on a live network with two gatekeepers, under continuous invocation load: every
// invocation either succeeds or gets a retryable error that succeeds on retry; none is lost,
// and no state write is lost either (a counter agent counts every successful call exactly once).
describe("a key rotation on a live network", { timeout: 300_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-rot-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>>;

  before(async () => {
    network = await startNetwork(dir, ["--gatekeepers", "2", "--workers", "1"]);
  });
  after(async () => {
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  const address = async (agent: string) => {
    const r = await veil(["inspect", agent, "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { keys: { address: string } }).keys.address;
  };

  /** Invokes until it succeeds; only a retryable refusal is acceptable, anything else is a loss. */
  const invoke = async (args: string[]): Promise<{ stdout: string; retries: number }> => {
    for (let retries = 0; ; retries++) {
      const r = await veil(["invoke", ...args], { env });
      if (r.code === 0) return { stdout: r.stdout, retries };
      assert.match(r.stderr, /retry/i, r.stderr);
      await new Promise((res) => setTimeout(res, 300));
    }
  };

  test("rotates to epoch 2 under load, losing no request and no write", async () => {
    assert.equal((await veil(["init", join(work, "hello")], { env })).code, 0);
    const deploy = await veil(["deploy", join(work, "hello"), "--name", "hello"], { env });
    assert.equal(deploy.code, 0, deploy.stderr);
    const counter = join(work, "counter");
    mkdirSync(join(counter, "src"), { recursive: true });
    writeFileSync(
      join(counter, "src", "index.ts"),
      "export default { async fetch(_r: Request, env: Record<string, string>, ctx: { state: { get(k: string): Promise<unknown>; put(k: string, v: unknown): Promise<void> } }) { const n = ((await ctx.state.get('n')) as number | undefined ?? 0) + 1; await ctx.state.put('n', n); return Response.json({ n, token: env.TOKEN ?? null }); } };\n",
    );
    assert.equal((await veil(["deploy", counter, "--name", "counter"], { env })).code, 0);
    const set = await veil(["secrets", "set", "counter", "TOKEN=before-rotation"], { env });
    assert.equal(set.code, 0, set.stderr);
    // Wait until the worker serves the counter with its secret, then start from a known count.
    let first = { n: 0, token: null as string | null };
    for (let i = 0; i < 100 && first.token === null; i++) {
      first = JSON.parse((await invoke(["counter"])).stdout);
      if (first.token === null) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(first.token, "before-rotation");
    const addresses = { hello: await address("hello"), counter: await address("counter") };

    let stop = false;
    let count = first.n;
    let calls = 0;
    let retried = 0;
    const load = (async () => {
      while (!stop) {
        const name = `n${calls}`;
        const greet = await invoke(["hello", "--path", "/greet", "--data", JSON.stringify({ name })]);
        assert.deepEqual(JSON.parse(greet.stdout), { message: `Hello, ${name}!` });
        const c = await invoke(["counter"]);
        const body = JSON.parse(c.stdout) as { n: number; token: string | null };
        // Each successful call adds exactly one: no write lost, none applied twice.
        assert.equal(body.n, count + 1, `counter after ${calls} calls`);
        assert.equal(body.token, "before-rotation");
        count = body.n;
        calls++;
        retried += greet.retries + c.retries;
      }
    })();

    const rotate = await veil(["keys", "rotate", "--timeout", "180"], { env });
    assert.equal(rotate.code, 0, rotate.stderr);
    assert.match(rotate.stdout, /Rotated to epoch 2/);
    const status = JSON.parse((await veil(["keys", "status", "--json"], { env })).stdout);
    assert.equal(status.epoch, "2");
    assert.equal(status.rotation.state, "completed");
    assert.equal(status.keyTraffic, "open");

    // The worker re-wraps the roots, re-seals the secret and re-encrypts the state under epoch 2.
    const deadline = Date.now() + 60_000;
    const workerLog = () => readFileSync(join(dir, "logs", "worker-1.log"), "utf8");
    while (!/moved to epoch 2/.test(workerLog()) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 300));
    assert.match(
      workerLog(),
      /moved to epoch 2; re-wrapped 2 agent roots, re-sealed 1 secrets, re-encrypted 1 state entries/,
    );
    // Keep the load going a little on the new epoch, then stop.
    const more = calls + 3;
    while (calls < more) await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await load;
    assert.ok(calls > 3, `${calls} calls, ${retried} retried`);

    // Identities did not change; state and secrets written before read back; new writes work.
    assert.deepEqual({ hello: await address("hello"), counter: await address("counter") }, addresses);
    const after = JSON.parse((await invoke(["counter"])).stdout) as { n: number; token: string };
    assert.deepEqual(after, { n: count + 1, token: "before-rotation" });
    const reset = await veil(["secrets", "set", "counter", "TOKEN=after-rotation"], { env });
    assert.equal(reset.code, 0, reset.stderr);
    let token = "";
    for (let i = 0; i < 100 && token !== "after-rotation"; i++) {
      token = (JSON.parse((await invoke(["counter"])).stdout) as { token: string }).token;
      if (token !== "after-rotation") await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(token, "after-rotation");

    // Aborting with no rotation open is refused with a clear error and changes nothing.
    const abort = await veil(["keys", "abort"], { env });
    assert.notEqual(abort.code, 0);
    assert.match(abort.stderr, /NO_ROTATION_OPEN/);
    const still = JSON.parse((await veil(["keys", "status", "--json"], { env })).stdout);
    assert.equal(still.epoch, "2");
    assert.equal(still.rotation.state, "completed");
  });
});
