import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Hex, parseUnits, zeroAddress } from "viem";
import { randomBytes, requestHash, signCaller, toHex } from "../../src/crypto/index.ts";
import { FsBlobStore } from "../../src/storage/blob-store.ts";
import { AgentTable } from "../../src/worker/agents.ts";
import { PolicyGate } from "../../src/worker/policy.ts";
import { createWorkerServer } from "../../src/worker/server.ts";
import { type EconomyTestChain, rejectsWith, startEconomyChain } from "../helpers/economy.ts";

// A real worker (agent table following the chain, isolated-vm sandbox, HTTP server) enforcing
// the AgentRegistry's policy: pause, access modes with signed callers, quotas, price, removal.

let t: EconomyTestChain;
let dir: string;
let blobs: FsBlobStore;
let table: AgentTable;
let server: Server;
let url: string;
let seq = 0;

const CODE = `export default { async fetch(request) { return new Response("ran " + new URL(request.url).pathname); } };`;

before(async () => {
  t = await startEconomyChain();
  dir = mkdtempSync(join(tmpdir(), "veil-policy-"));
  blobs = new FsBlobStore(dir);
  table = new AgentTable({
    chain: t.reader,
    blobs,
    log: () => {},
    pollIntervalMs: 50,
    feeEscrow: t.economy.feeEscrow,
  });
  await table.start();
  server = createWorkerServer({
    agents: table,
    isReady: () => true,
    info: () => ({}),
    maxRequestBytes: 1 << 20,
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  table?.stop();
  server?.close();
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A new agent owned by account 1, served by the worker once it has loaded. */
async function deploy(code = CODE): Promise<bigint> {
  const hash = await blobs.put(new TextEncoder().encode(`${code}\n// ${seq}`));
  const { id } = await t.as(1).registerAgent(`guarded-${++seq}`, hash);
  await until(async () => table.get(id.toString())?.status === "ready");
  return id;
}

async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("timed out waiting for the worker");
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Call = { status: number; code?: string; body: string };

/** GET /hello on agent `id`, signed as dev account `as` when given. */
async function call(
  id: bigint,
  options: { as?: number; signer?: Hex; timestamp?: number; headers?: Record<string, string> } = {},
): Promise<Call> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.as !== undefined && !options.headers) {
    const nonce = `0x${toHex(randomBytes(32))}` as Hex;
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    const signed = signCaller(options.signer ?? t.accounts[options.as]!.privateKey, {
      chainId: t.config.chainId,
      agentRegistry: t.config.contracts.agentRegistry,
      agentId: id,
      requestHash: requestHash("GET", "/hello", null),
      nonce,
      timestamp,
    });
    Object.assign(headers, {
      "x-veil-nonce": nonce,
      "x-veil-caller": t.accounts[options.as]!.address,
      "x-veil-caller-signature": signed.signature,
      "x-veil-caller-time": String(timestamp),
    });
  }
  const res = await fetch(`${url}/v1/agents/${id}/invoke/hello`, { headers });
  const body = await res.text();
  let code: string | undefined;
  if (!res.ok) code = (JSON.parse(body) as { error: { code: string } }).error.code;
  return { status: res.status, body, ...(code ? { code } : {}) };
}

/** Waits until the worker has seen the latest block's events. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 300));
}

describe("worker enforcement of the agent policy", () => {
  test("a public agent runs for an unsigned caller", async () => {
    const id = await deploy();
    const r = await call(id);
    assert.equal(r.status, 200);
    assert.equal(r.body, "ran /hello");
  });

  test("a paused agent is refused with AGENT_PAUSED (423), and runs again once unpaused", async () => {
    const id = await deploy();
    await t.as(1).pauseAgent(id);
    await settle();
    const r = await call(id);
    assert.equal(r.status, 423);
    assert.equal(r.code, "AGENT_PAUSED");
    await t.as(1).unpauseAgent(id);
    await settle();
    assert.equal((await call(id)).status, 200);
  });

  test("allowlist mode refuses an unsigned caller", async () => {
    const id = await deploy();
    await t.as(1).setAgentAccess(id, "allowlist", zeroAddress, 0n);
    await settle();
    const r = await call(id);
    assert.equal(r.status, 401);
    assert.equal(r.code, "CALLER_SIGNATURE_REQUIRED");
  });

  test("allowlist mode refuses a signed caller not on the list and runs for one on it", async () => {
    const id = await deploy();
    await t.as(1).setAgentAccess(id, "allowlist", zeroAddress, 0n);
    await t.as(1).setAgentAllowed(id, [t.accounts[4]!.address], true);
    await settle();
    const outsider = await call(id, { as: 5 });
    assert.equal(outsider.status, 403);
    assert.equal(outsider.code, "CALLER_NOT_ALLOWED");
    const listed = await call(id, { as: 4 });
    assert.equal(listed.status, 200);
    assert.equal(listed.body, "ran /hello");
  });

  test("removing a caller from the allowlist locks it out on the next block", async () => {
    const id = await deploy();
    await t.as(1).setAgentAccess(id, "allowlist", zeroAddress, 0n);
    await t.as(1).setAgentAllowed(id, [t.accounts[4]!.address], true);
    await settle();
    assert.equal((await call(id, { as: 4 })).status, 200);
    await t.as(1).setAgentAllowed(id, [t.accounts[4]!.address], false);
    await settle();
    assert.equal((await call(id, { as: 4 })).code, "CALLER_NOT_ALLOWED");
  });

  test("a signature by another key for a listed address is refused", async () => {
    const id = await deploy();
    await t.as(1).setAgentAccess(id, "allowlist", zeroAddress, 0n);
    await t.as(1).setAgentAllowed(id, [t.accounts[4]!.address], true);
    await settle();
    const r = await call(id, { as: 4, signer: t.accounts[5]!.privateKey });
    assert.equal(r.status, 401);
    assert.equal(r.code, "CALLER_SIGNATURE_INVALID");
  });

  test("a replayed signed request is refused", async () => {
    const id = await deploy();
    const nonce = `0x${toHex(randomBytes(32))}` as Hex;
    const timestamp = Math.floor(Date.now() / 1000);
    const signed = signCaller(t.accounts[4]!.privateKey, {
      chainId: t.config.chainId,
      agentRegistry: t.config.contracts.agentRegistry,
      agentId: id,
      requestHash: requestHash("GET", "/hello", null),
      nonce,
      timestamp,
    });
    const headers = {
      "x-veil-nonce": nonce,
      "x-veil-caller": t.accounts[4]!.address,
      "x-veil-caller-signature": signed.signature,
      "x-veil-caller-time": String(timestamp),
    };
    assert.equal((await call(id, { headers })).status, 200);
    const again = await call(id, { headers });
    assert.equal(again.status, 409);
    assert.equal(again.code, "REQUEST_REPLAYED");
  });

  test("a stale signature is refused", async () => {
    const id = await deploy();
    const r = await call(id, { as: 4, timestamp: Math.floor(Date.now() / 1000) - 3600 });
    assert.equal(r.status, 401);
    assert.equal(r.code, "CALLER_SIGNATURE_STALE");
  });

  test("token-holder mode runs for a holder and refuses a caller below the minimum", async () => {
    const id = await deploy();
    await t.as(1).setAgentAccess(id, "tokenHolders", t.economy.token, parseUnits("5", 18));
    await t.fund(6, parseUnits("5", 18));
    await settle();
    assert.equal((await call(id, { as: 6 })).status, 200);
    const poor = await call(id, { as: 8 });
    assert.equal(poor.status, 403);
    assert.equal(poor.code, "CALLER_NOT_ALLOWED");
  });

  test("a caller over its quota is refused with QUOTA_EXCEEDED (429); others still run", async () => {
    const id = await deploy();
    await t.as(1).setAgentQuota(id, 2, 3600);
    await settle();
    assert.equal((await call(id, { as: 4 })).status, 200);
    assert.equal((await call(id, { as: 4 })).status, 200);
    const over = await call(id, { as: 4 });
    assert.equal(over.status, 429);
    assert.equal(over.code, "QUOTA_EXCEEDED");
    assert.equal((await call(id, { as: 5 })).status, 200);
  });

  test("a priced agent refuses a caller without prepaid escrow, and runs once it has deposited", async () => {
    const id = await deploy();
    const price = parseUnits("0.25", 18);
    await t.as(1).setAgentPrice(id, price);
    await settle();
    const broke = await call(id, { as: 7 });
    assert.equal(broke.status, 402);
    assert.equal(broke.code, "ESCROW_INSUFFICIENT_PREPAID");
    const error = (JSON.parse(broke.body) as { error: { message: string; hint: string } }).error;
    assert.match(error.message, /has 0 VEIL prepaid; a call to .* costs 0\.25 VEIL/);
    assert.match(error.hint, /veil escrow deposit 0\.25/);
    await t.fund(7, price);
    await t.econ(7).depositEscrow(price);
    assert.equal((await call(id, { as: 7 })).status, 200);
  });

  test("a price increase is charged only once its delay has passed, with no event to tell the worker", async () => {
    const id = await deploy();
    await t.as(0).setPriceIncreaseDelay(2);
    try {
      await t.as(1).setAgentPrice(id, parseUnits("0.25", 18));
      await settle();
      // Scheduled: callers without escrow are still served, for free.
      assert.equal((await call(id, { as: 8 })).status, 200);
      assert.equal((await table.policies.policy(id)).price, 0n);
      // Due: the worker reads the policy again by itself and charges the new price.
      let status = 200;
      for (let i = 0; i < 60 && status === 200; i++) {
        await new Promise((r) => setTimeout(r, 250));
        await t.mine(1); // the chain reads time from its latest block (a live chain mines on)
        status = (await call(id, { as: 8 })).status;
      }
      assert.equal(
        status,
        402,
        `refused once the price applies (chain ${(await t.reader.getAgentPolicy(id)).price}, worker ${(await table.policies.policy(id)).price}, now ${Date.now()})`,
      );
      assert.equal((await table.policies.policy(id)).price, parseUnits("0.25", 18));
    } finally {
      await t.as(0).setPriceIncreaseDelay(0);
    }
  });

  test("a sponsored agent stops at the owner's spending cap", async () => {
    const id = await deploy();
    const price = parseUnits("1", 18);
    await t.fund(1, parseUnits("10", 18));
    await t.econ(1).depositEscrow(parseUnits("10", 18));
    await t.as(1).setAgentPrice(id, price);
    await t.as(1).setAgentSpendingCap(id, parseUnits("2", 18));
    await settle();
    assert.equal((await call(id)).status, 200, "sponsored calls need no signed caller");
    assert.equal((await call(id)).status, 200);
    const capped = await call(id);
    assert.equal(capped.status, 402);
    assert.equal(capped.code, "SPENDING_CAP_REACHED");
  });

  test("a removed version is refused even by a worker still holding it", async () => {
    const id = await deploy();
    const stale = await t.reader.getAgent(id);
    const next = await blobs.put(new TextEncoder().encode(`${CODE}\n// next ${seq}`));
    await t.as(1).addAgentVersion(id, next, true);
    await t.as(1).removeAgentVersion(id, 0);
    // A worker that has not yet followed the activation still serves version 0 from its cache.
    const gate = new PolicyGate({ chain: t.reader });
    await rejectsWith(gate.admit(stale, undefined), "VERSION_REMOVED");
    await settle();
    assert.equal((await call(id)).status, 200, "the worker moved on to the new version");
    assert.equal(table.get(id.toString())?.record.codeHash, next);
  });
});
