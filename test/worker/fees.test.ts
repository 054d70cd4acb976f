import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Hex, parseUnits } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { VeilEconomy } from "../../src/chain/economy-client.ts";
import { type FeeQuote, signQuote, type VoucherHeader } from "../../src/chain/fee-vouchers.ts";
import { randomBytes, requestHash, signCaller, toHex } from "../../src/crypto/index.ts";
import type { NetworkFile } from "../../src/network/config.ts";
import { VeilClient } from "../../src/sdk/client.ts";
import { FsBlobStore } from "../../src/storage/blob-store.ts";
import { AgentTable } from "../../src/worker/agents.ts";
import { encodeVoucher, FeeCollector, FeeLedger } from "../../src/worker/fees.ts";
import { PolicyGate } from "../../src/worker/policy.ts";
import { createWorkerServer } from "../../src/worker/server.ts";
import { FeeSettlement } from "../../src/worker/settlement.ts";
import { type EconomyTestChain, rejectsWith, startEconomyChain, workerKey } from "../helpers/economy.ts";

// A real worker (agent table, isolated-vm sandbox, HTTP server, SQLite ledger) paid for priced
// calls: each call carries the payer's cumulative voucher, and the settlement loop claims them
// from FeeEscrow on the embedded chain.

let t: EconomyTestChain;
let dir: string;
let blobs: FsBlobStore;
let table: AgentTable;
let server: Server;
let url: string;
let ledger: FeeLedger;
let worker: Hex;
let seq = 0;
const OPERATOR = 2;
const LEDGER_KEY = randomBytes(32);

const CODE = `export default { async fetch(request) { return new Response("ran " + new URL(request.url).pathname); } };`;

