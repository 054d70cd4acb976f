// What getting paid costs a worker (ADR 0006, "Fees in practice"): the latency of a paid call
// (voucher checked and stored in SQLite) against the same call to a free agent, both signed by
// the caller, through a real worker (HTTP, isolated-vm, embedded chain); and the gas of the
// settlement loop's claim per paid call, for one payer and for ten.
//
//   node --import tsx bench/fees.ts        (npm run bench:fees)   CALLS=200 by default
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { type Hex, parseUnits } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { type FeeQuote, signQuote } from "../src/chain/fee-vouchers.ts";
import { randomBytes, requestHash, signCaller, toHex } from "../src/crypto/index.ts";
import { FsBlobStore } from "../src/storage/blob-store.ts";
import { FileStateAnchor } from "../src/storage/state-versions.ts";
import { AgentTable } from "../src/worker/agents.ts";
import { encodeVoucher, FeeCollector, FeeLedger } from "../src/worker/fees.ts";
import { createWorkerServer } from "../src/worker/server.ts";
import { FeeSettlement } from "../src/worker/settlement.ts";
import { startEconomyChain, workerKey } from "../test/helpers/economy.ts";

const LEDGER_KEY = randomBytes(32);
const CALLS = Number(process.env.CALLS ?? 200);
const t = await startEconomyChain();
const worker = await t.registerWorker(2, workerKey(1));
const dir = mkdtempSync(join(tmpdir(), "veil-bench-fees-"));
const blobs = new FsBlobStore(dir);
const ledger = await FeeLedger.open(join(dir, "fees.sqlite"), worker, {
  key: LEDGER_KEY,
  // As a worker keeps it: the ledger's head counter anchored outside the file (one fsync a call).
  anchor: new FileStateAnchor(join(dir, "state-anchor.json"), LEDGER_KEY),
});
const table = new AgentTable({
  chain: t.reader,
  blobs,
  log: () => {},
  pollIntervalMs: 50,
  feeEscrow: t.economy.feeEscrow,
  fees: new FeeCollector({ chain: t.reader, feeEscrow: t.economy.feeEscrow, ledger, worker }),
});
await table.start();
const server = createWorkerServer({
  agents: table,
  isReady: () => true,
  info: () => ({}),
  maxRequestBytes: 1 << 20,
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const CODE = `export default { async fetch() { return new Response("ok"); } };`;
async function deploy(name: string, price: bigint): Promise<bigint> {
  const { id } = await t
    .as(1)
    .registerAgent(name, await blobs.put(new TextEncoder().encode(`${CODE}// ${name}`)));
  if (price > 0n) await t.as(1).setAgentPrice(id, price);
  while (table.get(id.toString())?.status !== "ready" || (await table.policies.policy(id)).price !== price) {
    table.policies.invalidate(id);
    await new Promise((r) => setTimeout(r, 50));
  }
  return id;
}

async function call(id: bigint, as: number, voucher?: string): Promise<Response> {
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
  return fetch(`${url}/v1/agents/${id}/invoke/`, {
    headers: {
      "x-veil-nonce": nonce,
      "x-veil-caller": t.accounts[as]!.address,
      "x-veil-caller-signature": signed.signature,
      "x-veil-caller-time": String(timestamp),
      ...(voucher ? { "x-veil-fee-voucher": voucher } : {}),
    },
  });
}

/** `n` paid calls as `as`, each voucher signed ahead (as the SDK does after the first quote). */
async function paid(id: bigint, as: number, n: number): Promise<{ callMs: number; signMs: number }> {
  const first = await call(id, as);
  let quote = JSON.parse(
    Buffer.from(first.headers.get("x-veil-fee-quote")!, "base64").toString(),
  ) as FeeQuote;
  const account = privateKeyToAccount(t.accounts[as]!.privateKey);
  let callMs = 0;
  let signMs = 0;
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    const v = encodeVoucher(await signQuote(account, quote));
    const c = performance.now();
    const res = await call(id, as, v);
    callMs += performance.now() - c;
    signMs += c - s;
    if (res.status !== 200) throw new Error(`paid call answered ${res.status}: ${await res.text()}`);
    quote = {
      ...quote,
      calls: String(BigInt(quote.calls) + 1n),
      amount: String(BigInt(quote.amount) + BigInt(quote.price)),
    };
  }
  return { callMs: callMs / n, signMs: signMs / n };
}

const price = parseUnits("0.001", 18);
const free = await deploy("free", 0n);
const priced = await deploy("priced", price);
for (const i of [3, 4, 5, 6, 7, 8, 9, 1, 0, 2]) {
  await t.fund(i, parseUnits("10", 18));
  await t.econ(i).depositEscrow(parseUnits("10", 18));
}
// Warm-up, then the baseline: the same signed call to a free agent.
for (let i = 0; i < 20; i++) await call(free, 3);
let s = performance.now();
for (let i = 0; i < CALLS; i++) await call(free, 3);
const freeMs = (performance.now() - s) / CALLS;
const one = await paid(priced, 3, CALLS);

const settle = async () => {
  const r = await new FeeSettlement({ ledger, economy: t.econ(2), worker }).settle();
  const gas = (
    await Promise.all(r.txs.map((hash) => t.econReader.public.getTransactionReceipt({ hash })))
  ).reduce((a, x) => a + x.gasUsed, 0n);
  return { gas, txs: r.txs.length };
};
const g1 = await settle();
s = performance.now();
const per = Math.max(1, Math.floor(CALLS / 10));
for (const i of [4, 5, 6, 7, 8, 9, 1, 0, 2, 3]) await paid(priced, i, per);
const tenMs = performance.now() - s;
const g10 = await settle();

console.log(`paid calls through one worker (${CALLS} sequential calls, one core shared with the chain)`);
console.log(`  signed call, free agent (baseline)   ${freeMs.toFixed(2)} ms`);
console.log(
  `  signed call, priced agent + voucher  ${one.callMs.toFixed(2)} ms  (${(one.callMs / freeMs).toFixed(2)}× the baseline)`,
);
console.log(`  the caller signing the voucher       ${one.signMs.toFixed(2)} ms`);
console.log(
  `  10 payers × ${per} calls              ${(tenMs / (10 * per)).toFixed(2)} ms per call (first of each quoted)`,
);
console.log("settlement (FeeSettlement.settle → FeeEscrow.claim)");
console.log(
  `  1 payer, ${CALLS} calls: ${g1.txs} tx, ${g1.gas} gas, ${(Number(g1.gas) / CALLS).toFixed(0)} gas per call`,
);
console.log(
  `  10 payers, ${10 * per} calls: ${g10.txs} tx, ${g10.gas} gas, ${(Number(g10.gas) / (10 * per)).toFixed(0)} gas per call`,
);
table.stop();
server.close();
ledger.close();
await t.close();
rmSync(dir, { recursive: true, force: true });
