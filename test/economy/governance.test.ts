import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { encodeFunctionData, type Hex, keccak256, toBytes, zeroAddress } from "viem";
import {
  attestationPolicyAbi,
  gatekeeperRegistryAbi,
  rewardsAbi,
  stakePoolAbi,
  veilGovernorAbi,
  veilTimelockAbi,
  veilTokenAbi,
} from "../../src/chain/abi.ts";
import { TeeType } from "../../src/chain/client.ts";
import { type ParameterChange, ProposalState, parseVeil, VoteType } from "../../src/chain/economy-client.ts";
import { DEFAULT_GOVERNANCE } from "../../src/chain/economy-deploy.ts";
import { RotationClient, RotationState, rotationProposalAction } from "../../src/chain/rotation.ts";
import {
  assertConserved,
  balances,
  type EconomyTestChain,
  refused,
  startEconomyChain,
} from "../helpers/economy.ts";

const V = (n: number | string) => parseVeil(String(n));
const { votingDelay, votingPeriod, timelockDelay } = DEFAULT_GOVERNANCE;

let t: EconomyTestChain;

before(async () => {
  t = await startEconomyChain({ timelock: true, governRegistries: true });
  await t.econ(0).delegateVotes(t.accounts[0]!.address);
  await t.mine(1); // votes count from a past timestamp
});
afterEach(async () => {
  await assertConserved(t);
});
after(async () => {
  await t?.close();
});

const read = (address: Hex, abi: readonly unknown[], functionName: string, args: readonly unknown[] = []) =>
  t.reader.public.readContract({ address, abi, functionName, args } as never) as Promise<unknown>;
const state = (id: bigint) => t.econReader.proposalState(id);
const params = () => t.econReader.parameters();
/** What a refused governance step must leave as it was: the proposal, its votes, the parameters, balances. */
const everything = (id?: bigint) => async () => ({
  proposal: id === undefined ? undefined : await state(id),
  votes:
    id === undefined ? undefined : await read(t.economy.governor, veilGovernorAbi, "proposalVotes", [id]),
  params: await params(),
  balances: await balances(t),
});

describe("Governance: deployment", () => {
  test("every parameter belongs to the timelock, which only the governor feeds; the deployer keeps nothing", async () => {
    const e = t.economy;
    for (const address of [e.token, e.stakePool, e.rewards, e.feeEscrow, e.slashing, e.vaultFactory]) {
      assert.equal(await read(address, stakePoolAbi, "owner"), e.timelock, `${address} is the timelock's`);
    }
    const role = (name: string) => keccak256(toBytes(name));
    const hasRole = (r: Hex, who: Hex) => read(e.timelock, veilTimelockAbi, "hasRole", [r, who]);
    const deployer = t.accounts[0]!.address;
    assert.equal(await hasRole(`0x${"00".repeat(32)}`, deployer), false);
    assert.equal(await hasRole(role("PROPOSER_ROLE"), deployer), false);
    assert.equal(await hasRole(role("PROPOSER_ROLE"), e.governor), true);
    assert.equal(await hasRole(role("CANCELLER_ROLE"), e.governor), true);
    assert.equal(await hasRole(role("EXECUTOR_ROLE"), zeroAddress), true, "anyone executes what is ready");
    assert.equal(await read(e.token, veilTokenAbi, "minter"), e.rewards);
    assert.equal(await read(e.rewards, rewardsAbi, "treasury"), e.timelock);
    assert.equal(await read(e.rewards, rewardsAbi, "stakePool"), e.stakePool);
    assert.equal(await read(e.stakePool, stakePoolAbi, "rewards"), e.rewards);
    assert.equal(await read(e.stakePool, stakePoolAbi, "slasher"), e.slashing);
    await refused(
      () => t.econ(0).setParameter({ parameter: "stakePool.coolDown", value: 3600n }),
      "NOT_OWNER",
      params,
    );
  });
});

