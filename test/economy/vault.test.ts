import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { type Hex, parseEventLogs } from "viem";
import { vaultAbi } from "../../src/chain/abi.ts";
import { parseVeil } from "../../src/chain/economy-client.ts";
import { hash32 } from "../helpers/chain.ts";
import {
  assertConserved,
  assertPoolsSolvent,
  balances,
  type EconomyTestChain,
  refused,
  startEconomyChain,
  workerKey,
} from "../helpers/economy.ts";

const V = (n: number | string) => parseVeil(String(n));
const E18 = 10n ** 18n;

let t: EconomyTestChain;
let wA: Hex; // bound to pool A
let wB: Hex; // bound to pool B
let poolA: bigint; // account 2, 10% commission
let poolB: bigint; // account 5, no commission
let vault: Hex; // account 4, 20% commission on gains
const holders = [4, 6, 7];

before(async () => {
  t = await startEconomyChain();
  await t.econ(0).setParameter({ parameter: "rewards.rewardPerSecond", value: 0n });
  for (const i of [1, 6, 7, 8]) await t.fund(i, V(10_000));
  wA = await t.registerWorker(2, workerKey(1));
  wB = await t.registerWorker(5, workerKey(2));
  ({ poolId: poolA } = await t.econ(2).createPool(1_000));
  ({ poolId: poolB } = await t.econ(5).createPool(0));
  await t.econ(2).bindWorker(poolA, wA);
  await t.econ(5).bindWorker(poolB, wB);
});
afterEach(async () => {
  await assertConserved(t);
});
after(async () => {
  await t?.close();
});

const info = () => t.econReader.getVault(vault);
const pos = (i: number) => t.econReader.vaultPosition(vault, t.accounts[i]!.address);
const state = async () => ({ balances: await balances(t, [vault]), vault: await info() });

/** Vault shares add up; its assets are its tokens plus its pool claims. */
async function assertVaultConsistent() {
  const v = await info();
  const positions = await Promise.all(holders.map(pos));
  assert.equal(
    positions.reduce((s, p) => s + p.shares + p.queued, 0n),
    v.totalShares,
    "holders' shares add up to the total",
  );
  let assets = await t.econReader.balanceOf(vault);
  for (const id of v.pools) assets += (await t.econReader.poolPosition(id, vault)).value;
  assert.equal(v.totalAssets, assets);
  await assertPoolsSolvent(t);
}

describe("Vault: deposits and delegation", () => {
  test("anyone creates a vault through the factory; commission above 100% is refused", async () => {
    const list = () => t.econReader.listVaults();
    await refused(() => t.econ(4).createVault(10_001), "COMMISSION_TOO_HIGH", list);
    ({ vault } = await t.econ(4).createVault(2_000));
    assert.deepEqual(await list(), [vault]);
    const v = await info();
    assert.equal(v.owner, t.accounts[4]!.address);
    assert.equal(v.commissionBps, 2_000);
    assert.equal(v.highWaterPrice, E18);
  });

  test("the first deposit buys shares 1:1", async () => {
    await t.econ(6).vaultDeposit(vault, V(1_000));
    assert.deepEqual(await pos(6), { shares: V(1_000), queued: 0n, value: V(1_000) });
    await refused(() => t.econ(6).vaultDeposit(vault, 0n), "AMOUNT_ZERO", state);
  });

  test("only the owner delegates, and only the vault's free tokens; its assets count the pool claims", async () => {
    await refused(() => t.econ(6).vaultDelegate(vault, poolA, V(600)), "NOT_VAULT_OWNER", state);
    await refused(() => t.econ(4).vaultDelegate(vault, poolA, V(1_001)), "VAULT_BALANCE_TOO_LOW", state);
    await refused(() => t.econ(4).vaultDelegate(vault, poolA, 0n), "AMOUNT_ZERO", state);
    await refused(() => t.econ(4).vaultDelegate(vault, 99n, V(1)), "POOL_NOT_FOUND", state);
    await t.econ(4).vaultDelegate(vault, poolA, V(600));
    await t.econ(4).vaultDelegate(vault, poolB, V(300));
    const v = await info();
    assert.deepEqual(v.pools, [poolA, poolB]);
    assert.equal(v.totalAssets, V(1_000));
    assert.equal(await t.econReader.balanceOf(vault), V(100));
    assert.equal((await t.econReader.poolPosition(poolA, vault)).shares, V(600));
    await assertVaultConsistent();
  });
});

