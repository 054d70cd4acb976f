import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { type Hex, parseEventLogs } from "viem";
import { slashingAbi } from "../../src/chain/abi.ts";
import { TeeType } from "../../src/chain/client.ts";
import { EndReason, MiningState, parseVeil, workerReceiptDigest } from "../../src/chain/economy-client.ts";
import { hash32 } from "../helpers/chain.ts";
import {
  assertConserved,
  assertPoolsSolvent,
  balances,
  type EconomyTestChain,
  MEASUREMENT,
  refused,
  startEconomyChain,
  workerKey,
} from "../helpers/economy.ts";

const V = (n: number | string) => parseVeil(String(n));

let t: EconomyTestChain;
let w1: Hex; // mining, operated by account 2
let w2: Hex; // operated by account 2, idle at first
let w3: Hex; // operated by account 5, in no pool
let poolId: bigint;

before(async () => {
  t = await startEconomyChain();
  await t.econ(0).setParameter({ parameter: "rewards.rewardPerSecond", value: 0n });
  await t.fund(3, V(50_000));
  w1 = await t.registerWorker(2, workerKey(1));
  w2 = await t.registerWorker(2, workerKey(2));
  w3 = await t.registerWorker(5, workerKey(3));
  ({ poolId } = await t.econ(2).createPool(1_000));
  await t.econ(2).bindWorker(poolId, w1);
  await t.econ(2).bindWorker(poolId, w2);
  await t.econ(3).contribute(poolId, V(20_000));
  await t.econ(2).startMining(w1, V(10_000));
});
afterEach(async () => {
  await assertConserved(t);
});
after(async () => {
  await t?.close();
});

const state = async () => ({ balances: await balances(t), pool: await t.econReader.getPool(poolId) });
const receipt = (n: number, fields: { agentId?: bigint; requestId?: Hex; outputHash: Hex }) =>
  t.econReader.signWorkerReceipt(workerKey(n), {
    agentId: fields.agentId ?? 1n,
    requestId: fields.requestId ?? hash32(0x01),
    inputHash: hash32(0x1a),
    outputHash: fields.outputHash,
  });

