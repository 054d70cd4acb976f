import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { type Hex, parseEventLogs } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { rewardsAbi } from "../../src/chain/abi.ts";
import { TeeType } from "../../src/chain/client.ts";
import {
  challenges,
  EndReason,
  MiningState,
  parseVeil,
  VeilEconomy,
} from "../../src/chain/economy-client.ts";
import {
  assertConserved,
  assertPoolsSolvent,
  type EconomyTestChain,
  MEASUREMENT,
  refused,
  startEconomyChain,
  workerKey,
} from "../helpers/economy.ts";

const V = (n: number | string) => parseVeil(String(n));
const DAY = 24 * 3600;
const MAX = 2n ** 256n - 1n;
const E18 = 10n ** 18n;

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = n;
  let y = (x + 1n) / 2n;
  while (y < x) {
    x = y;
    y = (x + n / x) / 2n;
  }
  return x;
}
/** sqrt(V² + (2·P·conf)²), conf in basis points. */
const share = (value: bigint, performance: bigint, confBps: bigint) => {
  const pc = (2n * performance * E18 * confBps) / 10_000n;
  return isqrt(value * value + pc * pc);
};

let t: EconomyTestChain;
let w1: Hex; // TCB level 1, operated by account 2
let w2: Hex; // TCB level 3, operated by account 2
let w3: Hex; // idle, bound
let poolId: bigint;
let firstStart: bigint; // when the first worker started: emission runs from then on

before(async () => {
  t = await startEconomyChain();
  await t.fund(3, V(100_000));
  w1 = await t.registerWorker(2, workerKey(1), 1);
  w2 = await t.registerWorker(2, workerKey(2), 3);
  w3 = await t.registerWorker(2, workerKey(3), 1);
  ({ poolId } = await t.econ(2).createPool(1_000));
  for (const w of [w1, w2, w3]) await t.econ(2).bindWorker(poolId, w);
  await t.econ(3).contribute(poolId, V(30_000));
});
afterEach(async () => {
  await assertConserved(t);
});
after(async () => {
  await t?.close();
});

const head = () => t.reader.blockNumber();
/** A fresh block that challenges every worker (the target is the maximum here) and is answerable
 * now: calls run on top of the latest block, so the challenge must be older than it. */
async function challengeBlock(): Promise<bigint> {
  await t.mine(2);
  return (await head()) - 1n;
}
const miner = (w: Hex) => t.econReader.getMiner(w);
const now = async () => (await t.reader.public.getBlock()).timestamp;

async function relayedHeartbeat(n: number, worker: Hex, challengeBlock: bigint, performance: bigint) {
  const session = (await miner(worker)).session;
  const signature = await t.econReader.signHeartbeat(workerKey(n), { session, challengeBlock, performance });
  return t.econ(1).heartbeat({ worker, challengeBlock, performance, signature });
}

describe("Rewards: the challenge", () => {
  test("block b challenges w when keccak(w) XOR blockhash(b) ≤ target, on chain as off", async () => {
    const target = MAX / 4n;
    await t.econ(0).setParameter({ parameter: "rewards.challengeTarget", value: target });
    await t.mine(40);
    const to = (await head()) - 1n;
    const expected = await t.econReader.findChallenges(w1, to - 39n, to);
    const onChain: bigint[] = [];
    for (let b = to - 39n; b <= to; b++) if (await t.econReader.isChallenged(w1, b)) onChain.push(b);
    assert.deepEqual(onChain, expected);
    assert.ok(
      expected.length > 2 && expected.length < 30,
      `about a quarter of 40 blocks (${expected.length})`,
    );
    const block = await t.reader.public.getBlock({ blockNumber: to });
    assert.equal(challenges(w1, block.hash, target), expected.includes(to));
    // The default target asks about two heartbeats an hour at 12-second blocks.
    assert.equal(MAX / 150n > 0n, true);
    await t.econ(0).setParameter({ parameter: "rewards.challengeTarget", value: MAX });
  });
});

