import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { type Hex, parseEventLogs } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { feeEscrowAbi } from "../../src/chain/abi.ts";
import { parseVeil, type Voucher, voucherDigest } from "../../src/chain/economy-client.ts";
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

let t: EconomyTestChain;
let w: Hex; // bound to account 2's pool (10% commission)
let u: Hex; // operated by account 5, in no pool
let poolId: bigint;
const payers = [6, 7, 8];
const signerKey = workerKey(50); // a gateway's key, say

before(async () => {
  t = await startEconomyChain();
  await t.econ(0).setParameter({ parameter: "rewards.rewardPerSecond", value: 0n });
  for (const i of [1, ...payers]) await t.fund(i, V(10_000));
  w = await t.registerWorker(2, workerKey(1));
  u = await t.registerWorker(5, workerKey(2));
  ({ poolId } = await t.econ(2).createPool(1_000));
  await t.econ(2).bindWorker(poolId, w);
  await t.econ(1).contribute(poolId, V(1_000));
});
afterEach(async () => {
  await assertConserved(t);
});
after(async () => {
  await t?.close();
});

const addr = (i: number) => t.accounts[i]!.address;
const account = (i: number) => t.econReader.escrowAccount(addr(i));
const state = async () => ({
  balances: await balances(t),
  accounts: await Promise.all(payers.map(account)),
  pool: await t.econReader.getPool(poolId),
});
const sign = (i: number, args: { worker: Hex; agentId: bigint; calls: bigint; amount: bigint }) =>
  t.econReader.signVoucher(t.accounts[i]!.privateKey, { payer: addr(i), ...args });

/** The escrow holds exactly its payers' balances. */
async function assertEscrowSolvent() {
  const held = (await Promise.all(payers.map(account))).reduce((s, a) => s + a.balance, 0n);
  assert.equal(await t.econReader.balanceOf(t.economy.feeEscrow), held);
}

describe("FeeEscrow: deposits", () => {
  test("the voucher digest computed off chain is the contract's", async () => {
    const args = { payer: addr(6), worker: w, agentId: 7n, calls: 3n, amount: V(2) };
    const onChain = await t.reader.public.readContract({
      address: t.economy.feeEscrow,
      abi: feeEscrowAbi,
      functionName: "voucherDigest",
      args: [args.payer, args.worker, args.agentId, args.calls, args.amount],
    });
    assert.equal(
      voucherDigest({ chainId: t.config.chainId, feeEscrow: t.economy.feeEscrow, ...args }),
      onChain,
    );
  });

  test("payers prepay into their escrow; anyone may top up another's", async () => {
    await t.econ(6).depositEscrow(V(1_000));
    await t.econ(1).depositEscrow(V(500), addr(7));
    assert.equal((await account(6)).balance, V(1_000));
    assert.equal((await account(7)).balance, V(500));
    await refused(() => t.econ(6).depositEscrow(0n), "AMOUNT_ZERO", state);
    await assertEscrowSolvent();
  });
});