describe("Governance: proposals", () => {
  const changes: ParameterChange[] = [
    { parameter: "stakePool.coolDown", value: 3n * 24n * 3600n },
    { parameter: "rewards.treasuryBps", value: 1_500 },
  ];
  const description = "Shorter cool-down, smaller treasury cut";
  let proposalId: bigint;
  let actions: Awaited<ReturnType<typeof t.econReader.proposeParameterChanges>>["actions"];

  test("proposing needs the proposal threshold in votes", async () => {
    await refused(
      () => t.econ(1).proposeParameterChanges(changes, description),
      "GOVERNANCE_VOTES_TOO_LOW",
      everything(),
    );
  });

  test("a parameter change goes through propose → vote → queue → execute", async () => {
    const before = await params();
    ({ proposalId, actions } = await t.econ(0).proposeParameterChanges(changes, description));
    assert.equal(await state(proposalId), ProposalState.Pending);
    await refused(
      () => t.econ(0).castVote(proposalId, VoteType.For),
      "GOVERNANCE_PROPOSAL_STATE",
      everything(proposalId),
    );

    await t.increaseTime(votingDelay + 1);
    assert.equal(await state(proposalId), ProposalState.Active);
    await t.econ(0).castVote(proposalId, VoteType.For);
    await refused(
      () => t.econ(0).castVote(proposalId, VoteType.For),
      "GOVERNANCE_ALREADY_VOTED",
      everything(proposalId),
    );
    await refused(
      () => t.econ(0).queueProposal(actions, description),
      "GOVERNANCE_PROPOSAL_STATE",
      everything(proposalId),
    );

    await t.increaseTime(votingPeriod + 1);
    assert.equal(await state(proposalId), ProposalState.Succeeded);
    await t.econ(5).queueProposal(actions, description); // anyone may queue
    assert.equal(await state(proposalId), ProposalState.Queued);
    await refused(
      () => t.econ(5).executeProposal(actions, description),
      "TIMELOCK_NOT_READY",
      everything(proposalId),
    );
    assert.deepEqual(await params(), before, "nothing changes before the timelock's delay");

    await t.increaseTime(timelockDelay + 1);
    await t.econ(5).executeProposal(actions, description); // anyone may execute
    assert.equal(await state(proposalId), ProposalState.Executed);
    const after = await params();
    assert.equal(after.stakePool.coolDown, 3n * 24n * 3600n);
    assert.equal(after.rewards.treasuryBps, 1_500);
    assert.deepEqual({ ...after.stakePool, coolDown: 0n }, { ...before.stakePool, coolDown: 0n });
  });

  test("an executed proposal cannot run again", async () => {
    await refused(
      () => t.econ(5).executeProposal(actions, description),
      "GOVERNANCE_PROPOSAL_STATE",
      everything(proposalId),
    );
  });

  test("a proposal short of quorum is defeated and cannot be queued", async () => {
    // Account 3 holds 3% of the supply; the quorum is 4%.
    const supply = await t.econReader.totalSupply();
    await t.econ(0).transfer(t.accounts[3]!.address, (supply * 3n) / 100n);
    await t.econ(3).delegateVotes(t.accounts[3]!.address);
    await t.mine(1);
    const change: ParameterChange[] = [{ parameter: "slashing.slashBps", value: 10_000 }];
    const { proposalId: id, actions: a } = await t
      .econ(3)
      .proposeParameterChanges(change, "Slash everything");
    await t.increaseTime(votingDelay + 1);
    await t.econ(3).castVote(id, VoteType.For);
    await t.increaseTime(votingPeriod + 1);
    assert.equal(await state(id), ProposalState.Defeated);
    await refused(
      () => t.econ(3).queueProposal(a, "Slash everything"),
      "GOVERNANCE_PROPOSAL_STATE",
      everything(id),
    );
    assert.equal((await params()).slashing.slashBps, 1_000);
  });

  test("with governRegistries, the attestation allowlist is governed too", async () => {
    const c = t.config.contracts;
    for (const address of [c.attestationPolicy, c.workerRegistry, c.gatekeeperRegistry]) {
      assert.equal(await read(address, stakePoolAbi, "owner"), t.economy.timelock);
    }
    const measurement = `0x${"77".repeat(32)}` as Hex;
    await refused(
      () => t.as(0).allowMeasurement(TeeType.simulated, measurement),
      "NOT_OWNER",
      () => t.reader.isMeasurementAllowed(TeeType.simulated, measurement),
    );
    const allow = {
      target: c.attestationPolicy,
      value: 0n,
      data: encodeFunctionData({
        abi: attestationPolicyAbi,
        functionName: "allowMeasurement",
        args: [TeeType.simulated, measurement],
      }),
    };
    const { proposalId: id } = await t.econ(0).propose([allow], "Allow build 77");
    await t.increaseTime(votingDelay + 1);
    await t.econ(0).castVote(id, VoteType.For);
    await t.increaseTime(votingPeriod + 1);
    await t.econ(0).queueProposal([allow], "Allow build 77");
    await t.increaseTime(timelockDelay + 1);
    await t.econ(0).executeProposal([allow], "Allow build 77");
    assert.equal(await t.reader.isMeasurementAllowed(TeeType.simulated, measurement), true);
  });

  test("with governRegistries, a key rotation is opened and aborted only through governance", async () => {
    const registry = t.config.contracts.gatekeeperRegistry;
    const gatekeeper = t.accounts[6]!.address;
    const rotation = () => new RotationClient(t.reader).current();
    await refused(() => new RotationClient(t.as(0)).open([gatekeeper]), "NOT_OWNER", rotation);
    const actions = [
      {
        target: registry,
        value: 0n,
        data: encodeFunctionData({
          abi: gatekeeperRegistryAbi,
          functionName: "addGatekeeper",
          args: [gatekeeper, `0x${"66".repeat(32)}`, "http://127.0.0.1:9"],
        }),
      },
      rotationProposalAction(registry, { open: [gatekeeper] }),
    ];
    const pass = async (list: typeof actions, description: string) => {
      const { proposalId } = await t.econ(0).propose(list, description);
      await t.increaseTime(votingDelay + 1);
      await t.econ(0).castVote(proposalId, VoteType.For);
      await t.increaseTime(votingPeriod + 1);
      await t.econ(0).queueProposal(list, description);
      await t.increaseTime(timelockDelay + 1);
      await t.econ(0).executeProposal(list, description);
    };
    await pass(actions, "Add a gatekeeper and open key rotation to epoch 1");
    const opened = await rotation();
    assert.equal(opened.state, RotationState.Open);
    assert.deepEqual(opened.elected, [gatekeeper]);
    assert.equal(await new RotationClient(t.reader).keyTrafficOpen(), false);
    await refused(() => new RotationClient(t.as(0)).abort(), "NOT_OWNER", rotation);
    await pass([rotationProposalAction(registry, "abort")], "Abort key rotation to epoch 1");
    assert.equal((await rotation()).state, RotationState.Idle);
    assert.equal(await new RotationClient(t.reader).keyTrafficOpen(), true);
  });

  test("the treasury is the timelock: only a proposal spends it", async () => {
    await t.econ(0).transfer(t.economy.treasury, V(100));
    const to = t.accounts[6]!.address;
    const pay = {
      target: t.economy.token,
      value: 0n,
      data: encodeFunctionData({ abi: veilTokenAbi, functionName: "transfer", args: [to, V(100)] }),
    };
    const { proposalId: id } = await t.econ(0).propose([pay], "Grant to account 6");
    await t.increaseTime(votingDelay + 1);
    await t.econ(0).castVote(id, VoteType.For);
    await t.increaseTime(votingPeriod + 1);
    await t.econ(0).queueProposal([pay], "Grant to account 6");
    await t.increaseTime(timelockDelay + 1);
    const before = await t.econReader.balanceOf(to);
    await t.econ(0).executeProposal([pay], "Grant to account 6");
    assert.equal(await t.econReader.balanceOf(to), before + V(100));
  });
});
