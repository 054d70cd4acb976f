// Gas of the economy's entry points on the embedded chain, and the amortized gas per paid
// invocation when fees settle through the FeeEscrow in one claim, at 1, 100 and 1,000
// invocations, against a baseline of paying each invocation with its own token transfer.
// See docs/adr/0006-economics.md.
//
//   node --import tsx bench/gas.ts        (npm run bench:gas)
import { performance } from "node:perf_hooks";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { feeEscrowAbi } from "../src/chain/abi.ts";
import { TeeType, VeilChain } from "../src/chain/client.ts";
import { deployContracts } from "../src/chain/deploy.ts";
import { devAccounts } from "../src/chain/dev-accounts.ts";
import { parseVeil, VeilEconomy, type Voucher } from "../src/chain/economy-client.ts";
import { DEFAULT_GOVERNANCE, deployEconomy } from "../src/chain/economy-deploy.ts";
import { startEmbeddedChain } from "../src/chain/embedded.ts";

const t0 = performance.now();
const V = (n: number | string) => parseVeil(String(n));
const embedded = await startEmbeddedChain({ port: 0 });
const accounts = devAccounts(10);
const key = (i: number) => accounts[i]!.privateKey;
const rpc = async (method: string, params: unknown[] = []) =>
  fetch(embedded.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  }).then((r) => r.json());
/** Moves the clock forward and mines a block, so that calls see the new time. */
const advance = async (seconds: number) => {
  await rpc("evm_increaseTime", [seconds]);
  await rpc("evm_mine", []);
};
const contracts = await deployContracts({
  rpcUrl: embedded.url,
  chainId: embedded.chainId,
  deployerKey: key(0),
});
const economy = await deployEconomy({
  rpcUrl: embedded.url,
  chainId: embedded.chainId,
  deployerKey: key(0),
  registries: contracts,
  devGovernance: accounts[0]!.address,
  pollingIntervalMs: 5,
});
const config = { rpcUrl: embedded.url, chainId: embedded.chainId, contracts, economy };
const econ = (i: number) => new VeilEconomy(config, { account: key(i), pollingIntervalMs: 5, batch: true });
const chain = (i: number) => new VeilChain(config, { account: key(i), pollingIntervalMs: 5 });
const reader = econ(0);
const gas = async (hash: Hex) => (await reader.public.getTransactionReceipt({ hash })).gasUsed;

const rows: [string, bigint][] = [];
const measure = async (name: string, hash: Promise<Hex> | Hex) => {
  const used = await gas(await hash);
  rows.push([name, used]);
  return used;
};

// ── setup: two workers of account 2, a pool, delegators ────────────────────────────────────
const measurement: Hex = `0x${"4d".repeat(32)}`;
await chain(0).setSimulatedAllowed(true); // a local dev chain (ADR 0020)
await chain(0).allowMeasurement(TeeType.simulated, measurement);
const workerKeys: Hex[] = [`0x${"a1".repeat(32)}`, `0x${"a2".repeat(32)}`];
const workers: Hex[] = [];
for (const wk of workerKeys) {
  const worker = privateKeyToAccount(wk).address;
  const reg = {
    worker,
    encryptionKey: `0x${"ee".repeat(32)}` as Hex,
    teeType: TeeType.simulated,
    measurement,
    evidenceHash: `0x${"e1".repeat(32)}` as Hex,
    confidence: 1,
    endpoint: "http://127.0.0.1:1",
  };
  const digest = await chain(2).workerRegistrationDigest({ operator: accounts[2]!.address, ...reg });
  const signature = await privateKeyToAccount(wk).sign({ hash: digest });
  await chain(2).registerWorker({ ...reg, signature });
  workers.push(worker);
}
const [w1, w2] = workers as [Hex, Hex];
for (const i of [1, 3, 4, 5]) await econ(0).transfer(accounts[i]!.address, V(1_000_000));
await econ(0).setParameter({ parameter: "rewards.challengeTarget", value: 2n ** 256n - 1n });

