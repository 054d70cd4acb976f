import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Hex } from "viem";
import { TeeType, VeilChain, WorkerStatus } from "../../src/chain/index.ts";
import { loadNetwork } from "../../src/network/config.ts";
import { readNetwork, startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

// Re-attestation and eviction on a live network: the policy changes on chain, and the
// workers, gatekeeper and gateway follow it without being told.
describe("attestation on a live network", { timeout: 300_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-att-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>>;
  let governance: VeilChain;
  let stopped: number | undefined;

  before(async () => {
    network = await startNetwork(dir);
    const n = readNetwork(dir);
    const key = n.devAccounts.accounts.find((a) => a.role === "deployer-governance")?.privateKey as Hex;
    governance = new VeilChain(loadNetwork(join(dir, "network.json")).chain, {
      account: key,
      pollingIntervalMs: 50,
    });
    assert.equal((await veil(["init", join(work, "hello")], { env })).code, 0);
    const deploy = await veil(["deploy", join(work, "hello"), "--name", "hello"], { env });
    assert.equal(deploy.code, 0, deploy.stderr);
  });
  after(async () => {
    if (stopped) process.kill(stopped, "SIGCONT");
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  test("veil verify NAME checks everything in one step and passes (INSECURE on the simulated TEE)", async () => {
    const r = await veil(["verify", "hello"], { env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /✔ agent key certificates/);
    // Versions count from 0, as `veil inspect` and `veil agent versions` show them.
    assert.match(r.stdout, /✔ agent on chain.*version \d+ \(versions 0–\d+\)/);
    assert.match(r.stdout, /✔ measurement and TCB against the policy/);
    assert.match(r.stdout, /PASS \(INSECURE/);
    const json = JSON.parse((await veil(["verify", "hello", "--json"], { env })).stdout) as {
      pass: boolean;
      workers: { pass: boolean; checks: { name: string; ok: boolean }[] }[];
    };
    assert.equal(json.pass, true);
    assert.equal(json.workers.length, 2);
    assert.ok(json.workers.every((w) => w.pass && w.checks.length >= 5));
    const hw = await veil(["verify", "hello", "--require-hardware"], { env });
    assert.equal(hw.code, 1, "simulated workers fail when hardware is required");
    const unknown = await veil(["verify", "nobody"], { env });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stdout, /no agent "nobody"/);
  });

  test("workers re-attest on the period the policy sets", async () => {
    const n = readNetwork(dir);
    const before = await governance.getWorker(n.workers[0]!.address as Hex);
    await governance.setPolicyParameters({ maxEvidenceAge: 8, reattestPeriod: 2, minConfidence: 5 });
    await until("a fresh attestation on chain", async () => {
      const w = await governance.getWorker(n.workers[0]!.address as Hex);
      return w && w.attestedAt > (before?.attestedAt ?? 0n) ? true : undefined;
    });
  });

  test("a worker that stops re-attesting expires: not routed, recorded Expired; it comes back when it resumes", async () => {
    const n = readNetwork(dir);
    const [victim, other] = [n.workers[0]!, n.workers[1]!];
    process.kill(victim.pid, "SIGSTOP");
    stopped = victim.pid;
    await until("the gatekeeper to record the worker as Expired", async () =>
      (await governance.getWorker(victim.address as Hex))?.status === WorkerStatus.Expired ? true : undefined,
    );
    // The gateway reads the worker set at most a second or so old: wait until it has dropped it.
    await until("the gateway to drop the worker", async () => {
      const health = (await (await fetch(`${readNetwork(dir).gateway.url}/v1/health`)).json()) as {
        workers: { address: string }[];
      };
      return health.workers.some((w) => w.address.toLowerCase() === victim.address.toLowerCase())
        ? undefined
        : true;
    });
    for (let i = 0; i < 4; i++) {
      const r = await veil(["invoke", "hello", "--path", "/greet", "-i"], { env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.toLowerCase(), new RegExp(`x-veil-worker: ${other.address.toLowerCase()}`));
    }
    process.kill(victim.pid, "SIGCONT");
    stopped = undefined;
    await until("the worker to re-attest and be active again", async () =>
      (await governance.getWorker(victim.address as Hex))?.status === WorkerStatus.Active ? true : undefined,
    );
  });

  test("a revoked measurement evicts every worker of that build: no routing, the status says why, verify fails", async () => {
    const n = readNetwork(dir);
    const measurement = (await governance.getWorker(n.workers[0]!.address as Hex))?.measurement as Hex;
    await governance.revokeMeasurement(TeeType.simulated, measurement);
    await until("the gatekeeper to record the revocation", async () => {
      const ws = await Promise.all(n.workers.map((w) => governance.getWorker(w.address as Hex)));
      return ws.every((w) => w?.status === WorkerStatus.MeasurementRevoked) ? true : undefined;
    });
    // The gateway reads the worker set at most a second old: within moments nothing is routed.
    // Meanwhile an answer that still comes from a revoked worker is refused by the caller, whose
    // receipt check requires the worker's standing (ADR 0020); it is never taken as good.
    const r = await until("the gateway to stop routing", async () => {
      const res = await veil(["invoke", "hello", "--path", "/greet"], { env });
      if (res.code === 0) assert.fail(`an answer from a revoked worker was accepted: ${res.stdout}`);
      if (!/No worker could serve/.test(res.stderr))
        assert.match(res.stderr, /RECEIPT_INVALID.*not a worker in standing/);
      return /No worker could serve/.test(res.stderr) ? res : undefined;
    });
    assert.match(r.stderr, /No worker could serve/);
    const v = await veil(["verify", "hello"], { env });
    assert.equal(v.code, 1);
    assert.match(v.stdout, /FAIL/);
  });
});