describe("FeeEscrow: claims", () => {
  test("a claim pays a voucher: the treasury 10%, the rest to the worker's pool (its owner's commission first)", async () => {
    const before = await state();
    const v = await sign(6, { worker: w, agentId: 1n, calls: 10n, amount: V(5) });
    await t.econ(9).claimFees(w, [v]); // anyone may submit
    assert.equal((await account(6)).balance, V(995));
    assert.equal(await t.econReader.balanceOf(t.economy.treasury), before.balances.treasury! + V("0.5"));
    const pool = await t.econReader.getPool(poolId);
    assert.equal(pool.ownerRewards - before.pool.ownerRewards, V("0.45"));
    assert.equal(pool.totalStake - before.pool.totalStake, V("4.05"));
    assert.deepEqual(await t.econReader.feeChannel(addr(6), w, 1n), { calls: 10n, amount: V(5) });
    await assertEscrowSolvent();
    await assertPoolsSolvent(t);
  });

  test("a voucher is paid once; a later cumulative voucher pays only what it adds", async () => {
    const old = await sign(6, { worker: w, agentId: 1n, calls: 10n, amount: V(5) });
    await refused(() => t.econ(9).claimFees(w, [old]), "VOUCHER_ALREADY_CLAIMED", state);
    const lower = await sign(6, { worker: w, agentId: 1n, calls: 12n, amount: V(4) });
    await refused(() => t.econ(9).claimFees(w, [lower]), "VOUCHER_ALREADY_CLAIMED", state);
    const fewerCalls = await sign(6, { worker: w, agentId: 1n, calls: 9n, amount: V(6) });
    await refused(() => t.econ(9).claimFees(w, [fewerCalls]), "VOUCHER_ALREADY_CLAIMED", state);
    const later = await sign(6, { worker: w, agentId: 1n, calls: 25n, amount: V(12) });
    await refused(() => t.econ(9).claimFees(w, [later, later]), "VOUCHER_ALREADY_CLAIMED", state);
    await t.econ(9).claimFees(w, [later]);
    assert.equal((await account(6)).balance, V(988));
    assert.deepEqual(await t.econReader.feeChannel(addr(6), w, 1n), { calls: 25n, amount: V(12) });
    // The same voucher for another worker or agent is another channel: its signature does not match.
    await refused(() => t.econ(9).claimFees(u, [later]), "VOUCHER_SIGNATURE_INVALID", state);
  });

  test("one claim settles many channels; a worker in no pool is paid through its operator", async () => {
    const operatorBefore = await t.econReader.balanceOf(addr(5));
    const vouchers = [
      await sign(6, { worker: u, agentId: 1n, calls: 100n, amount: V(10) }),
      await sign(6, { worker: u, agentId: 2n, calls: 50n, amount: V(5) }),
      await sign(7, { worker: u, agentId: 1n, calls: 20n, amount: V(2) }),
    ];
    const hash = await t.econ(5).claimFees(u, vouchers);
    const receipt = await t.reader.public.getTransactionReceipt({ hash });
    const events = parseEventLogs({ abi: feeEscrowAbi, logs: receipt.logs, eventName: "FeesClaimed" });
    assert.deepEqual(
      events.map((e) => [e.args.payer, e.args.agentId, e.args.calls, e.args.paid]),
      [
        [addr(6), 1n, 100n, V(10)],
        [addr(6), 2n, 50n, V(5)],
        [addr(7), 1n, 20n, V(2)],
      ],
    );
    assert.equal(await t.econReader.balanceOf(addr(5)), operatorBefore + V("15.3"));
    await assertEscrowSolvent();
  });

  test("a payer may let another key sign: for one agent, or any; a revoked or unknown key signs nothing", async () => {
    const gateway = privateKeyToAccount(signerKey);
    const byGateway = (agentId: bigint, amount: bigint) =>
      t.econReader.signVoucher(signerKey, { payer: addr(7), worker: w, agentId, calls: 1n, amount });
    const v3 = await byGateway(3n, V(1));
    await refused(() => t.econ(9).claimFees(w, [v3]), "VOUCHER_SIGNATURE_INVALID", state);
    await t.econ(7).authorizeSigner(gateway.address, 3n);
    await t.econ(9).claimFees(w, [v3]);
    const v4 = await byGateway(4n, V(1));
    await refused(() => t.econ(9).claimFees(w, [v4]), "VOUCHER_SIGNATURE_INVALID", state);
    await t.econ(7).authorizeSigner(gateway.address, "any");
    await t.econ(9).claimFees(w, [v4]);
    await t.econ(7).revokeSigner(gateway.address);
    const v5 = await byGateway(5n, V(1));
    await refused(() => t.econ(9).claimFees(w, [v5]), "VOUCHER_SIGNATURE_INVALID", state);
    // A voucher altered after signing recovers to some other key.
    const good = await sign(7, { worker: w, agentId: 9n, calls: 1n, amount: V(1) });
    const altered: Voucher = { ...good, amount: V(100) };
    await refused(() => t.econ(9).claimFees(w, [altered]), "VOUCHER_SIGNATURE_INVALID", state);
    await assertEscrowSolvent();
  });

  test("a voucher beyond the escrow pays what is there; the rest is paid once the payer tops up", async () => {
    await t.econ(8).depositEscrow(V(1));
    const v = await sign(8, { worker: w, agentId: 1n, calls: 3n, amount: V(3) });
    const hash = await t.econ(9).claimFees(w, [v]);
    const receipt = await t.reader.public.getTransactionReceipt({ hash });
    const [shortfall] = parseEventLogs({
      abi: feeEscrowAbi,
      logs: receipt.logs,
      eventName: "ClaimShortfall",
    });
    assert.equal(shortfall?.args.unpaid, V(2));
    assert.equal((await account(8)).balance, 0n);
    assert.equal((await t.econReader.feeChannel(addr(8), w, 1n)).amount, V(1));
    await t.econ(8).depositEscrow(V(5));
    await t.econ(9).claimFees(w, [v]);
    assert.equal((await account(8)).balance, V(3));
    assert.equal((await t.econReader.feeChannel(addr(8), w, 1n)).amount, V(3));
    await assertEscrowSolvent();
  });

  test("refuses an empty claim and a worker that is not registered", async () => {
    await refused(() => t.econ(9).claimFees(w, []), "CLAIM_EMPTY", state);
    const v = await sign(6, { worker: addr(9), agentId: 1n, calls: 1n, amount: V(1) });
    await refused(() => t.econ(9).claimFees(addr(9), [v]), "WORKER_NOT_FOUND", state);
  });

  test("1,000 calls from 10 payers settle in one claim for under 5,000 gas a call", async () => {
    const vouchers: Voucher[] = [];
    for (let i = 0; i < 10; i++) {
      vouchers.push(
        await sign(6 + (i % 3), { worker: w, agentId: 100n + BigInt(i), calls: 100n, amount: 100n }),
      );
    }
    const hash = await t.econ(9).claimFees(w, vouchers);
    const { gasUsed } = await t.reader.public.getTransactionReceipt({ hash });
    assert.ok(gasUsed / 1_000n < 5_000n, `${gasUsed / 1_000n} gas per call`);
  });
});