// ── token ──────────────────────────────────────────────────────────────────────────────────
await measure("token: transfer", econ(1).transfer(accounts[6]!.address, V(1)));
await measure("token: delegate votes", econ(1).delegateVotes(accounts[1]!.address));
await measure("token: transfer (delegated sender)", econ(1).transfer(accounts[6]!.address, V(1)));

// ── stake pools ────────────────────────────────────────────────────────────────────────────
const { poolId, hash: created } = await econ(2).createPool(1_000);
await measure("StakePool.createPool", created);
await measure("StakePool.bindWorker", econ(2).bindWorker(poolId, w1));
await econ(2).bindWorker(poolId, w2);
await econ(3).approve(economy.stakePool, V(1_000_000));
await measure("StakePool.contribute (first in pool)", econ(3).contribute(poolId, V(50_000)));
await measure("StakePool.contribute", econ(3).contribute(poolId, V(10_000)));
await measure("StakePool.withdraw (from free stake)", econ(3).withdrawFromPool(poolId, V(1_000)));
await measure("StakePool.startMining", econ(2).startMining(w1, V(30_000)));
await econ(2).startMining(w2, V(20_000));
await measure("StakePool.withdraw (queued)", econ(3).withdrawFromPool(poolId, V(20_000)));
await econ(4).approve(economy.stakePool, V(1_000_000));
await measure("StakePool.creditReward (fills 1 queued withdrawal)", econ(4).creditReward(w2, V(10)));
await measure("StakePool.creditReward", econ(4).creditReward(w2, V(10)));

// ── rewards ────────────────────────────────────────────────────────────────────────────────
const heartbeat = async (worker: Hex, wk: Hex, relayed: boolean) => {
  await advance(1_800);
  await rpc("hardhat_mine", ["0x2"]);
  const challengeBlock = (await reader.public.getBlockNumber()) - 1n;
  const session = (await reader.getMiner(worker)).session;
  if (!relayed) {
    return new VeilEconomy(config, { account: wk, pollingIntervalMs: 5 }).heartbeat({
      worker,
      challengeBlock,
      performance: 2_000n,
    });
  }
  const signature = await reader.signHeartbeat(wk, { session, challengeBlock, performance: 2_000n });
  return econ(5).heartbeat({ worker, challengeBlock, performance: 2_000n, signature });
};
await chain(0).wallet!.sendTransaction({ to: w1, value: 10n ** 18n });
await measure("Rewards.heartbeat (relayed, pays rewards)", heartbeat(w1, workerKeys[0]!, true));
await measure("Rewards.heartbeat (worker's own key, pays rewards)", heartbeat(w1, workerKeys[0]!, false));
await advance(600);
await measure("Rewards.settle", econ(5).settleRewards(w2));
await measure("StakePool.stopMining (settles)", econ(2).stopMining(w2));
await advance(7 * 24 * 3600 + 1);
// re-attest the worker's key after the week (evidence is good for a day)
{
  const reg = {
    worker: w1,
    encryptionKey: `0x${"ee".repeat(32)}` as Hex,
    teeType: TeeType.simulated,
    measurement,
    evidenceHash: `0x${"e1".repeat(32)}` as Hex,
    confidence: 1,
    endpoint: "http://127.0.0.1:1",
  };
  const digest = await chain(2).workerRegistrationDigest({ operator: accounts[2]!.address, ...reg });
  const signature = await privateKeyToAccount(workerKeys[0]!).sign({ hash: digest });
  await chain(2).registerWorker({ ...reg, signature });
}
await measure("StakePool.reclaim (fills the queue)", econ(5).reclaim(w2));
await measure("StakePool.claimCommission", econ(2).claimCommission(poolId));
await rpc("hardhat_mine", ["0x16"]);
const missed = (await reader.getMiner(w1)).lastChallenge + 1n;
await measure("Rewards.reportUnresponsive", econ(5).reportUnresponsive(w1, missed));