describe("Vault: commission on gains", () => {
  test("a pool's rewards raise the vault's price; the owner's commission on the gain is minted as shares", async () => {
    await t.econ(1).creditReward(wA, V(100)); // pool A: 10 to its owner, 90 to the vault's stake
    assert.equal((await info()).totalAssets, V(1_090));
    const ownerBefore = await pos(4);
    assert.equal(ownerBefore.shares, 0n);
    await t.econ(7).vaultDeposit(vault, V(1_090)); // charges the commission first, then buys
    const owner = await pos(4);
    // 20% of the 90 gain is 18, minted as shares at the price after the fee.
    const feeShares = (V(18) * V(1_000)) / (V(1_090) - V(18));
    assert.equal(owner.shares, feeShares);
    assert.ok(V(18) - owner.value <= 2n, `the owner's shares are worth the fee (${owner.value})`);
    const v = await info();
    assert.equal(v.highWaterPrice, (V(1_090) * E18) / (V(1_000) + feeShares));
    // Account 7 bought at that price: its 1,090 are worth 1,090.
    assert.ok(V(1_090) - (await pos(7)).value <= 2n);
    await assertVaultConsistent();
  });

  test("after a loss, no commission until the price is back above its high-water mark", async () => {
    // wA equivocates: pool A loses 10% of its stake.
    const a = await t.econReader.signWorkerReceipt(workerKey(1), {
      agentId: 1n,
      requestId: hash32(1),
      inputHash: hash32(2),
      outputHash: hash32(3),
    });
    const b = await t.econReader.signWorkerReceipt(workerKey(1), {
      agentId: 1n,
      requestId: hash32(1),
      inputHash: hash32(2),
      outputHash: hash32(4),
    });
    await t.econ(8).reportEquivocation(wA, a, b);
    const low = await info();
    const price = (low.totalAssets * E18) / low.totalShares;
    assert.ok(price < low.highWaterPrice, "the price fell below the high-water mark");
    // A reward that brings back only part of the loss charges nothing.
    await t.econ(1).creditReward(wA, V(30));
    const ownerShares = (await pos(4)).shares;
    await t.econ(6).vaultProcessQueue(vault);
    assert.equal((await pos(4)).shares, ownerShares);
    assert.equal((await info()).highWaterPrice, low.highWaterPrice);
    await assertVaultConsistent();
  });

  test("the owner's own withdrawal right after a gain keeps the commission shares it triggers", async () => {
    await t.econ(1).creditReward(wA, V(300)); // back above the high-water mark
    const before = await pos(4);
    const hash = await t.econ(4).vaultWithdraw(vault, 1_000n);
    const receipt = await t.reader.public.getTransactionReceipt({ hash });
    const [charged] = parseEventLogs({ abi: vaultAbi, logs: receipt.logs, eventName: "CommissionCharged" });
    assert.ok((charged?.args.feeShares ?? 0n) > 0n, "a commission was charged");
    assert.equal((await pos(4)).shares, before.shares + charged!.args.feeShares! - 1_000n);
    await assertVaultConsistent();
  });

  test("the owner may change the commission, up to 100%; nobody else may", async () => {
    await refused(() => t.econ(6).setVaultCommission(vault, 0), "NOT_VAULT_OWNER", state);
    await refused(() => t.econ(4).setVaultCommission(vault, 10_001), "COMMISSION_TOO_HIGH", state);
    await t.econ(4).setVaultCommission(vault, 1_500);
    assert.equal((await info()).commissionBps, 1_500);
  });
});

