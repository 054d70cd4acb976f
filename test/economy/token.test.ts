import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { parseEventLogs } from "viem";
import { rewardsAbi, veilTokenAbi } from "../../src/chain/abi.ts";
import { formatVeil, parseVeil } from "../../src/chain/economy-client.ts";
import {
  assertConserved,
  balances,
  type EconomyTestChain,
  refused,
  startEconomyChain,
  workerKey,
} from "../helpers/economy.ts";

const V = (n: number | string) => parseVeil(String(n));
const GENESIS = V(1_000_000);
const CAP = V(5_000);

let t: EconomyTestChain;

before(async () => {
  t = await startEconomyChain({ genesisSupply: GENESIS, emissionCap: CAP });
});
afterEach(async () => {
  await assertConserved(t);
});
after(async () => {
  await t?.close();
});

const state = () => balances(t);
const mintAs = (i: number, to: `0x${string}`, amount: bigint) =>
  t.econ(i).chain.write("mint emission", {
    address: t.economy.token,
    abi: veilTokenAbi,
    functionName: "mintEmission",
    args: [to, amount],
  });

describe("VeilToken", () => {
  test("the genesis supply goes to the holder; emission is capped; the rewards contract mints", async () => {
    assert.equal(await t.econReader.totalSupply(), GENESIS);
    assert.equal(await t.econReader.balanceOf(t.accounts[0]!.address), GENESIS);
    assert.deepEqual(await t.econReader.tokenInfo(), {
      genesisSupply: GENESIS,
      emissionCap: CAP,
      emitted: 0n,
      minter: t.economy.rewards,
    });
  });

  test("amounts parse and format in whole tokens of 18 decimals", () => {
    assert.equal(parseVeil("1.5"), 1_500_000_000_000_000_000n);
    assert.equal(formatVeil(1_500_000_000_000_000_000n), "1.5");
    assert.equal(formatVeil(1_234_567_890_000_000_000n, { maxDecimals: 2 }), "1.23");
    assert.equal(formatVeil(V(7), { maxDecimals: 2 }), "7");
    assert.throws(() => parseVeil("1,5"));
    assert.throws(() => parseVeil("-1"));
  });

  test("only the minter mints emission, and never past the cap", async () => {
    const to = t.accounts[1]!.address;
    await refused(() => mintAs(1, to, V(1)), "EMISSION_NOT_MINTER", state);
    await refused(
      () => t.econ(1).setParameter({ parameter: "token.minter", value: t.accounts[1]!.address }),
      "NOT_OWNER",
      state,
    );
    // Governance (account 0 here) lends itself the minter role to test the cap directly.
    await t.econ(0).setParameter({ parameter: "token.minter", value: t.accounts[0]!.address });
    await mintAs(0, to, V(1_000));
    assert.equal((await t.econReader.tokenInfo()).emitted, V(1_000));
    await refused(() => mintAs(0, to, CAP - V(1_000) + 1n), "EMISSION_CAP_EXCEEDED", state);
    await t.econ(0).setParameter({ parameter: "token.minter", value: t.economy.rewards });
  });

  test("mining rewards stop at the cap without failing", async () => {
    const w = await t.registerWorker(2, workerKey(1));
    await t.fund(3, V(10_000));
    const { poolId } = await t.econ(2).createPool(0);
    await t.econ(2).bindWorker(poolId, w);
    await t.econ(3).contribute(poolId, V(5_000));
    await t.econ(2).startMining(w, V(5_000));
    await t.increaseTime(10_000); // 10,000 VEIL of budget; 4,000 left under the cap
    const hash = await t.econ(1).settleRewards(w);
    const receipt = await t.reader.public.getTransactionReceipt({ hash });
    const [paid] = parseEventLogs({ abi: rewardsAbi, logs: receipt.logs, eventName: "RewardsPaid" });
    assert.equal((paid?.args.toPool ?? 0n) + (paid?.args.toTreasury ?? 0n), V(4_000));
    assert.equal(await t.econReader.totalSupply(), GENESIS + CAP);
    await t.increaseTime(100);
    const again = await t.reader.public.getTransactionReceipt({ hash: await t.econ(1).settleRewards(w) });
    assert.equal(parseEventLogs({ abi: rewardsAbi, logs: again.logs, eventName: "RewardsPaid" }).length, 0);
    assert.equal(await t.econReader.totalSupply(), GENESIS + CAP);
    await t.econ(2).stopMining(w); // stopping still works at the cap
  });

  test("votes follow delegation and are counted by timestamp", async () => {
    const clockMode = await t.reader.public.readContract({
      address: t.economy.token,
      abi: veilTokenAbi,
      functionName: "CLOCK_MODE",
    });
    assert.equal(clockMode, "mode=timestamp");
    const a4 = t.accounts[4]!.address;
    await t.fund(4, V(300));
    assert.equal(await t.econReader.votesOf(a4), 0n, "no votes until delegated");
    await t.econ(4).delegateVotes(a4);
    assert.equal(await t.econReader.votesOf(a4), V(300));
    const at = (await t.reader.public.getBlock()).timestamp;
    await t.econ(4).transfer(t.accounts[5]!.address, V(100));
    assert.equal(await t.econReader.votesOf(a4), V(200));
    const past = await t.reader.public.readContract({
      address: t.economy.token,
      abi: veilTokenAbi,
      functionName: "getPastVotes",
      args: [a4, at],
    });
    assert.equal(past, V(300));
  });

  test("a permit approves by signature; a wrong signer or a lapsed deadline is refused", async () => {
    const owner = t.accounts[4]!;
    const spender = t.accounts[6]!.address;
    const deadline = (await t.reader.public.getBlock()).timestamp + 3_600n;
    const allowance = () => t.econReader.allowance(owner.address, spender);
    const forged = await t.econReader.signPermit(t.accounts[7]!.privateKey, {
      spender,
      value: V(50),
      deadline,
    });
    await refused(() => t.econ(6).permit({ ...forged, owner: owner.address }), "PERMIT_INVALID", allowance);
    const lapsed = await t.econReader.signPermit(owner.privateKey, { spender, value: V(50), deadline: 1n });
    await refused(() => t.econ(6).permit(lapsed), "PERMIT_EXPIRED", allowance);
    const permit = await t.econReader.signPermit(owner.privateKey, { spender, value: V(50), deadline });
    await t.econ(6).permit(permit); // sent by the spender: the owner pays no gas
    assert.equal(await allowance(), V(50));
  });
});