// ── vaults ─────────────────────────────────────────────────────────────────────────────────
const { vault, hash: vaultCreated } = await econ(4).createVault(1_500);
await measure("VaultFactory.createVault (clone)", vaultCreated);
await econ(4).approve(vault, V(1_000_000));
await measure("Vault.deposit (first)", econ(4).vaultDeposit(vault, V(5_000)));
await measure("Vault.delegate (new pool)", econ(4).vaultDelegate(vault, poolId, V(3_000)));
await measure("Vault.deposit (1 pool)", econ(4).vaultDeposit(vault, V(1_000)));
await measure("Vault.withdraw (from free tokens, 1 pool)", econ(4).vaultWithdraw(vault, V(500)));
await measure("Vault.undelegate", econ(4).vaultUndelegate(vault, poolId, V(1_000)));

// ── slashing ───────────────────────────────────────────────────────────────────────────────
const receipt = (outputHash: Hex) =>
  reader.signWorkerReceipt(workerKeys[1]!, {
    agentId: 1n,
    requestId: `0x${"01".repeat(32)}`,
    inputHash: `0x${"02".repeat(32)}`,
    outputHash,
  });
await measure(
  "Slashing.reportEquivocation",
  econ(6).reportEquivocation(
    w2,
    await receipt(`0x${"aa".repeat(32)}`),
    await receipt(`0x${"bb".repeat(32)}`),
  ),
);

// ── fees: one claim, amortized per invocation ──────────────────────────────────────────────
await econ(1).approve(economy.feeEscrow, V(1_000_000));
await measure("FeeEscrow.deposit (new payer)", econ(1).depositEscrow(V(1_000), accounts[7]!.address));
await measure("FeeEscrow.deposit", econ(1).depositEscrow(V(1_000), accounts[7]!.address));
await measure("FeeEscrow.requestWithdrawal", econ(7).requestEscrowWithdrawal(V(1)));
await advance(24 * 3600);
await measure("FeeEscrow.withdraw", econ(7).withdrawEscrow());

/** Funds `n` fresh payers' escrows (sent back to back, then awaited). */
async function freshPayers(n: number): Promise<{ address: Hex; key: Hex }[]> {
  const payers = Array.from({ length: n }, (_, i) => {
    const k = `0x${(0xbeef0000 + payerSeq + i).toString(16).padStart(64, "0")}` as Hex;
    return { address: privateKeyToAccount(k).address, key: k };
  });
  payerSeq += n;
  const funder = econ(1);
  const hashes: Hex[] = [];
  for (const p of payers) {
    hashes.push(
      await funder.chain.wallet!.writeContract({
        address: economy.feeEscrow,
        abi: feeEscrowAbi,
        functionName: "deposit",
        args: [p.address, V(100)],
      }),
    );
  }
  for (const h of hashes) await reader.public.waitForTransactionReceipt({ hash: h, pollingInterval: 5 });
  return payers;
}
let payerSeq = 0;
let agentSeq = 100n;
const BLOCK_GAS_LIMIT = 30_000_000n;

/** Settles `invocations` calls spread over `payers` payers (one channel each): gas per invocation. */
async function feeScenario(invocations: number, payerCount: number) {
  const payers = await freshPayers(payerCount);
  const agentId = agentSeq++;
  const vouchers: Voucher[] = [];
  for (let i = 0; i < payerCount; i++) {
    const calls = BigInt(Math.floor(invocations / payerCount) + (i < invocations % payerCount ? 1 : 0));
    vouchers.push(
      await reader.signVoucher(payers[i]!.key, {
        payer: payers[i]!.address,
        worker: w1,
        agentId,
        calls,
        amount: calls * 10n ** 15n,
      }),
    );
  }
  // As many claims as the block gas limit needs: new channels cost about 60,000 gas each, so
  // 400 fit in a 30M-gas block.
  const perClaim = 400;
  let total = 0n;
  let claims = 0;
  for (let i = 0; i < vouchers.length; i += perClaim) {
    const used = await gas(await econ(8).claimFees(w1, vouchers.slice(i, i + perClaim)));
    if (used > BLOCK_GAS_LIMIT) throw new Error("claim above the block gas limit");
    total += used;
    claims++;
  }
  return { total, claims, perInvocation: total / BigInt(invocations) };
}