describe("Slashing: equivocation", () => {
  test("the receipt digest computed off chain is the contract's", async () => {
    const r = await receipt(1, { outputHash: hash32(0xaa) });
    const onChain = await t.reader.public.readContract({
      address: t.economy.slashing,
      abi: slashingAbi,
      functionName: "receiptDigest",
      args: [w1, r],
    });
    const { signature: _, ...fields } = r;
    assert.equal(
      workerReceiptDigest({
        chainId: t.config.chainId,
        slashing: t.economy.slashing,
        worker: w1,
        ...fields,
      }),
      onChain,
    );
  });

  test("refuses evidence that proves nothing, changing nothing", async () => {
    const a = await receipt(1, { outputHash: hash32(0xaa) });
    await refused(() => t.econ(4).reportEquivocation(w1, a, a), "RECEIPTS_NOT_CONFLICTING", state);
    const otherRequest = await receipt(1, { requestId: hash32(0x02), outputHash: hash32(0xbb) });
    await refused(() => t.econ(4).reportEquivocation(w1, a, otherRequest), "RECEIPTS_NOT_CONFLICTING", state);
    const otherAgent = await receipt(1, { agentId: 2n, outputHash: hash32(0xbb) });
    await refused(() => t.econ(4).reportEquivocation(w1, a, otherAgent), "RECEIPTS_NOT_CONFLICTING", state);
    const forged = await receipt(9, { outputHash: hash32(0xbb) });
    await refused(() => t.econ(4).reportEquivocation(w1, a, forged), "RECEIPT_SIGNATURE_INVALID", state);
    const [x, y] = [
      await receipt(3, { outputHash: hash32(0xaa) }),
      await receipt(3, { outputHash: hash32(0xbb) }),
    ];
    await refused(() => t.econ(4).reportEquivocation(w3, x, y), "WORKER_NOT_IN_POOL", state);
  });

  test("two receipts for one request with different outputs slash the pool; the reporter gets half", async () => {
    const before = await state();
    const a = await receipt(1, { outputHash: hash32(0xaa) });
    const b = await receipt(1, { outputHash: hash32(0xbb) });
    const hash = await t.econ(4).reportEquivocation(w1, a, b);
    // 10% of the pool's 20,000 stake, taken from the faulty worker's stake first.
    const after = await state();
    assert.equal(after.pool.totalStake, before.pool.totalStake - V(2_000));
    assert.equal((await t.econReader.workerStake(w1)).stake, V(8_000));
    assert.equal(after.balances.account4, before.balances.account4! + V(1_000));
    assert.equal(after.balances.treasury, before.balances.treasury! + V(1_000));
    assert.equal(after.balances.supply, before.balances.supply, "slashing moves tokens, it burns none");
    const m = await t.econReader.getMiner(w1);
    assert.equal(m.state, MiningState.CoolingDown);
    assert.equal(m.endReason, EndReason.Slashed);
    const r = await t.reader.public.getTransactionReceipt({ hash });
    const [event] = parseEventLogs({ abi: slashingAbi, logs: r.logs, eventName: "FaultReported" });
    assert.equal(event?.args.slashed, V(2_000));
    assert.equal(event?.args.reporterReward, V(1_000));
    await assertPoolsSolvent(t);
  });

  test("a fault is punished once, whichever order its evidence comes in", async () => {
    const a = await receipt(1, { outputHash: hash32(0xaa) });
    const b = await receipt(1, { outputHash: hash32(0xbb) });
    await refused(() => t.econ(4).reportEquivocation(w1, a, b), "FAULT_ALREADY_REPORTED", state);
    await refused(() => t.econ(6).reportEquivocation(w1, b, a), "FAULT_ALREADY_REPORTED", state);
  });

  test("the worker's operator (the pool owner) reporting its own worker gets nothing back", async () => {
    const before = await state();
    const a = await receipt(2, { outputHash: hash32(0xaa) });
    const b = await receipt(2, { outputHash: hash32(0xbb) });
    await t.econ(2).reportEquivocation(w2, a, b);
    const after = await state();
    // w2 holds no stake: 10% of 18,000 comes from the pool's free stake.
    assert.equal(after.pool.totalStake, before.pool.totalStake - V(1_800));
    assert.equal(after.pool.freeStake, before.pool.freeStake - V(1_800));
    assert.equal(after.balances.account2, before.balances.account2);
    assert.equal(after.balances.treasury, before.balances.treasury! + V(1_800));
    await assertPoolsSolvent(t);
  });
});

describe("Slashing: heartbeats while unattested", () => {
  let session: bigint;
  let endedAt: bigint;
  const heartbeat = async (n: number, s: bigint, challengeBlock: bigint) => ({
    session: s,
    challengeBlock,
    performance: 100n,
    signature: await t.econReader.signHeartbeat(workerKey(n), {
      session: s,
      challengeBlock,
      performance: 100n,
    }),
  });

  test("setup: w2 mines, loses its attestation, and is reported", async () => {
    await t.econ(2).startMining(w2, V(5_000));
    await t.as(0).revokeMeasurement(TeeType.simulated, MEASUREMENT);
    await t.econ(6).reportUnattested(w2);
    const m = await t.econReader.getMiner(w2);
    assert.equal(m.endReason, EndReason.Unattested);
    session = m.session;
    endedAt = await t.reader.blockNumber();
    await t.mine(3);
  });

  test("refuses heartbeats that are not faults, or that the worker did not sign", async () => {
    const early = await heartbeat(2, session, endedAt);
    await refused(
      () => t.econ(6).reportUnattestedHeartbeat({ worker: w2, ...early }),
      "HEARTBEAT_NOT_A_FAULT",
      state,
    );
    // w1's session ended by slashing, not for want of attestation.
    const w1Session = (await t.econReader.getMiner(w1)).session;
    const other = await heartbeat(1, w1Session, endedAt + 1n);
    await refused(
      () => t.econ(6).reportUnattestedHeartbeat({ worker: w1, ...other }),
      "HEARTBEAT_NOT_A_FAULT",
      state,
    );
    const forged = await heartbeat(9, session, endedAt + 1n);
    await refused(
      () => t.econ(6).reportUnattestedHeartbeat({ worker: w2, ...forged }),
      "HEARTBEAT_SIGNATURE_INVALID",
      state,
    );
    // Attested again (the measurement allowed anew), a late heartbeat is no fault.
    await t.as(0).allowMeasurement(TeeType.simulated, MEASUREMENT);
    const late = await heartbeat(2, session, endedAt + 1n);
    await refused(
      () => t.econ(6).reportUnattestedHeartbeat({ worker: w2, ...late }),
      "WORKER_STILL_ATTESTED",
      state,
    );
    await t.as(0).revokeMeasurement(TeeType.simulated, MEASUREMENT);
  });

  test("a heartbeat signed after the session ended unattested slashes the pool, once", async () => {
    const before = await state();
    const hb = await heartbeat(2, session, endedAt + 2n);
    await t.econ(6).reportUnattestedHeartbeat({ worker: w2, ...hb });
    const after = await state();
    const slashed = before.pool.totalStake - after.pool.totalStake;
    assert.equal(slashed, before.pool.totalStake / 10n);
    assert.equal(after.balances.account6, before.balances.account6! + slashed / 2n);
    assert.equal(after.balances.treasury, before.balances.treasury! + slashed - slashed / 2n);
    const again = await heartbeat(2, session, endedAt + 3n);
    await refused(
      () => t.econ(6).reportUnattestedHeartbeat({ worker: w2, ...again }),
      "FAULT_ALREADY_REPORTED",
      state,
    );
    await assertPoolsSolvent(t);
  });
});

