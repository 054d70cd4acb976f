import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import type { Hex } from "viem";
import { rewardsAbi, stakePoolAbi, veilTokenAbi } from "../../src/chain/abi.ts";
import { MiningState, parseVeil } from "../../src/chain/economy-client.ts";
import {
  assertConserved,
  assertPoolsSolvent,
  balances,
  type EconomyTestChain,
  refused,
  rejectsWith,
  startEconomyChain,
  workerKey,
} from "../helpers/economy.ts";

const V = (n: number | string) => parseVeil(String(n));
const DAY = 24 * 3600;

let t: EconomyTestChain;
let w1: Hex; // operated by account 2
let w2: Hex; // operated by account 2
let w3: Hex; // operated by account 5, never bound
let poolId: bigint; // owned by account 2, 15% commission

before(async () => {
  t = await startEconomyChain();
  // Pool mechanics only here: no emission, so every token movement below is one the test makes.
  await t.econ(0).setParameter({ parameter: "rewards.rewardPerSecond", value: 0n });
  for (const i of [1, 2, 3, 4, 5]) await t.fund(i, V(100_000));
  w1 = await t.registerWorker(2, workerKey(1));
  w2 = await t.registerWorker(2, workerKey(2));
  w3 = await t.registerWorker(5, workerKey(3));
});
afterEach(async () => {
  await assertConserved(t);
});
after(async () => {
  await t?.close();
});

const pool = () => t.econReader.getPool(poolId);
const state = async () => ({ balances: await balances(t), pool: await pool().catch(() => undefined) });

describe("StakePool: pools and delegators", () => {
  test("creates a pool owned by its creator with the commission it asks; refuses more than 100%", async () => {
    ({ poolId } = await t.econ(2).createPool(1_500));
    const p = await pool();
    assert.deepEqual(await t.econReader.listPools(), [p]);
    assert.equal(p.owner, t.accounts[2]!.address);
    assert.equal(p.commissionBps, 1_500);
    assert.equal(p.totalShares, 0n);
    await refused(
      () => t.econ(2).createPool(10_001),
      "COMMISSION_TOO_HIGH",
      () => t.econReader.poolCount(),
    );
    await refused(() => t.econ(2).setPoolCommission(poolId, 10_001), "COMMISSION_TOO_HIGH", pool);
    await refused(() => t.econ(3).setPoolCommission(poolId, 100), "NOT_POOL_OWNER", pool);
  });

  test("binding a worker needs its operator, and a worker binds to one pool", async () => {
    await refused(() => t.econ(3).bindWorker(poolId, w1), "NOT_POOL_OWNER", pool);
    const { poolId: other } = await t.econ(5).createPool(0);
    await refused(
      () => t.econ(5).bindWorker(other, w1),
      "NOT_WORKER_OPERATOR",
      () => t.econReader.workerStake(w1),
    );
    await t.econ(2).bindWorker(poolId, w1);
    await t.econ(2).bindWorker(poolId, w2);
    assert.equal((await t.econReader.workerStake(w1)).poolId, poolId);
    const { poolId: second } = await t.econ(2).createPool(0);
    await refused(
      () => t.econ(2).bindWorker(second, w1),
      "WORKER_ALREADY_BOUND",
      () => t.econReader.workerStake(w1),
    );
  });

  test("the first contribution buys shares 1:1; rewards raise the price after the owner's commission", async () => {
    await t.econ(3).contribute(poolId, V(1_000));
    assert.deepEqual(await t.econReader.poolPosition(poolId, t.accounts[3]!.address), {
      shares: V(1_000),
      queued: 0n,
      value: V(1_000),
    });
    // A reward of 100: 15 to the owner, 85 compounds into the delegators' stake.
    await t.econ(1).creditReward(w1, V(100));
    let p = await pool();
    assert.equal(p.ownerRewards, V(15));
    assert.equal(p.totalStake, V(1_085));
    assert.equal(p.freeStake, V(1_085));
    // A later contribution buys at the new price: 1,085 tokens for 1,000 shares.
    await t.econ(4).contribute(poolId, V(1_085));
    p = await pool();
    assert.equal(p.totalShares, V(2_000));
    assert.equal((await t.econReader.poolPosition(poolId, t.accounts[4]!.address)).shares, V(1_000));
    await assertPoolsSolvent(t);
  });

  test("refuses dust, unknown pools, missing allowance and missing balance, changing nothing", async () => {
    await refused(() => t.econ(3).contribute(poolId, 10n), "CONTRIBUTION_TOO_SMALL", state);
    await refused(() => t.econ(3).contribute(999n, V(1)), "POOL_NOT_FOUND", state);
    await refused(() => t.econReader.getPool(999n), "POOL_NOT_FOUND", state);
    // Straight to the contract, without the client's approval step.
    await t.econ(3).approve(t.economy.stakePool, 0n);
    await refused(
      () =>
        t.econ(3).chain.write("contribute", {
          address: t.economy.stakePool,
          abi: [...stakePoolAbi, ...veilTokenAbi],
          functionName: "contribute",
          args: [poolId, V(5)],
        }),
      "TOKEN_INSUFFICIENT_ALLOWANCE",
      state,
    );
    await refused(() => t.econ(9).contribute(poolId, V(5)), "TOKEN_INSUFFICIENT_BALANCE", state);
  });

  test("withdraws at once from free stake at the pool's price", async () => {
    const before = await t.econReader.balanceOf(t.accounts[3]!.address);
    await t.econ(3).withdrawFromPool(poolId, V(100)); // 100 shares at 1.085
    assert.equal(await t.econReader.balanceOf(t.accounts[3]!.address), before + V("108.5"));
    assert.equal((await pool()).totalShares, V(1_900));
    await refused(() => t.econ(3).withdrawFromPool(poolId, V(100_000)), "INSUFFICIENT_SHARES", state);
    await refused(() => t.econ(3).withdrawFromPool(poolId, 0n), "AMOUNT_ZERO", state);
    await assertPoolsSolvent(t);
  });
});

