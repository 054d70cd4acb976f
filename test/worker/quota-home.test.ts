import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { randomBytes, requestHash, signCaller, toHex } from "../../src/crypto/index.ts";
import { FsBlobStore } from "../../src/storage/blob-store.ts";
import { AgentTable } from "../../src/worker/agents.ts";
import { QuotaHomes } from "../../src/worker/quota-home.ts";
import { createWorkerServer } from "../../src/worker/server.ts";
import { recordVerified, signedWorkerRegistration } from "../helpers/chain.ts";
import { type EconomyTestChain, MEASUREMENT, startEconomyChain, workerKey } from "../helpers/economy.ts";

// Quotas across workers: two real workers (agent tables, sandboxes, HTTP servers) registered on
// the embedded chain; each (agent, caller) is counted at its home worker, whichever serves.

type W = { table: AgentTable; server: Server; url: string; homes: QuotaHomes; address: Hex };
let t: EconomyTestChain;
let dir: string;
let blobs: FsBlobStore;
const workers: W[] = [];

before(async () => {
  t = await startEconomyChain();
  dir = mkdtempSync(join(tmpdir(), "veil-quota-"));
  blobs = new FsBlobStore(dir);
  for (const n of [1, 2]) {
    const self = privateKeyToAccount(workerKey(n));
    const homes = new QuotaHomes({ chain: t.reader, self, peersTtlMs: 0, timeoutMs: 1_000 });
    const table = new AgentTable({
      chain: t.reader,
      blobs,
      log: () => {},
      pollIntervalMs: 50,
      quotas: homes,
      feeEscrow: t.economy.feeEscrow,
    });
    await table.start();
    const server = createWorkerServer({
      agents: table,
      isReady: () => true,
      info: () => ({}),
      maxRequestBytes: 1 << 20,
      quotas: homes,
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const reg = await signedWorkerRegistration(t, {
      operator: 1 + n,
      workerKey: workerKey(n),
      measurement: MEASUREMENT,
      endpoint: url,
    });
    await t.as(1 + n).registerWorker(reg);
    await recordVerified(t, self.address);
    workers.push({ table, server, url, homes, address: self.address });
  }
});
after(async () => {
  for (const w of workers) {
    w.table.stop();
    w.server.close();
  }
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
async function deployWithQuota(calls: number): Promise<bigint> {
  const code = `export default { async fetch() { return new Response("ok"); } };\n// ${++seq}`;
  const { id } = await t.as(1).registerAgent(`quota-${seq}`, await blobs.put(new TextEncoder().encode(code)));
  await t.as(1).setAgentQuota(id, calls, 3600);
  for (const w of workers) {
    const end = Date.now() + 10_000;
    while (
      w.table.get(id.toString())?.status !== "ready" ||
      (await w.table.policies.policy(id)).quotaCalls !== calls
    ) {
      assert.ok(Date.now() < end, "the worker loads the agent");
      w.table.policies.invalidate(id);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return id;
}

async function call(w: W, id: bigint, as: number): Promise<{ status: number; code?: string }> {
  const nonce = `0x${toHex(randomBytes(32))}` as Hex;
  const timestamp = Math.floor(Date.now() / 1000);
  const signed = signCaller(t.accounts[as]!.privateKey, {
    chainId: t.config.chainId,
    agentRegistry: t.config.contracts.agentRegistry,
    agentId: id,
    requestHash: requestHash("GET", "/", null),
    nonce,
    timestamp,
  });
  const res = await fetch(`${w.url}/v1/agents/${id}/invoke/`, {
    headers: {
      "x-veil-nonce": nonce,
      "x-veil-caller": t.accounts[as]!.address,
      "x-veil-caller-signature": signed.signature,
      "x-veil-caller-time": String(timestamp),
    },
  });
  const body = await res.text();
  return res.ok ? { status: res.status } : { status: res.status, code: JSON.parse(body).error.code };
}

describe("quotas counted across workers", () => {
  test("both workers see each other on chain, and agree on each caller's home", async () => {
    const peers = await workers[0]!.homes.peers();
    assert.deepEqual(
      peers.map((p) => p.address.toLowerCase()).sort(),
      workers.map((w) => w.address.toLowerCase()).sort(),
    );
    for (const caller of t.accounts.slice(3, 8)) {
      const a = await workers[0]!.homes.home("1", caller.address);
      const b = await workers[1]!.homes.home("1", caller.address);
      assert.equal(a?.address, b?.address);
    }
  });

  test("a caller gets its quota once in total, whichever worker serves it", async () => {
    const id = await deployWithQuota(3);
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await call(workers[i % 2]!, id, 4));
    assert.deepEqual(
      results.map((r) => r.status),
      [200, 200, 200, 429, 429, 429],
    );
    assert.equal(results[3]!.code, "QUOTA_EXCEEDED");
    assert.equal((await call(workers[1]!, id, 5)).status, 200, "another caller has its own count");
  });

  test("a quota request not signed by an active worker, or replayed, is refused and counts nothing", async () => {
    const id = await deployWithQuota(1);
    const caller = t.accounts[6]!.address;
    const home = (await workers[0]!.homes.home(id.toString(), caller))!;
    const homeW = workers.find((w) => w.address === home.address)!;
    const other = workers.find((w) => w !== homeW)!;
    // A stranger's key asks the home to use up the caller's quota: refused.
    const stranger = new QuotaHomes({ chain: t.reader, self: privateKeyToAccount(`0x${"77".repeat(32)}`) });
    const take = { agentId: id.toString(), caller, window: Math.floor(Date.now() / 1000 / 3600), limit: 1 };
    let sent: unknown;
    const realFetch = globalThis.fetch;
    globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      sent = JSON.parse(String(init?.body));
      return realFetch(input, init);
    }) as typeof fetch;
    try {
      // It cannot reach the home as a peer, so it counts locally: the home's count is untouched.
      await stranger.take(take);
    } finally {
      globalThis.fetch = realFetch;
    }
    const forged = await realFetch(`${home.url}/v1/quota`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(sent),
    });
    assert.equal(forged.status, 403);
    assert.equal(((await forged.json()) as { error: { code: string } }).error.code, "QUOTA_PEER_REFUSED");
    // A genuine request from the other worker, replayed by someone on the path: refused.
    let genuine: unknown;
    globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      if (String(input).endsWith("/v1/quota")) genuine = JSON.parse(String(init?.body));
      return realFetch(input, init);
    }) as typeof fetch;
    try {
      assert.equal((await call(other, id, 6)).status, 200, "the caller's one call, counted at its home");
    } finally {
      globalThis.fetch = realFetch;
    }
    assert.ok(genuine, "the serving worker asked the home");
    const replay = await realFetch(`${home.url}/v1/quota`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(genuine),
    });
    assert.equal(replay.status, 403);
    assert.equal((await call(homeW, id, 6)).code, "QUOTA_EXCEEDED", "the home counted the call once");
  });

  test("a sponsoring owner's cap holds across workers", async () => {
    const code = `export default { async fetch() { return new Response("ok"); } };\n// ${++seq}`;
    const { id } = await t
      .as(1)
      .registerAgent(`sponsored-${seq}`, await blobs.put(new TextEncoder().encode(code)));
    const price = 10n ** 18n;
    await t.fund(1, 5n * price);
    await t.econ(1).depositEscrow(5n * price);
    await t.as(1).setAgentPrice(id, price);
    await t.as(1).setAgentSpendingCap(id, 2n * price);
    for (const w of workers) {
      const end = Date.now() + 10_000;
      while (
        w.table.get(id.toString())?.status !== "ready" ||
        (await w.table.policies.policy(id)).spendingCap !== 2n * price
      ) {
        assert.ok(Date.now() < end, "the worker loads the agent");
        w.table.policies.invalidate(id);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const unsigned = async (w: W) => {
      const res = await fetch(`${w.url}/v1/agents/${id}/invoke/`);
      return res.ok ? 200 : ((await res.json()) as { error: { code: string } }).error.code;
    };
    assert.deepEqual(
      [
        await unsigned(workers[0]!),
        await unsigned(workers[1]!),
        await unsigned(workers[0]!),
        await unsigned(workers[1]!),
      ],
      [200, 200, "SPENDING_CAP_REACHED", "SPENDING_CAP_REACHED"],
    );
  });

  test("when the home cannot be reached, the serving worker counts by itself rather than refuse", async () => {
    const id = await deployWithQuota(1);
    const caller = t.accounts[7]!.address;
    const home = (await workers[0]!.homes.home(id.toString(), caller))!;
    const homeW = workers.find((w) => w.address === home.address)!;
    const other = workers.find((w) => w !== homeW)!;
    homeW.server.close();
    homeW.server.closeAllConnections();
    assert.equal((await call(other, id, 7)).status, 200);
    assert.equal((await call(other, id, 7)).code, "QUOTA_EXCEEDED", "its local count still holds the quota");
  });
});