describe("Vault: withdrawals", () => {
  test("a withdrawal is paid at once from free tokens", async () => {
    const before = await t.econReader.balanceOf(t.accounts[6]!.address);
    const v = await info();
    await t.econ(6).vaultWithdraw(vault, V(100));
    const paid = (await t.econReader.balanceOf(t.accounts[6]!.address)) - before;
    assert.equal(paid, (V(100) * v.totalAssets) / v.totalShares);
    await refused(() => t.econ(6).vaultWithdraw(vault, V(100_000)), "INSUFFICIENT_SHARES", state);
    await refused(() => t.econ(6).vaultWithdraw(vault, 0n), "AMOUNT_ZERO", state);
    await assertVaultConsistent();
  });

  test("beyond free tokens, withdrawals queue FIFO; delegation waits for them", async () => {
    // The owner puts all but 50 of the free tokens into pool B.
    await t.econ(4).vaultDelegate(vault, poolB, (await t.econReader.balanceOf(vault)) - V(50));
    const free = await t.econReader.balanceOf(vault);
    const b7 = await t.econReader.balanceOf(t.accounts[7]!.address);
    await t.econ(7).vaultWithdraw(vault, (await pos(7)).shares);
    const paid7 = (await t.econReader.balanceOf(t.accounts[7]!.address)) - b7;
    assert.ok(free - paid7 <= 2n, "free tokens went to the head of the queue (to rounding)");
    assert.ok((await pos(7)).queued > 0n);
    await t.econ(6).vaultWithdraw(vault, (await pos(6)).shares);
    assert.equal((await info()).queueLength, 2n);
    await t.econ(1).transfer(vault, V(1)); // a donation, say: free again, but the queue comes first
    await refused(() => t.econ(4).vaultDelegate(vault, poolB, V(1)), "WITHDRAWALS_PENDING", state);
    await assertVaultConsistent();
  });

  test("undelegating brings tokens back that pay the queue in order", async () => {
    const b7 = await t.econReader.balanceOf(t.accounts[7]!.address);
    const shares = (await t.econReader.poolPosition(poolB, vault)).shares;
    await t.econ(4).vaultUndelegate(vault, poolB, shares); // pool B has it all free: paid at once
    assert.equal((await pos(7)).queued, 0n, "account 7, first in line, is paid in full");
    assert.ok((await t.econReader.balanceOf(t.accounts[7]!.address)) > b7);
    assert.ok((await pos(6)).queued > 0n, "account 6 still waits");
    await assertVaultConsistent();
  });

  test("anyone may pull the vault out of a pool once the oldest withdrawal has waited past maxQueueWait", async () => {
    const shares = (await t.econReader.poolPosition(poolA, vault)).shares;
    await refused(() => t.econ(8).vaultForceUndelegate(vault, poolA, shares), "QUEUE_NOT_OVERDUE", state);
    await t.increaseTime(7 * 24 * 3600 + 1);
    const b6 = await t.econReader.balanceOf(t.accounts[6]!.address);
    await t.econ(8).vaultForceUndelegate(vault, poolA, shares);
    assert.equal((await pos(6)).queued, 0n);
    assert.ok((await t.econReader.balanceOf(t.accounts[6]!.address)) > b6);
    assert.equal((await info()).queueLength, 0n);
    await assertVaultConsistent();
  });
});

describe("Vault: limits and parameters", () => {
  test("a vault holds at most 16 pools", async () => {
    await t.econ(6).vaultDeposit(vault, V(1));
    const ids: bigint[] = [];
    for (let i = 0; i < 16; i++) ids.push((await t.econ(8).createPool(0)).poolId);
    for (const id of ids) await t.econ(4).vaultDelegate(vault, id, V("0.01"));
    assert.equal((await info()).pools.length, 16);
    const { poolId: extra } = await t.econ(8).createPool(0);
    await refused(() => t.econ(4).vaultDelegate(vault, extra, V("0.01")), "VAULT_TOO_MANY_POOLS", state);
    // Leaving a pool entirely frees its place.
    const first = ids[0]!;
    await t.econ(4).vaultUndelegate(vault, first, (await t.econReader.poolPosition(first, vault)).shares);
    await t.econ(4).vaultDelegate(vault, extra, V("0.01"));
    assert.ok((await info()).pools.includes(extra));
    await assertVaultConsistent();
  });

  test("the owner may hand the vault to another owner, not to nobody", async () => {
    await refused(
      () => t.econ(6).transferVaultOwnership(vault, t.accounts[6]!.address),
      "NOT_VAULT_OWNER",
      info,
    );
    await refused(
      () => t.econ(4).transferVaultOwnership(vault, `0x${"00".repeat(20)}`),
      "OWNER_INVALID",
      info,
    );
    await t.econ(4).transferVaultOwnership(vault, t.accounts[8]!.address);
    assert.equal((await info()).owner, t.accounts[8]!.address);
    await t.econ(8).transferVaultOwnership(vault, t.accounts[4]!.address);
  });

  test("a vault is initialised once, by its factory", async () => {
    await refused(
      () =>
        t.econ(6).chain.write("initialize", {
          address: vault,
          abi: vaultAbi,
          functionName: "initialize",
          args: [t.economy.token, t.economy.stakePool, t.accounts[6]!.address, 0],
        }),
      "VAULT_ALREADY_INITIALIZED",
      info,
    );
    await refused(
      () =>
        t.econ(6).chain.write("initialize", {
          address: t.economy.vaultImplementation,
          abi: vaultAbi,
          functionName: "initialize",
          args: [t.economy.token, t.economy.stakePool, t.accounts[6]!.address, 0],
        }),
      "VAULT_ALREADY_INITIALIZED",
      info,
    );
  });

  test("the factory's maxQueueWait is a governance parameter within bounds", async () => {
    const params = async () => (await t.econReader.parameters()).vaultFactory;
    await refused(
      () => t.econ(1).setParameter({ parameter: "vaultFactory.maxQueueWait", value: 7200n }),
      "NOT_OWNER",
      params,
    );
    await refused(
      () => t.econ(0).setParameter({ parameter: "vaultFactory.maxQueueWait", value: 60n }),
      "ECONOMY_PARAMETER_INVALID",
      params,
    );
    await t.econ(0).setParameter({ parameter: "vaultFactory.maxQueueWait", value: 7200n });
    assert.equal((await params()).maxQueueWait, 7200n);
  });
});