const baseline = rows.find(([n]) => n === "token: transfer")![1];
const fees: { scenario: string; n: number; claims: number; total: bigint; per: bigint }[] = [];
for (const n of [1, 100, 1_000]) {
  const one = await feeScenario(n, 1);
  fees.push({
    scenario: "1 payer (one cumulative voucher)",
    n,
    claims: one.claims,
    total: one.total,
    per: one.perInvocation,
  });
}
for (const n of [100, 1_000]) {
  const ten = await feeScenario(n, 10);
  fees.push({ scenario: "10 payers", n, claims: ten.claims, total: ten.total, per: ten.perInvocation });
}
for (const n of [1, 100, 1_000]) {
  const each = await feeScenario(n, n);
  fees.push({
    scenario: "a new payer per invocation (worst case)",
    n,
    claims: each.claims,
    total: each.total,
    per: each.perInvocation,
  });
}
// The same channels again (a worker claiming every hour, say): the channel slots already exist.
{
  const payers = await freshPayers(10);
  const agentId = agentSeq++;
  const sign = (calls: bigint) =>
    Promise.all(
      payers.map((p) =>
        reader.signVoucher(p.key, {
          payer: p.address,
          worker: w1,
          agentId,
          calls,
          amount: calls * 10n ** 15n,
        }),
      ),
    );
  await econ(8).claimFees(w1, await sign(100n));
  const used = await gas(await econ(8).claimFees(w1, await sign(200n)));
  fees.push({
    scenario: "10 payers, channels claimed before",
    n: 1_000,
    claims: 1,
    total: used,
    per: used / 1_000n,
  });
}

// ── governance ─────────────────────────────────────────────────────────────────────────────
await econ(0).delegateVotes(accounts[0]!.address);
await rpc("hardhat_mine", ["0x1"]);
const { proposalId, hash: proposed } = await econ(0).proposeParameterChanges(
  [{ parameter: "rewards.treasuryBps", value: 1_500 }],
  "bench",
);
await measure("Governor.propose (1 parameter)", proposed);
await advance(DEFAULT_GOVERNANCE.votingDelay + 1);
await rpc("hardhat_mine", ["0x1"]);
await measure("Governor.castVote", econ(0).castVote(proposalId, 1));

// ── print ──────────────────────────────────────────────────────────────────────────────────
const fmt = (n: bigint | number) => n.toLocaleString("en-US");
console.log(`\nGas per entry point (embedded chain, solc 0.8.28, optimizer 200 runs, cancun)\n`);
const width = Math.max(...rows.map(([n]) => n.length));
console.log(`${"entry point".padEnd(width)}  ${"gas".padStart(9)}`);
console.log(`${"-".repeat(width)}  ${"-".repeat(9)}`);
for (const [name, used] of rows) console.log(`${name.padEnd(width)}  ${fmt(used).padStart(9)}`);

console.log(
  `\nFees: one FeeEscrow.claim (or as few as the block gas limit allows) per batch of paid invocations`,
);
console.log(`baseline: one VEIL transfer per invocation = ${fmt(baseline)} gas\n`);
const sw = Math.max(...fees.map((f) => f.scenario.length));
console.log(
  `${"scenario".padEnd(sw)}  ${"invocations".padStart(11)}  ${"claims".padStart(6)}  ${"total gas".padStart(11)}  ${"gas/invocation".padStart(14)}  ${"vs transfer".padStart(11)}`,
);
console.log(
  `${"-".repeat(sw)}  ${"-".repeat(11)}  ${"-".repeat(6)}  ${"-".repeat(11)}  ${"-".repeat(14)}  ${"-".repeat(11)}`,
);
for (const f of fees) {
  const ratio = Number(f.per) / Number(baseline);
  console.log(
    `${f.scenario.padEnd(sw)}  ${fmt(f.n).padStart(11)}  ${String(f.claims).padStart(6)}  ${fmt(f.total).padStart(11)}  ${fmt(f.per).padStart(14)}  ${`${ratio.toFixed(3)}×`.padStart(11)}`,
  );
}
const at1000 = fees.filter((f) => f.n === 1_000);
console.log(
  `\ntarget: under 5,000 gas per invocation at 1,000 invocations in one claim — ${at1000
    .map((f) => `${f.scenario}: ${fmt(f.per)} ${f.per < 5_000n ? "✓" : "✗"}`)
    .join("; ")}`,
);
console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
await embedded.close();