describe("Rewards: mining", () => {
  test("a pool starts a worker: idle → working, V = its stake, share = V until its first heartbeat", async () => {
    assert.equal((await miner(w1)).state, MiningState.Idle);
    await t.econ(2).startMining(w1, V(10_000));
    firstStart = await now();
    const m = await miner(w1);
    assert.equal(m.state, MiningState.Working);
    assert.equal(m.session, 1n);
    assert.equal(m.value, V(10_000));
    assert.equal(m.share, V(10_000));
    assert.equal((await t.econReader.rewardTotals()).totalShares, V(10_000));
  });

  test("a heartbeat signed by the worker's key and relayed answers a challenge; P and conf set the share", async () => {
    const c = await challengeBlock();
    const hash = await relayedHeartbeat(1, w1, c, 500n);
    const m = await miner(w1);
    assert.equal(m.lastChallenge, c);
    assert.equal(m.performance, 500n);
    assert.ok(m.value > V(10_000), "V grew while working");
    assert.equal(m.share, share(m.value, 500n, 10_000n));
    const receipt = await t.reader.public.getTransactionReceipt({ hash });
    const [event] = parseEventLogs({ abi: rewardsAbi, logs: receipt.logs, eventName: "Heartbeat" });
    assert.equal(event?.args.worker, w1);
  });

  test("the worker's own key may send its heartbeat without a signature", async () => {
    await t.as(0).wallet!.sendTransaction({ to: w1, value: 10n ** 18n });
    const own = new VeilEconomy(t.econConfig, { account: workerKey(1), pollingIntervalMs: 20 });
    const c = await challengeBlock();
    await own.heartbeat({ worker: w1, challengeBlock: c, performance: 600n });
    assert.equal((await miner(w1)).performance, 600n);
  });

  test("performance is capped at maxPerformance", async () => {
    await relayedHeartbeat(1, w1, await challengeBlock(), 10n ** 9n);
    assert.equal((await miner(w1)).performance, 100_000n);
    await relayedHeartbeat(1, w1, await challengeBlock(), 500n);
  });

  test("refuses heartbeats that answer no open challenge, or that the worker did not sign", async () => {
    const state = () => miner(w1);
    const last = (await miner(w1)).lastChallenge;
    await refused(() => relayedHeartbeat(1, w1, last, 500n), "CHALLENGE_ALREADY_ANSWERED", state);
    await t.mine(21);
    const old = (await head()) - 21n;
    await refused(() => relayedHeartbeat(1, w1, old, 500n), "CHALLENGE_WINDOW_CLOSED", state);
    const future = await head(); // calls run on top of it: not yet answerable
    await refused(() => relayedHeartbeat(1, w1, future, 500n), "CHALLENGE_WINDOW_CLOSED", state);
    const c = await challengeBlock();
    const session = (await miner(w1)).session;
    const forged = await t.econReader.signHeartbeat(workerKey(9), {
      session,
      challengeBlock: c,
      performance: 500n,
    });
    await refused(
      () => t.econ(1).heartbeat({ worker: w1, challengeBlock: c, performance: 500n, signature: forged }),
      "HEARTBEAT_SIGNATURE_INVALID",
      state,
    );
    await t.econ(0).setParameter({ parameter: "rewards.challengeTarget", value: 1n });
    await refused(() => relayedHeartbeat(1, w1, c, 500n), "NOT_CHALLENGED", state);
    await t.econ(0).setParameter({ parameter: "rewards.challengeTarget", value: MAX });
    await refused(
      () => relayedHeartbeat(3, w3, c, 500n),
      "WORKER_NOT_MINING",
      () => miner(w3),
    );
  });

  test("the budget is shared in proportion to sqrt(V² + (2·P·conf)²), TCB level 3 counting 0.8", async () => {
    await t.econ(2).startMining(w2, V(10_000));
    await relayedHeartbeat(1, w1, await challengeBlock(), 5_000n);
    await relayedHeartbeat(2, w2, await challengeBlock(), 5_000n);
    const [m1, m2] = [await miner(w1), await miner(w2)];
    assert.equal(m1.share, share(m1.value, 5_000n, 10_000n));
    assert.equal(m2.share, share(m2.value, 5_000n, 8_000n));
    await t.increaseTime(3_600);
    const p1 = await t.econReader.pendingRewards(w1);
    const p2 = await t.econReader.pendingRewards(w2);
    // w1's pending also covers the one block before w2's heartbeat; over an hour that is < 0.1%.
    const ratio = Number((p1 * 1_000_000n) / p2) / 1_000_000;
    const expected = Number((m1.share * 1_000_000n) / m2.share) / 1_000_000;
    assert.ok(Math.abs(ratio / expected - 1) < 0.001, `pending ratio ${ratio} ≈ share ratio ${expected}`);
  });

  test("settling pays 20% to the treasury and the rest to the pool, its owner's commission first", async () => {
    const poolBefore = await t.econReader.getPool(poolId);
    const treasuryBefore = await t.econReader.balanceOf(t.economy.treasury);
    const hash = await t.econ(5).settleRewards(w1);
    const receipt = await t.reader.public.getTransactionReceipt({ hash });
    const [paid] = parseEventLogs({ abi: rewardsAbi, logs: receipt.logs, eventName: "RewardsPaid" });
    const { toPool, toTreasury } = paid!.args;
    assert.equal(toTreasury, ((toPool! + toTreasury!) * 2_000n) / 10_000n);
    assert.equal(await t.econReader.balanceOf(t.economy.treasury), treasuryBefore + toTreasury!);
    const poolAfter = await t.econReader.getPool(poolId);
    const commission = (toPool! * 1_000n) / 10_000n;
    assert.equal(poolAfter.ownerRewards - poolBefore.ownerRewards, commission);
    assert.equal(poolAfter.totalStake - poolBefore.totalStake, toPool! - commission);
    await assertPoolsSolvent(t);
  });

  test("emission so far (minted + pending) is the budget per second times the time worked", async () => {
    const { totalMinted } = await t.econReader.rewardTotals();
    const pending = (await t.econReader.pendingRewards(w1)) + (await t.econReader.pendingRewards(w2));
    const budget = V(1) * ((await now()) - firstStart);
    const emitted = totalMinted + pending;
    assert.ok(emitted <= budget, "never more than the budget");
    assert.ok(budget - emitted < 1_000n, `only rounding dust missing (${budget - emitted})`);
    assert.equal((await t.econReader.tokenInfo()).emitted, totalMinted);
  });
});