describe("StakePool: workers, the queue and the cool-down", () => {
  test("assigning stake needs the pool owner, a bound idle worker, free stake and the minimum stake", async () => {
    const free = (await pool()).freeStake;
    await refused(() => t.econ(3).startMining(w1, V(1_500)), "NOT_POOL_OWNER", state);
    await refused(() => t.econ(5).startMining(w3, V(1_500)), "WORKER_NOT_IN_POOL", state);
    await refused(() => t.econ(2).startMining(w1, free + 1n), "INSUFFICIENT_FREE_STAKE", state);
    await refused(() => t.econ(2).startMining(w1, V(10)), "STAKE_TOO_LOW", state);
    await t.econ(2).startMining(w1, V(1_500));
    const p = await pool();
    assert.equal(p.freeStake, free - V(1_500));
    assert.equal((await t.econReader.workerStake(w1)).stake, V(1_500));
    assert.equal((await t.econReader.getMiner(w1)).state, MiningState.Working);
    await refused(() => t.econ(2).startMining(w1, V(1_000)), "WORKER_BUSY", state);
    await refused(() => t.econ(2).unbindWorker(w1), "WORKER_BUSY", state);
    await assertPoolsSolvent(t);
  });

  test("a withdrawal beyond free stake is paid in part and queued; the queue is FIFO and goes first", async () => {
    const a3 = t.accounts[3]!.address;
    const a4 = t.accounts[4]!.address;
    const p0 = await pool();
    const free = p0.freeStake;
    const bal3 = await t.econReader.balanceOf(a3);
    // Account 3 asks for all 900 shares (976.5 tokens); free stake pays what it covers.
    await t.econ(3).withdrawFromPool(poolId, V(900));
    const p1 = await pool();
    const paid3 = (await t.econReader.balanceOf(a3)) - bal3;
    assert.ok(paid3 > 0n && paid3 <= free, "paid from free stake only");
    assert.ok(free - paid3 < 2n, "free stake used up (to rounding)");
    const pos3 = await t.econReader.poolPosition(poolId, a3);
    assert.equal(pos3.shares, 0n);
    assert.ok(pos3.queued > 0n, "the rest waits in the queue");
    // Account 4 queues behind it.
    await t.econ(4).withdrawFromPool(poolId, V(400));
    const q = await t.econReader.poolQueue(poolId);
    assert.deepEqual(
      q.map((e) => e.delegator),
      [a3, a4],
    );
    assert.equal(p1.queueTail - p1.queueHead, 1n);
    // Free stake may not go to a worker while withdrawals wait.
    await t.econ(1).creditReward(w1, V(1)); // 0.85 to stake → goes to the queue's head at once
    await refused(() => t.econ(2).startMining(w2, V(1_000)), "WITHDRAWALS_PENDING", state);
    await assertPoolsSolvent(t);
  });

  test("stopped stake cools down before it comes back; then it pays the queue oldest first", async () => {
    const a3 = t.accounts[3]!.address;
    const a4 = t.accounts[4]!.address;
    await refused(() => t.econ(1).reclaim(w1), "WORKER_NOT_COOLING_DOWN", state);
    await refused(() => t.econ(3).stopMining(w1), "NOT_POOL_OWNER", state);
    await t.econ(2).stopMining(w1);
    assert.equal((await t.econReader.getMiner(w1)).state, MiningState.CoolingDown);
    const err = await rejectsWith(t.econ(1).reclaim(w1), "COOL_DOWN_NOT_OVER");
    assert.equal(err.retryable, true);
    await t.increaseTime(7 * DAY - 60);
    await refused(() => t.econ(1).reclaim(w1), "COOL_DOWN_NOT_OVER", state);
    await t.increaseTime(120);
    const p0 = await pool();
    const queuedValue = async (a: Hex) =>
      ((await t.econReader.poolPosition(poolId, a)).queued * p0.totalStake) / p0.totalShares;
    const [q3, q4] = [await queuedValue(a3), await queuedValue(a4)];
    const [b3, b4] = [await t.econReader.balanceOf(a3), await t.econReader.balanceOf(a4)];
    await t.econ(1).reclaim(w1); // anyone may
    assert.equal((await t.econReader.getMiner(w1)).state, MiningState.Idle);
    assert.equal((await t.econReader.workerStake(w1)).stake, 0n);
    // Paid in full at the price of the moment (each payment rounds down, which leaves the pool a
    // base unit or two that raise the price for the next one).
    const paid3 = (await t.econReader.balanceOf(a3)) - b3;
    const paid4 = (await t.econReader.balanceOf(a4)) - b4;
    assert.ok(paid3 >= q3 && paid3 - q3 <= 2n, `account 3 paid in full (${paid3} vs ${q3})`);
    assert.ok(paid4 >= q4 && paid4 - q4 <= 2n, `account 4 paid in full (${paid4} vs ${q4})`);
    const p = await pool();
    assert.equal(p.queueHead, p.queueTail, "queue empty");
    assert.equal(p.freeStake, p.totalStake, "the rest is free");
    await assertPoolsSolvent(t);
  });

  test("anyone may stop a pool's worker once the oldest withdrawal has waited past maxQueueWait", async () => {
    // Account 4 holds the remaining 600 shares; account 1 joins, all stake goes to w2, then
    // account 4 asks to leave.
    await t.registerWorker(2, workerKey(2)); // re-attest: two weeks passed since its evidence
    await t.econ(1).contribute(poolId, V(1_000));
    const free = (await pool()).freeStake;
    await t.econ(2).startMining(w2, free);
    await t.econ(4).withdrawFromPool(poolId, V(600));
    assert.equal((await t.econReader.poolPosition(poolId, t.accounts[4]!.address)).queued, V(600));
    await refused(() => t.econ(1).forceStopMining(w2), "QUEUE_NOT_OVERDUE", state);
    await t.increaseTime(7 * DAY + 1);
    await t.econ(1).forceStopMining(w2);
    assert.equal((await t.econReader.getMiner(w2)).state, MiningState.CoolingDown);
    await t.increaseTime(7 * DAY + 1);
    const b4 = await t.econReader.balanceOf(t.accounts[4]!.address);
    await t.econ(1).reclaim(w2);
    assert.ok((await t.econReader.balanceOf(t.accounts[4]!.address)) > b4);
    assert.equal((await t.econReader.poolPosition(poolId, t.accounts[4]!.address)).queued, 0n);
    await assertPoolsSolvent(t);
  });

  test("the owner claims its commission; nobody else can, and not twice", async () => {
    const owed = (await pool()).ownerRewards;
    assert.ok(owed > 0n);
    await refused(() => t.econ(3).claimCommission(poolId), "NOT_POOL_OWNER", state);
    const before = await t.econReader.balanceOf(t.accounts[2]!.address);
    await t.econ(2).claimCommission(poolId);
    assert.equal(await t.econReader.balanceOf(t.accounts[2]!.address), before + owed);
    await refused(() => t.econ(2).claimCommission(poolId), "AMOUNT_ZERO", state);
    await assertPoolsSolvent(t);
  });

  test("an idle worker with no stake can be unbound", async () => {
    await t.econ(2).unbindWorker(w1);
    assert.equal((await t.econReader.workerStake(w1)).poolId, 0n);
    await refused(() => t.econ(2).unbindWorker(w1), "WORKER_NOT_IN_POOL", state);
  });
});

