import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Hex } from "viem";
import { randomBytes, requestHash, sealRequest, signCaller, toHex } from "../../src/crypto/index.ts";
import { loadNetwork } from "../../src/network/config.ts";
import { VeilClient } from "../../src/sdk/index.ts";
import { startNetwork, stopNetwork, veil, writeCounterAgent } from "../helpers/cli.ts";

// Issue 18, attack 2, from the attacker's side: a worker (or anyone on the path) that saw a
// signed or end-to-end encrypted request sends the same bytes to another worker of the agent,
// later, or to the same worker after it restarted. Each must run once.
describe("a request runs once across the agent's workers", { timeout: 300_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-replay-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  let workers: string[] = [];
  let agentId = 0n;
  let agentKey: Uint8Array;
  let chainId = 0;

  before(async () => {
    network = await startNetwork(dir, ["--workers", "2"]);
    const counter = join(work, "counter");
    writeCounterAgent(counter);
    const deployed = await veil(["deploy", counter, "--name", "counter"], { env });
    assert.equal(deployed.code, 0, deployed.stderr);
    // Counts in module state: what one caller's realm remembers between its calls.
    const memo = join(work, "memo");
    mkdirSync(join(memo, "src"), { recursive: true });
    writeFileSync(
      join(memo, "src", "index.ts"),
      "let seen = 0;\nexport default { fetch() { seen += 1; return Response.json({ seen }); } };\n",
    );
    const memoDeployed = await veil(["deploy", memo, "--name", "memo"], { env });
    assert.equal(memoDeployed.code, 0, memoDeployed.stderr);
    const file = loadNetwork(env.VEIL_NETWORK);
    workers = file.workers.map((w) => w.url);
    chainId = file.chain.chainId;
    const identity = await new VeilClient(file).identity("counter");
    agentId = identity.id;
    agentKey = Buffer.from(identity.encryptionKey.slice(2), "hex");
    // Both workers serve it (each has its keys) before the attack starts.
    for (const url of workers) {
      for (let i = 0; i < 100; i++) {
        const res = await fetch(`${url}/v1/agents/${agentId}/invoke/`, { method: "POST" });
        if (res.status === 200) break;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  });
  after(async () => {
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  /** The counter after this call, which counts itself too. */
  const count = async (): Promise<number> => {
    const res = await fetch(`${workers[0]}/v1/agents/${agentId}/invoke/`, { method: "POST" });
    return ((await res.json()) as { n: number }).n;
  };
  const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

  test("a signed request answered by one worker is refused by the other", async () => {
    const nonce = `0x${toHex(randomBytes(32))}` as Hex;
    const timestamp = Math.floor(Date.now() / 1000);
    const user = loadNetwork(env.VEIL_NETWORK).devAccounts!.accounts[1]!;
    const signed = signCaller(user.privateKey, {
      chainId,
      agentRegistry: loadNetwork(env.VEIL_NETWORK).chain.contracts.agentRegistry,
      agentId,
      requestHash: requestHash("POST", "/", null),
      nonce,
      timestamp,
    });
    const headers = {
      "x-veil-nonce": nonce,
      "x-veil-caller": user.address,
      "x-veil-caller-signature": signed.signature,
      "x-veil-caller-time": String(timestamp),
    };
    const before = await count();
    const first = await fetch(`${workers[0]}/v1/agents/${agentId}/invoke/`, { method: "POST", headers });
    assert.equal(first.status, 200);
    await first.text();
    const replayed = await fetch(`${workers[1]}/v1/agents/${agentId}/invoke/`, { method: "POST", headers });
    assert.equal(replayed.status, 409);
    assert.equal(await errorCode(replayed), "REQUEST_REPLAYED");
    assert.equal(await count(), before + 2, "the request ran once, the replay not at all");
  });

  const sealed = (timestamp: number) =>
    sealRequest(agentKey, agentId, {
      method: "POST",
      path: "/",
      headers: [],
      body: "",
      replyTo: toHex(randomBytes(32)),
      nonce: `0x${toHex(randomBytes(32))}`,
      timestamp,
    });
  const sendSealed = (url: string, envelope: Uint8Array) =>
    fetch(`${url}/v1/agents/${agentId}/encrypted`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: envelope,
    });

  test("an encrypted request runs once: refused by the other worker, and by the same one after a restart", async () => {
    const envelope = sealed(Math.floor(Date.now() / 1000));
    const before = await count();
    const first = await sendSealed(workers[0]!, envelope);
    assert.equal(first.status, 200);
    await first.arrayBuffer();
    const elsewhere = await sendSealed(workers[1]!, envelope);
    assert.equal(elsewhere.status, 409);
    assert.equal(await errorCode(elsewhere), "REQUEST_REPLAYED");

    // kill -9 the worker that answered; veil up starts it again, with its memory gone.
    const pid = loadNetwork(env.VEIL_NETWORK).workers[0]!.pid;
    assert.ok(pid);
    const from = network!.output().length;
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 300 && !/worker-1 is back/.test(network!.output().slice(from)); i++) {
      await new Promise((r) => setTimeout(r, 200));
    }
    let again: Response | undefined;
    for (let i = 0; i < 100; i++) {
      again = await sendSealed(workers[0]!, envelope).catch(() => undefined);
      if (again && again.status !== 503) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(again?.status, 409);
    assert.equal(await errorCode(again!), "REQUEST_REPLAYED");
    assert.equal(await count(), before + 2, "the encrypted request ran once in all");
  });

  test("an encrypted request made long ago is refused as stale, and one without a time as well", async () => {
    const old = await sendSealed(workers[1]!, sealed(Math.floor(Date.now() / 1000) - 600));
    assert.equal(old.status, 401);
    assert.equal(await errorCode(old), "REQUEST_STALE");
    const timeless = sealRequest(agentKey, agentId, {
      method: "POST",
      path: "/",
      headers: [],
      body: "",
      replyTo: toHex(randomBytes(32)),
      nonce: `0x${toHex(randomBytes(32))}`,
    } as unknown as Parameters<typeof sealRequest>[2]);
    const none = await sendSealed(workers[1]!, timeless);
    assert.equal(none.status, 401);
    assert.equal(await errorCode(none), "REQUEST_STALE");
  });

  test("a sealed caller with an identity keeps its realm; anonymous sealed callers get one each", async () => {
    const file = loadNetwork(env.VEIL_NETWORK);
    const user = file.devAccounts!.accounts.find((a) => a.role === "user")!;
    // Straight to one worker (its encrypted endpoint is the gateway's path): module state is per worker.
    const direct = new VeilClient({ ...file, gateway: { url: workers[0]! } });
    const seen = async (request: { as?: Hex }) => {
      const r = await direct.invoke("memo", { encrypt: true, ...request });
      assert.equal(r.status, 200);
      return (JSON.parse(new TextDecoder().decode(r.body)) as { seen: number }).seen;
    };
    // Wait until this worker serves it.
    for (let i = 0; i < 100; i++) {
      if (await seen({}).catch(() => 0)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(await seen({}), 1, "an anonymous sealed caller starts from a fresh module");
    assert.equal(await seen({}), 1, "and the next one again: nothing of the last one is left");
    const first = await seen({ as: user.privateKey });
    assert.equal(await seen({ as: user.privateKey }), first + 1, "the same signed caller's realm is kept");
  });
});