describe("Rewards: unresponsive and unattested workers", () => {
  test("a missed challenge, once reported, makes the worker unresponsive: no share, no pending", async () => {
    const c = (await miner(w2)).lastChallenge + 1n; // the block after its last answer challenges it too
    const state = () => miner(w2);
    await refused(() => t.econ(5).reportUnresponsive(w2, c), "CHALLENGE_WINDOW_OPEN", state);
    await t.mine(21);
    const poolBefore = await t.econReader.getPool(poolId);
    const hash = await t.econ(5).reportUnresponsive(w2, c);
    const m = await miner(w2);
    assert.equal(m.state, MiningState.Unresponsive);
    assert.equal(m.share, 0n);
    const receipt = await t.reader.public.getTransactionReceipt({ hash });
    const [forfeit] = parseEventLogs({ abi: rewardsAbi, logs: receipt.logs, eventName: "RewardsForfeited" });
    assert.ok((forfeit?.args.amount ?? 0n) > 0n, "what accrued since the last heartbeat is forfeited");
    assert.deepEqual(await t.econReader.getPool(poolId), poolBefore, "the pool got nothing");
    await refused(() => t.econ(5).reportUnresponsive(w2, c + 1n), "WORKER_NOT_MINING", state);
  });

  test("an unresponsive worker's V decays until it answers a later challenge, which brings it back", async () => {
    const before = await miner(w2);
    await t.increaseTime(DAY);
    // Evidence is good for a day (the policy's maxEvidenceAge): the workers re-attest.
    await t.registerWorker(2, workerKey(1), 1);
    await t.registerWorker(2, workerKey(2), 3);
    await relayedHeartbeat(2, w2, await challengeBlock(), 5_000n);
    const m = await miner(w2);
    assert.equal(m.state, MiningState.Working);
    const elapsed = m.updatedAt - before.updatedAt;
    const decay = (before.stake * 1_000n * elapsed) / (10_000n * BigInt(DAY));
    assert.equal(m.value, before.value - decay, "V lost 10% of the stake per day");
    assert.equal(m.share, share(m.value, 5_000n, 8_000n));
  });

  test("a miss can be reported only while the challenged block's hash is on chain", async () => {
    const c = await challengeBlock();
    await relayedHeartbeat(1, w1, c, 5_000n);
    const missed = c + 1n;
    await t.mine(300);
    await refused(
      () => t.econ(5).reportUnresponsive(w1, missed),
      "CHALLENGE_TOO_OLD",
      () => miner(w1),
    );
  });

  test("a worker no longer attested earns nothing: settling forfeits, heartbeats are refused", async () => {
    await refused(
      () => t.econ(5).reportUnattested(w1),
      "WORKER_STILL_ATTESTED",
      () => miner(w1),
    );
    await t.increaseTime(600);
    await t.as(0).revokeMeasurement(TeeType.simulated, MEASUREMENT);
    assert.equal(await t.reader.isWorkerAttested(w1), false);
    const poolBefore = await t.econReader.getPool(poolId);
    const treasuryBefore = await t.econReader.balanceOf(t.economy.treasury);
    const hash = await t.econ(5).settleRewards(w1);
    const receipt = await t.reader.public.getTransactionReceipt({ hash });
    assert.equal(parseEventLogs({ abi: rewardsAbi, logs: receipt.logs, eventName: "RewardsPaid" }).length, 0);
    assert.equal(
      parseEventLogs({ abi: rewardsAbi, logs: receipt.logs, eventName: "RewardsForfeited" }).length,
      1,
    );
    assert.deepEqual(await t.econReader.getPool(poolId), poolBefore);
    assert.equal(await t.econReader.balanceOf(t.economy.treasury), treasuryBefore);
    const c = await challengeBlock();
    await refused(
      () => relayedHeartbeat(1, w1, c, 5_000n),
      "WORKER_NOT_ATTESTED",
      () => miner(w1),
    );
  });

  test("anyone may report an unattested worker: its session ends and its stake cools down", async () => {
    const session = (await miner(w1)).session;
    await t.econ(5).reportUnattested(w1);
    const m = await miner(w1);
    assert.equal(m.state, MiningState.CoolingDown);
    assert.equal(m.endReason, EndReason.Unattested);
    assert.equal(m.share, 0n);
    const ended = await t.reader.public.readContract({
      address: t.economy.rewards,
      abi: rewardsAbi,
      functionName: "unattestedEndBlock",
      args: [w1, session],
    });
    assert.equal(ended, await head());
    // Re-attested, it may mine again after its cool-down, in a new session.
    await t.as(0).allowMeasurement(TeeType.simulated, MEASUREMENT);
    await t.increaseTime(7 * DAY + 1);
    await t.registerWorker(2, workerKey(1), 1);
    await t.registerWorker(2, workerKey(2), 3);
    await t.econ(5).reclaim(w1);
    await t.econ(2).startMining(w1, V(10_000));
    assert.equal((await miner(w1)).session, session + 1n);
    await assertPoolsSolvent(t);
  });
});