describe("StakePool: governance and roles", () => {
  test("the cool-down is a governance parameter within bounds", async () => {
    const params = async () => (await t.econReader.parameters()).stakePool;
    await refused(
      () => t.econ(1).setParameter({ parameter: "stakePool.coolDown", value: 86_400n }),
      "NOT_OWNER",
      params,
    );
    await refused(
      () => t.econ(0).setParameter({ parameter: "stakePool.coolDown", value: BigInt(91 * DAY) }),
      "ECONOMY_PARAMETER_INVALID",
      params,
    );
    await refused(
      () => t.econ(0).setParameter({ parameter: "stakePool.maxQueueWait", value: 60n }),
      "ECONOMY_PARAMETER_INVALID",
      params,
    );
    await t.econ(0).setParameter({ parameter: "stakePool.coolDown", value: BigInt(DAY) });
    assert.equal((await params()).coolDown, BigInt(DAY));
    // A stake stopped now comes back after one day.
    const free = (await pool()).freeStake;
    await t.registerWorker(2, workerKey(2)); // re-attest
    await t.econ(3).contribute(poolId, V(2_000));
    await t.econ(2).startMining(w2, free + V(2_000));
    await t.econ(2).stopMining(w2);
    await rejectsWith(t.econ(1).reclaim(w2), "COOL_DOWN_NOT_OVER");
    await t.increaseTime(DAY);
    await t.econ(1).reclaim(w2);
    await assertPoolsSolvent(t);
  });

  test("only slashing slashes, and only the stake pools start and stop mining", async () => {
    await refused(
      () =>
        t.econ(1).chain.write("slash", {
          address: t.economy.stakePool,
          abi: stakePoolAbi,
          functionName: "slash",
          args: [w2, 10_000],
        }),
      "NOT_SLASHER",
      state,
    );
    await refused(
      () =>
        t.econ(2).chain.write("start mining", {
          address: t.economy.rewards,
          abi: rewardsAbi,
          functionName: "startMining",
          args: [w2, V(5_000)],
        }),
      "NOT_STAKE_POOL",
      state,
    );
  });
});