before(async () => {
  t = await startEconomyChain();
  worker = await t.registerWorker(OPERATOR, workerKey(1));
  dir = mkdtempSync(join(tmpdir(), "veil-fees-"));
  blobs = new FsBlobStore(dir);
  ledger = await FeeLedger.open(join(dir, "fees.sqlite"), worker, { key: LEDGER_KEY });
  table = new AgentTable({
    chain: t.reader,
    blobs,
    log: () => {},
    pollIntervalMs: 50,
    feeEscrow: t.economy.feeEscrow,
    fees: new FeeCollector({ chain: t.reader, feeEscrow: t.economy.feeEscrow, ledger, worker }),
  });
  await table.start();
  server = createWorkerServer({
    agents: table,
    isReady: () => true,
    info: () => ({}),
    maxRequestBytes: 1 << 20,
    fees: () => ledger.stats(),
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  table?.stop();
  server?.close();
  ledger?.close();
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function deployPriced(price: bigint): Promise<bigint> {
  const hash = await blobs.put(new TextEncoder().encode(`${CODE}\n// ${seq}`));
  const { id } = await t.as(1).registerAgent(`paid-${++seq}`, hash);
  await t.as(1).setAgentPrice(id, price);
  const end = Date.now() + 10_000;
  while (table.get(id.toString())?.status !== "ready" || (await table.policies.policy(id)).price !== price) {
    if (Date.now() > end) throw new Error("timed out waiting for the worker");
    table.policies.invalidate(id);
    await new Promise((r) => setTimeout(r, 50));
  }
  return id;
}

type Call = { status: number; code?: string; body: string; quote?: FeeQuote };

/** GET /hello on agent `id` signed as dev account `as`, with `voucher` if given. */
async function call(id: bigint, as: number, voucher?: VoucherHeader): Promise<Call> {
  const nonce = `0x${toHex(randomBytes(32))}` as Hex;
  const timestamp = Math.floor(Date.now() / 1000);
  const signed = signCaller(t.accounts[as]!.privateKey, {
    chainId: t.config.chainId,
    agentRegistry: t.config.contracts.agentRegistry,
    agentId: id,
    requestHash: requestHash("GET", "/hello", null),
    nonce,
    timestamp,
  });
  const res = await fetch(`${url}/v1/agents/${id}/invoke/hello`, {
    headers: {
      "x-veil-nonce": nonce,
      "x-veil-caller": t.accounts[as]!.address,
      "x-veil-caller-signature": signed.signature,
      "x-veil-caller-time": String(timestamp),
      ...(voucher ? { "x-veil-fee-voucher": encodeVoucher(voucher) } : {}),
    },
  });
  const body = await res.text();
  const quote = res.headers.get("x-veil-fee-quote");
  return {
    status: res.status,
    body,
    ...(res.ok ? {} : { code: (JSON.parse(body) as { error: { code: string } }).error.code }),
    ...(quote ? { quote: JSON.parse(Buffer.from(quote, "base64").toString("utf8")) as FeeQuote } : {}),
  };
}

const account = (i: number) => privateKeyToAccount(t.accounts[i]!.privateKey);

/** Pays for `n` calls as account `as`: the first after a quote, the rest signed ahead. */
async function paidCalls(id: bigint, as: number, n: number): Promise<void> {
  const first = await call(id, as);
  assert.equal(first.code, "FEE_VOUCHER_REQUIRED");
  let quote = first.quote!;
  for (let i = 0; i < n; i++) {
    const r = await call(id, as, await signQuote(account(as), quote));
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, "ran /hello");
    quote = {
      ...quote,
      calls: (BigInt(quote.calls) + 1n).toString(),
      amount: (BigInt(quote.amount) + BigInt(quote.price)).toString(),
    };
  }
}

const settlement = (economy: VeilEconomy = t.econ(OPERATOR)) =>
  new FeeSettlement({ ledger, economy, worker, log: () => {} });

describe("workers are paid for priced calls", () => {
  test("a call without a voucher gets a quote (402) and runs once the payer signs it", async () => {
    const price = parseUnits("0.25", 18);
    const id = await deployPriced(price);
    await t.fund(7, parseUnits("1", 18));
    await t.econ(7).depositEscrow(parseUnits("1", 18));
    const r = await call(id, 7);
    assert.equal(r.status, 402);
    assert.equal(r.code, "FEE_VOUCHER_REQUIRED");
    assert.deepEqual(
      { ...r.quote!, payer: r.quote!.payer.toLowerCase(), worker: r.quote!.worker.toLowerCase() },
      {
        chainId: t.config.chainId,
        feeEscrow: t.economy.feeEscrow,
        worker: worker.toLowerCase(),
        payer: t.accounts[7]!.address.toLowerCase(),
        agentId: id.toString(),
        calls: "1",
        amount: price.toString(),
        price: price.toString(),
      },
    );
    const ok = await call(id, 7, await signQuote(account(7), r.quote!));
    assert.equal(ok.status, 200);
    assert.equal((await ledger.channel(t.accounts[7]!.address, id))?.calls, 1n);
  });

  test("bad vouchers are refused and leave the channel as it was", async () => {
    const price = parseUnits("0.1", 18);
    const id = await deployPriced(price);
    await t.fund(8, parseUnits("1", 18));
    await t.econ(8).depositEscrow(parseUnits("1", 18));
    const quote = (await call(id, 8)).quote!;
    const payer = t.accounts[8]!.address;
    const forged = await call(id, 8, await signQuote(account(9), quote));
    assert.equal(forged.code, "VOUCHER_SIGNATURE_INVALID", "signed by a key the payer never authorized");
    const cheap = await call(id, 8, await signQuote(account(8), { ...quote, amount: "1" }));
    assert.equal(cheap.code, "FEE_VOUCHER_REQUIRED", "an amount below the price");
    assert.equal(cheap.quote?.amount, price.toString());
    const garbled = await fetch(`${url}/v1/agents/${id}/invoke/hello`, {
      headers: { "x-veil-fee-voucher": "not base64 json" },
    });
    assert.equal(garbled.status, 402);
    assert.deepEqual(await ledger.channel(payer, id), { calls: 0n, amount: 0n, claimedAmount: 0n });
    const good = await signQuote(account(8), quote);
    assert.equal((await call(id, 8, good)).status, 200);
    const replay = await call(id, 8, good);
    assert.equal(replay.code, "FEE_VOUCHER_REQUIRED", "the same voucher pays for one call only");
    assert.equal(replay.quote?.calls, "2");
    assert.equal((await ledger.channel(payer, id))?.calls, 1n);
  });

  test("a payer whose escrow does not cover what it owes this worker is refused", async () => {
    const price = parseUnits("0.4", 18);
    const id = await deployPriced(price);
    await t.fund(9, parseUnits("0.5", 18));
    await t.econ(9).depositEscrow(parseUnits("0.5", 18));
    await paidCalls(id, 9, 1);
    // 0.5 prepaid, 0.4 owed unclaimed: a second call (0.8 owed) is more than the escrow holds.
    const quote = (await call(id, 9)).quote!;
    const r = await call(id, 9, await signQuote(account(9), quote));
    assert.equal(r.status, 402);
    assert.equal(r.code, "ESCROW_INSUFFICIENT_PREPAID");
    assert.equal((await ledger.channel(t.accounts[9]!.address, id))?.calls, 1n);
  });

  test("settlement claims several calls in one transaction; the operator is paid, the treasury takes its share, the escrow falls", async () => {
    const price = parseUnits("0.25", 18);
    const id = await deployPriced(price);
    await t.fund(6, parseUnits("5", 18));
    await t.econ(6).depositEscrow(parseUnits("5", 18));
    await t.fund(5, parseUnits("5", 18));
    await t.econ(5).depositEscrow(parseUnits("5", 18));
    await paidCalls(id, 6, 4);
    await paidCalls(id, 5, 2);
    const payer6 = t.accounts[6]!.address;
    const payer5 = t.accounts[5]!.address;
    // Earlier tests left their channels pending too: settle them all, then check this agent's.
    const operator = t.accounts[OPERATOR]!.address;
    const before = {
      operator: await t.econReader.balanceOf(operator),
      treasury: await t.econReader.balanceOf(t.economy.treasury),
      escrow6: (await t.econReader.escrowAccount(payer6)).balance,
      escrow5: (await t.econReader.escrowAccount(payer5)).balance,
    };
    const pendingBefore = (await ledger.stats()).pendingAmount;
    const result = await settlement().settle();
    assert.equal(result.txs.length, 1, "one claim transaction for every channel");
    assert.equal(result.dropped, 0);
    assert.equal(result.paid, pendingBefore);
    const total = pendingBefore;
    const toTreasury = (total * 1000n) / 10_000n;
    assert.equal(await t.econReader.balanceOf(operator), before.operator + total - toTreasury - 0n);
    assert.equal(await t.econReader.balanceOf(t.economy.treasury), before.treasury + toTreasury);
    assert.equal((await t.econReader.escrowAccount(payer6)).balance, before.escrow6 - 4n * price);
    assert.equal((await t.econReader.escrowAccount(payer5)).balance, before.escrow5 - 2n * price);
    assert.deepEqual(await t.econReader.feeChannel(payer6, worker, id), { calls: 4n, amount: 4n * price });
    const stats = await ledger.stats();
    assert.equal(stats.pendingAmount, 0n);
    assert.equal(stats.pendingCalls, 0n);
    // GET /v1/fees shows the same (what `veil worker status` prints).
    const shown = (await (await fetch(`${url}/v1/fees`)).json()) as {
      pendingAmount: string;
      claimedAmount: string;
    };
    assert.equal(shown.pendingAmount, "0");
    assert.equal(BigInt(shown.claimedAmount), stats.claimedAmount);

    // The same vouchers claimed again are refused on chain…
    const stale = await t.econ(OPERATOR).feeChannel(payer6, worker, id);
    const latest = await signQuote(account(6), {
      chainId: t.config.chainId,
      feeEscrow: t.economy.feeEscrow,
      worker,
      payer: payer6,
      agentId: id.toString(),
      calls: stale.calls.toString(),
      amount: stale.amount.toString(),
      price: price.toString(),
    });
    await rejectsWith(
      t
        .econ(OPERATOR)
        .claimFees(worker, [
          { payer: payer6, agentId: id, calls: 4n, amount: 4n * price, r: latest.r, vs: latest.vs },
        ]),
      "VOUCHER_ALREADY_CLAIMED",
    );
    // …and a worker that lost the claim's receipt (it forgets it was paid) drops them, once.
    await ledger.forgetPaid(payer6, id, { calls: 0n, amount: 0n });
    assert.equal((await ledger.stats()).pendingCalls, 4n);
    const operatorNow = await t.econReader.balanceOf(operator);
    const again = await settlement().settle();
    assert.equal(again.dropped, 1);
    assert.equal(again.claimed, 0);
    assert.equal(await t.econReader.balanceOf(operator), operatorNow, "nothing paid twice");
    assert.equal((await ledger.stats()).pendingCalls, 0n);
    assert.equal((await ledger.stats()).dropped, 1);
    const third = await settlement().settle();
    assert.deepEqual([third.claimed, third.dropped, third.txs.length], [0, 0, 0], "not retried");
  });

  test("a failed claim transaction leaves the vouchers pending and is retried", async () => {
    const price = parseUnits("0.5", 18);
    const id = await deployPriced(price);
    await t.fund(4, parseUnits("2", 18));
    await t.econ(4).depositEscrow(parseUnits("2", 18));
    await paidCalls(id, 4, 2);
    const dead = new VeilEconomy(
      { ...t.econConfig, rpcUrl: "http://127.0.0.1:9" },
      { account: t.accounts[OPERATOR]!.privateKey, pollingIntervalMs: 5 },
    );
    const failed = await settlement(dead).settle();
    assert.ok(failed.error, "the claim failed");
    assert.equal(failed.claimed, 0);
    assert.equal((await ledger.channel(t.accounts[4]!.address, id))?.claimedAmount, 0n, "still pending");
    const retried = await settlement().settle();
    assert.equal(retried.txs.length, 1);
    assert.deepEqual(await t.econReader.feeChannel(t.accounts[4]!.address, worker, id), {
      calls: 2n,
      amount: 2n * price,
    });
    assert.equal((await ledger.stats()).pendingCalls, 0n);
  });

  test("vouchers survive a worker restart: a new ledger on the same file claims them", async () => {
    const price = parseUnits("0.2", 18);
    const id = await deployPriced(price);
    await t.fund(4, parseUnits("1", 18));
    await t.econ(4).depositEscrow(parseUnits("1", 18));
    await paidCalls(id, 4, 3);
    const reopened = await FeeLedger.open(join(dir, "fees.sqlite"), worker, { key: LEDGER_KEY });
    try {
      assert.equal((await reopened.channel(t.accounts[4]!.address, id))?.calls, 3n);
      const r = await new FeeSettlement({ ledger: reopened, economy: t.econ(OPERATOR), worker }).settle();
      assert.equal(r.txs.length, 1);
      assert.deepEqual(await t.econReader.feeChannel(t.accounts[4]!.address, worker, id), {
        calls: 3n,
        amount: 3n * price,
      });
      assert.equal((await ledger.stats()).pendingCalls, 0n, "the running worker's ledger sees it paid too");
    } finally {
      await reopened.close();
    }
  });

  test("the settlement loop claims by itself once enough calls are pending", async () => {
    const price = parseUnits("0.01", 18);
    const id = await deployPriced(price);
    await t.fund(3, parseUnits("1", 18));
    await t.econ(3).depositEscrow(parseUnits("1", 18));
    const loop = new FeeSettlement({
      ledger,
      economy: t.econ(OPERATOR),
      worker,
      claimAtCalls: 3,
      intervalMs: 3_600_000,
      pollMs: 50,
    });
    loop.start();
    try {
      await paidCalls(id, 3, 2);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(
        (await t.econReader.feeChannel(t.accounts[3]!.address, worker, id)).calls,
        0n,
        "2 < 3: waits",
      );
      await paidCalls(id, 3, 1);
      const end = Date.now() + 10_000;
      while ((await t.econReader.feeChannel(t.accounts[3]!.address, worker, id)).calls !== 3n) {
        assert.ok(Date.now() < end, "the loop claimed");
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await loop.stop();
    }
  });
});

describe("the SDK pays, and checks what it signs", () => {
  /** A stand-in gateway: forwards to the worker, or (a dishonest host) answers with its own quote. */
  let mode: "proxy" | FeeQuote = "proxy";
  let vouchersSeen = 0;
  let gateway: Server;
  let client: VeilClient;
  before(async () => {
    gateway = createServer((req, res) => {
      if (req.headers["x-veil-fee-voucher"]) vouchersSeen++;
      if (mode !== "proxy") {
        res.writeHead(402, {
          "content-type": "application/json",
          "x-veil-fee-quote": Buffer.from(JSON.stringify(mode)).toString("base64"),
        });
        res.end(JSON.stringify({ error: { code: "FEE_VOUCHER_REQUIRED", message: "pay", hint: "sign" } }));
        return;
      }
      const [, , id, ...rest] = (req.url ?? "/").split("/");
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => k.startsWith("x-veil-")) as [string, string][],
      );
      fetch(`${url}/v1/agents/${id}/invoke/${rest.join("/")}`, { headers }).then(async (r) => {
        const out: Record<string, string> = {};
        r.headers.forEach((v, k) => {
          if (k !== "content-length" && k !== "transfer-encoding") out[k] = v;
        });
        res.writeHead(r.status, out);
        res.end(Buffer.from(await r.arrayBuffer()));
      });
    });
    await new Promise<void>((r) => gateway.listen(0, "127.0.0.1", r));
    client = new VeilClient({
      chain: { ...t.config, economy: t.economy },
      gateway: { url: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}` },
    } as unknown as NetworkFile);
  });
  after(() => gateway?.close());

  test("invoke with `as` signs the quoted voucher, then signs the next ones ahead", async () => {
    const price = parseUnits("0.3", 18);
    const id = await deployPriced(price);
    await t.fund(5, parseUnits("2", 18));
    await t.econ(5).depositEscrow(parseUnits("2", 18));
    for (let i = 0; i < 3; i++) {
      const r = await client.invoke(id.toString(), {
        path: "/hello",
        as: t.accounts[5]!.privateKey,
        verify: false,
      });
      assert.equal(r.status, 200);
    }
    assert.equal((await ledger.channel(t.accounts[5]!.address, id))?.calls, 3n);
  });

  test("a quote the chain does not back is refused before anything is signed", async () => {
    const price = parseUnits("0.3", 18);
    const id = await deployPriced(price);
    const honest: FeeQuote = {
      chainId: t.config.chainId,
      feeEscrow: t.economy.feeEscrow,
      worker,
      payer: t.accounts[6]!.address,
      agentId: id.toString(),
      calls: "1",
      amount: price.toString(),
      price: price.toString(),
    };
    const before = vouchersSeen;
    for (const dishonest of [
      { ...honest, price: "1", amount: "1" },
      { ...honest, calls: "5000", amount: (price * 5000n).toString() },
      { ...honest, feeEscrow: t.economy.token },
    ]) {
      mode = dishonest;
      await rejectsWith(
        client.invoke(id.toString(), { path: "/hello", as: t.accounts[6]!.privateKey, verify: false }),
        "FEE_QUOTE_INVALID",
      );
    }
    mode = "proxy";
    assert.equal(vouchersSeen, before, "no voucher was ever sent for a dishonest quote");
  });
});

describe("sponsored calls and calls from agents", () => {
  test("a sponsoring owner pays through its agent's key once it authorized it; not before", async () => {
    const price = parseUnits("1", 18);
    const id = await deployPriced(price);
    await t.as(1).setAgentSpendingCap(id, parseUnits("2", 18));
    await t.fund(1, parseUnits("10", 18));
    await t.econ(1).depositEscrow(parseUnits("10", 18));
    const record = await t.reader.getAgent(id);
    const agentKey = privateKeyToAccount(`0x${toHex(randomBytes(32))}`);
    const gate = new PolicyGate({
      chain: t.reader,
      feeEscrow: t.economy.feeEscrow,
      fees: new FeeCollector({
        chain: t.reader,
        feeEscrow: t.economy.feeEscrow,
        ledger,
        worker,
        scopeCacheMs: 0,
      }),
    });
    await rejectsWith(gate.admit(record, undefined, { agentKey }), "FEE_SIGNER_NOT_AUTHORIZED");
    await t.econ(1).authorizeSigner(agentKey.address, id);
    const a = await gate.admit(record, undefined, { agentKey });
    assert.equal(a.payer, t.accounts[1]!.address);
    assert.equal(a.voucher?.calls, 1n);
    await gate.admit(record, undefined, { agentKey });
    await rejectsWith(gate.admit(record, undefined, { agentKey }), "SPENDING_CAP_REACHED");
    const result = await settlement().settle();
    assert.equal(result.txs.length, 1);
    assert.deepEqual(await t.econReader.feeChannel(t.accounts[1]!.address, worker, id), {
      calls: 2n,
      amount: 2n * price,
    });
  });

  test("vouchers whose signer was revoked before the claim are dropped; the rest are still claimed", async () => {
    const sponsoredId = await deployPriced(parseUnits("1", 18));
    await t.as(1).setAgentSpendingCap(sponsoredId, parseUnits("5", 18));
    await t.fund(1, parseUnits("5", 18));
    await t.econ(1).depositEscrow(parseUnits("5", 18));
    const agentKey = privateKeyToAccount(`0x${toHex(randomBytes(32))}`);
    await t.econ(1).authorizeSigner(agentKey.address, sponsoredId);
    const gate = new PolicyGate({
      chain: t.reader,
      feeEscrow: t.economy.feeEscrow,
      fees: new FeeCollector({
        chain: t.reader,
        feeEscrow: t.economy.feeEscrow,
        ledger,
        worker,
        scopeCacheMs: 0,
      }),
    });
    await gate.admit(await t.reader.getAgent(sponsoredId), undefined, { agentKey });
    const otherId = await deployPriced(parseUnits("0.1", 18));
    await t.fund(8, parseUnits("1", 18));
    await t.econ(8).depositEscrow(parseUnits("1", 18));
    await paidCalls(otherId, 8, 2);
    await t.econ(1).revokeSigner(agentKey.address);
    const r = await settlement().settle();
    assert.equal(r.dropped, 1, "the revoked signer's voucher");
    assert.equal(r.txs.length, 1, "the others in one claim");
    assert.equal((await t.econReader.feeChannel(t.accounts[1]!.address, worker, sponsoredId)).calls, 0n);
    assert.equal((await t.econReader.feeChannel(t.accounts[8]!.address, worker, otherId)).calls, 2n);
    assert.equal((await ledger.stats()).pendingCalls, 0n, "nothing left to block later claims");
  });

  test("a calling agent's owner pays for its calls to a priced agent, signed by the calling agent's key", async () => {
    const price = parseUnits("0.5", 18);
    const callee = await deployPriced(price);
    // The calling agent: owned by account 0, with a key of its own (on its worker).
    const hash = await blobs.put(new TextEncoder().encode(`${CODE}\n// caller ${seq}`));
    const { id: caller } = await t.as(0).registerAgent(`caller-${++seq}`, hash);
    const callerKey = privateKeyToAccount(`0x${toHex(randomBytes(32))}`);
    const record = await t.reader.getAgent(callee);
    const owner = t.accounts[0]!.address;
    const fees = new FeeCollector({
      chain: t.reader,
      feeEscrow: t.economy.feeEscrow,
      ledger,
      worker,
      scopeCacheMs: 0,
    });
    const gate = new PolicyGate({ chain: t.reader, feeEscrow: t.economy.feeEscrow, fees });
    const admit = async () => {
      const q = await gate
        .admit(record, { address: callerKey.address }, { callerAgent: caller })
        .catch((e) => e);
      const quote = (q as { quote?: FeeQuote }).quote;
      assert.ok(quote, `a quote, got ${q}`);
      assert.equal(quote.payer, owner, "the calling agent's owner pays");
      return gate.admit(
        record,
        { address: callerKey.address },
        { callerAgent: caller, voucher: await signQuote(callerKey, quote) },
      );
    };
    // The agent's key may not sign for its owner until the owner says so.
    await rejectsWith(admit(), "VOUCHER_SIGNATURE_INVALID");
    await t.econ(0).authorizeSigner(callerKey.address, 2n ** 256n - 1n);
    // …and the owner's escrow must hold what its agent owes.
    await rejectsWith(admit(), "ESCROW_INSUFFICIENT_PREPAID");
    await t.fund(0, parseUnits("1", 18));
    await t.econ(0).depositEscrow(parseUnits("1", 18));
    const paid = await admit();
    assert.equal(paid.payer, owner);
    assert.equal(paid.voucher?.amount, price);
  });

  test("the calling agent's cap bounds its outbound fees; a cap of zero pays for nothing", async () => {
    const hash = await blobs.put(new TextEncoder().encode(`${CODE}\n// spender ${seq}`));
    const { id } = await t.as(0).registerAgent(`spender-${++seq}`, hash);
    const record = await t.reader.getAgent(id);
    const gate = new PolicyGate({ chain: t.reader, feeEscrow: t.economy.feeEscrow });
    await rejectsWith(gate.reserveOutbound(record, 1n), "SPENDING_CAP_REACHED");
    await t.as(0).setAgentSpendingCap(id, 3n);
    gate.invalidate(id);
    await gate.reserveOutbound(record, 2n);
    await rejectsWith(gate.reserveOutbound(record, 2n), "SPENDING_CAP_REACHED");
    const release = await gate.reserveOutbound(record, 1n);
    release();
    await gate.reserveOutbound(record, 1n);
  });
});