describe("Rewards: roles", () => {
  test("a worker that is not attested cannot start mining", async () => {
    await t.as(0).revokeMeasurement(TeeType.simulated, MEASUREMENT);
    await refused(
      () => t.econ(2).startMining(w3, V(1_000)),
      "WORKER_NOT_ATTESTED",
      async () => ({ miner: await miner(w3), pool: await t.econReader.getPool(poolId) }),
    );
    await t.as(0).allowMeasurement(TeeType.simulated, MEASUREMENT);
  });

  test("only slashing punishes", async () => {
    await refused(
      () =>
        t.econ(5).chain.write("punish", {
          address: t.economy.rewards,
          abi: rewardsAbi,
          functionName: "punish",
          args: [w1],
        }),
      "NOT_SLASHER",
      () => miner(w1),
    );
  });
});

describe("Rewards: parameters", () => {
  test("conf maps TCB levels 1…5 to 1, 1, 0.8, 0.7, 0.5 (0 for anything else)", async () => {
    const conf = [0n, 10_000n, 10_000n, 8_000n, 7_000n, 5_000n, 0n];
    for (let level = 0; level <= 6; level++) {
      assert.equal(
        await t.econReader.shareFor(V(3_000), 2_000n, level),
        share(V(3_000), 2_000n, conf[level]!),
        `level ${level}`,
      );
    }
  });

  test("every parameter is the owner's, within bounds", async () => {
    const params = () => t.econReader.parameters();
    await refused(
      () => t.econ(1).setParameter({ parameter: "rewards.rewardPerSecond", value: 1n }),
      "NOT_OWNER",
      params,
    );
    for (const change of [
      { parameter: "rewards.challengeWindow", value: 201n },
      { parameter: "rewards.challengeWindow", value: 0n },
      { parameter: "rewards.treasuryBps", value: 10_001 },
      { parameter: "rewards.challengeTarget", value: 0n },
      { parameter: "rewards.minStake", value: 0n },
      { parameter: "rewards.maxPerformance", value: 0n },
      { parameter: "rewards.confidenceBps", value: [10_000, 10_000, 8_000, 9_000, 5_000] },
      {
        parameter: "rewards.valueParameters",
        value: { growthBpsPerDay: 100, maxBps: 9_000, decayBpsPerDay: 100 },
      },
      { parameter: "rewards.treasury", value: `0x${"00".repeat(20)}` },
    ] as const) {
      await refused(() => t.econ(0).setParameter(change), "ECONOMY_PARAMETER_INVALID", params);
    }
    await t
      .econ(0)
      .setParameter({ parameter: "rewards.confidenceBps", value: [10_000, 9_000, 8_000, 6_000, 4_000] });
    assert.deepEqual((await params()).rewards.confidenceBps, [10_000, 9_000, 8_000, 6_000, 4_000]);
    assert.equal(privateKeyToAccount(workerKey(1)).address, w1);
  });
});