describe("Slashing: a pool slashed to nothing", () => {
  test("refuses new contributions, and a vault that held only its shares refuses deposits", async () => {
    await t.as(0).allowMeasurement(TeeType.simulated, MEASUREMENT);
    const { poolId: wiped } = await t.econ(5).createPool(0);
    await t.econ(5).bindWorker(wiped, w3);
    await t.econ(3).contribute(wiped, V(100));
    const { vault } = await t.econ(6).createVault(0);
    await t.fund(6, V(100));
    await t.econ(6).vaultDeposit(vault, V(10));
    await t.econ(6).vaultDelegate(vault, wiped, V(10));
    await t.econ(0).setParameter({ parameter: "slashing.slashBps", value: 10_000 });
    const a = await receipt(3, { requestId: hash32(0x77), outputHash: hash32(0xaa) });
    const b = await receipt(3, { requestId: hash32(0x77), outputHash: hash32(0xbb) });
    await t.econ(4).reportEquivocation(w3, a, b);
    await t.econ(0).setParameter({ parameter: "slashing.slashBps", value: 1_000 });
    const pool = await t.econReader.getPool(wiped);
    assert.equal(pool.totalStake, 0n);
    assert.ok(pool.totalShares > 0n);
    const wipedState = async () => ({ ...(await state()), wiped: await t.econReader.getPool(wiped) });
    await refused(() => t.econ(3).contribute(wiped, V(1)), "POOL_WIPED_OUT", wipedState);
    assert.equal((await t.econReader.getVault(vault)).totalAssets, 0n);
    await refused(
      () => t.econ(6).vaultDeposit(vault, V(1)),
      "VAULT_WIPED_OUT",
      () => t.econReader.getVault(vault),
    );
    await assertPoolsSolvent(t);
  });
});

describe("Slashing: parameters", () => {
  test("the slash and the reporter's share are governance parameters within bounds", async () => {
    const params = async () => (await t.econReader.parameters()).slashing;
    await refused(
      () => t.econ(1).setParameter({ parameter: "slashing.slashBps", value: 500 }),
      "NOT_OWNER",
      params,
    );
    await refused(
      () => t.econ(0).setParameter({ parameter: "slashing.slashBps", value: 10_001 }),
      "ECONOMY_PARAMETER_INVALID",
      params,
    );
    await refused(
      () => t.econ(0).setParameter({ parameter: "slashing.reporterBps", value: 10_001 }),
      "ECONOMY_PARAMETER_INVALID",
      params,
    );
    await t.econ(0).setParameter({ parameter: "slashing.slashBps", value: 500 });
    assert.deepEqual(await params(), { slashBps: 500, reporterBps: 5_000 });
  });
});