describe("FeeEscrow: withdrawals", () => {
  test("a withdrawal waits the delay, during which claims still draw on the balance", async () => {
    const balance = (await account(6)).balance;
    await refused(() => t.econ(6).requestEscrowWithdrawal(balance + 1n), "ESCROW_INSUFFICIENT", state);
    await refused(() => t.econ(6).withdrawEscrow(), "ESCROW_NO_WITHDRAWAL", state);
    await t.econ(6).requestEscrowWithdrawal(balance);
    const err = await refusedRetryable(() => t.econ(6).withdrawEscrow(), "ESCROW_WITHDRAWAL_LOCKED");
    assert.equal(err, true);
    const v = await sign(6, { worker: w, agentId: 1n, calls: 30n, amount: V(20) }); // 8 more than paid
    await t.econ(9).claimFees(w, [v]);
    await t.increaseTime(24 * 3600);
    const before = await t.econReader.balanceOf(addr(6));
    await t.econ(6).withdrawEscrow();
    assert.equal(await t.econReader.balanceOf(addr(6)), before + balance - V(8));
    assert.deepEqual(await account(6), { balance: 0n, requested: 0n, unlockAt: 0n });
    await refused(() => t.econ(6).withdrawEscrow(), "ESCROW_NO_WITHDRAWAL", state);
    await assertEscrowSolvent();
  });

  test("the treasury's share and the delay are governance parameters within bounds", async () => {
    const params = async () => (await t.econReader.parameters()).feeEscrow;
    await refused(
      () => t.econ(1).setParameter({ parameter: "feeEscrow.treasuryBps", value: 500 }),
      "NOT_OWNER",
      params,
    );
    await refused(
      () => t.econ(0).setParameter({ parameter: "feeEscrow.treasuryBps", value: 10_001 }),
      "ECONOMY_PARAMETER_INVALID",
      params,
    );
    await refused(
      () => t.econ(0).setParameter({ parameter: "feeEscrow.withdrawDelay", value: 31n * 24n * 3600n }),
      "ECONOMY_PARAMETER_INVALID",
      params,
    );
    await t.econ(0).setParameter({ parameter: "feeEscrow.treasuryBps", value: 0 });
    assert.equal((await params()).treasuryBps, 0);
  });
});

async function refusedRetryable(action: () => Promise<unknown>, code: string): Promise<boolean> {
  const before = await state();
  let retryable = false;
  await assert.rejects(action(), (err: { code?: string; retryable?: boolean }) => {
    assert.equal(err.code, code);
    retryable = err.retryable === true;
    return true;
  });
  assert.deepEqual(await state(), before);
  return retryable;
}
