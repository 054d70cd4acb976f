import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

// A rotation on a live network with two gatekeepers, under continuous invocation load: every
// invocation either succeeds or gets a retryable error that succeeds on retry; none is lost.
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

  test("rotates to epoch 2 under load, losing no request", async () => {
    assert.equal((await veil(["init", join(work, "hello")], { env })).code, 0);
    const deploy = await veil(["deploy", join(work, "hello"), "--name", "hello"], { env });
    assert.equal(deploy.code, 0, deploy.stderr);

    let stop = false;
    const outcomes: { ok: boolean; retries: number }[] = [];
    const load = (async () => {
      let i = 0;
      while (!stop) {
        const name = `n${i++}`;
        let retries = 0;
        for (;;) {
          const r = await veil(["invoke", "hello", "--path", "/greet", "--data", JSON.stringify({ name })], {
            env,
          });
          if (r.code === 0) {
            assert.deepEqual(JSON.parse(r.stdout), { message: `Hello, ${name}!` });
            outcomes.push({ ok: true, retries });
            break;
          }
          // Only a retryable refusal is acceptable during a rotation; anything else is a loss.
          assert.match(r.stderr, /retry/i, r.stderr);
          retries++;
          await new Promise((res) => setTimeout(res, 300));
        }
      }
    })();

    const rotate = await veil(["keys", "rotate", "--timeout", "180"], { env });
    assert.equal(rotate.code, 0, rotate.stderr);
    assert.match(rotate.stdout, /Rotated to epoch 2/);
    const status = JSON.parse((await veil(["keys", "status", "--json"], { env })).stdout);
    assert.equal(status.epoch, "2");
    assert.equal(status.rotation.state, "completed");
    assert.equal(status.keyTraffic, "open");

    // The worker re-wraps the agent's root under epoch 2 and keeps serving it.
    const deadline = Date.now() + 60_000;
    const workerLog = () => readFileSync(join(dir, "logs", "worker-1.log"), "utf8");
    while (!/moved to epoch 2/.test(workerLog()) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 300));
    assert.match(workerLog(), /moved to epoch 2; re-wrapped 1 agent roots/);
    stop = true;
    await load;
    assert.ok(outcomes.length > 0);
    assert.ok(outcomes.every((o) => o.ok));
    const after = await veil(["invoke", "hello", "--path", "/greet", "--data", '{"name":"Rot"}'], { env });
    assert.equal(after.code, 0, after.stderr);
    assert.deepEqual(JSON.parse(after.stdout), { message: "Hello, Rot!" });
  });
});
