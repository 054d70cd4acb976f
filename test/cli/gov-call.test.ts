import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { decodeFunctionData, type Hex } from "viem";
import { attestationPolicyAbi, gatekeeperRegistryAbi } from "../../src/chain/abi.ts";
import { VoteType } from "../../src/chain/economy-client.ts";
import { DEFAULT_GOVERNANCE } from "../../src/chain/economy-deploy.ts";
import { type CallableContract, callableContracts, parseCall } from "../../src/cli/gov-call.ts";
import { VeilError } from "../../src/errors/index.ts";
import type { NetworkFile } from "../../src/network/config.ts";
import { type EconomyTestChain, startEconomyChain } from "../helpers/economy.ts";

const POLICY = "0x00000000000000000000000000000000000000a1" as Hex;
const GATEKEEPERS = "0x00000000000000000000000000000000000000a2" as Hex;
const offline: Record<string, CallableContract> = {
  attestationPolicy: { address: POLICY, abi: attestationPolicyAbi },
  gatekeeperRegistry: { address: GATEKEEPERS, abi: gatekeeperRegistryAbi },
};

function refusedAs(spec: string, pattern: RegExp): void {
  assert.throws(
    () => parseCall(spec, offline),
    (err: unknown) => {
      assert.ok(err instanceof VeilError, String(err));
      assert.equal(err.code, "BAD_ARGUMENT");
      assert.match(`${err.message} ${err.hint}`, pattern);
      return true;
    },
  );
}

describe("veil gov propose --call: parsing", () => {
  test("arguments are typed by the ABI: numbers, bytes32, lists of addresses, strings, booleans", () => {
    const measurement = `0x${"ab".repeat(32)}`;
    const allow = parseCall(`attestationPolicy.allowMeasurement(2, ${measurement})`, offline);
    assert.equal(allow.target, POLICY);
    assert.equal(allow.value, 0n);
    const d1 = decodeFunctionData({ abi: attestationPolicyAbi, data: allow.data });
    assert.equal(d1.functionName, "allowMeasurement");
    assert.deepEqual(d1.args, [2, measurement]);

    const a = "0x1111111111111111111111111111111111111111";
    const b = "0x2222222222222222222222222222222222222222";
    const open = parseCall(`gatekeeperRegistry.openRotation([${a}, ${b}])`, offline);
    const d2 = decodeFunctionData({ abi: gatekeeperRegistryAbi, data: open.data });
    assert.deepEqual(d2.args, [[a, b]]);

    const advisory = parseCall(
      'attestationPolicy.setAdvisoryAllowed("INTEL-SA-00615, rev 2", true)',
      offline,
    );
    const d3 = decodeFunctionData({ abi: attestationPolicyAbi, data: advisory.data });
    assert.deepEqual(d3.args, ["INTEL-SA-00615, rev 2", true]);
  });

  test("what does not fit is refused with the function's signature as the hint", () => {
    refusedAs("attestationPolicy.setParameters(3600, 600)", /takes 3 arguments, not 2/);
    refusedAs(
      "attestationPolicy.setParameters(1h, 600, 2)",
      /must be a whole number.*setParameters\(uint64/s,
    );
    refusedAs("attestationPolicy.setParameters(3600, 600, 300)", /do not fit/);
    refusedAs("attestationPolicy.allowMeasurement(2, 0x1234)", /32 bytes/);
    refusedAs("gatekeeperRegistry.openRotation(0x1111111111111111111111111111111111111111)", /a list/);
    refusedAs("gatekeeperRegistry.openRotation([0x12])", /an address/);
    refusedAs("attestationPolicy.setAdvisoryAllowed(X, yes)", /true or false/);
    refusedAs("attestationPolicy.isAllowed(2, 0x00)", /no function "isAllowed" that changes state/);
    refusedAs("treasury.drain()", /no contract "treasury".*attestationPolicy, gatekeeperRegistry/s);
    refusedAs("attestationPolicy.setParameters(1, [2, 3)", /Unbalanced/);
    refusedAs("not a call", /is not a call/);
  });
});

describe("veil gov propose --call: through governance", () => {
  let t: EconomyTestChain;
  const { votingDelay, votingPeriod, timelockDelay } = DEFAULT_GOVERNANCE;

  before(async () => {
    t = await startEconomyChain({ timelock: true, governRegistries: true });
    await t.econ(0).delegateVotes(t.accounts[0]!.address);
    await t.mine(1);
  });
  after(async () => {
    await t?.close();
  });

  test("a proposal of calls changes the attestation policy that the deployer no longer can", async () => {
    const network = { chain: { ...t.config, economy: t.economy } } as unknown as NetworkFile;
    const contracts = callableContracts(network);
    assert.equal(contracts.attestationPolicy?.address, t.config.contracts.attestationPolicy);
    assert.equal(contracts.feeEscrow?.address, t.economy.feeEscrow);
    const measurement = `0x${"5a".repeat(32)}` as Hex;
    const actions = [
      parseCall("attestationPolicy.setParameters(7200, 900, 3)", contracts),
      parseCall(`attestationPolicy.allowMeasurement(0, ${measurement})`, contracts),
    ];
    const read = (functionName: string) =>
      t.reader.public.readContract({
        address: t.config.contracts.attestationPolicy,
        abi: attestationPolicyAbi,
        functionName,
      } as never) as Promise<unknown>;
    await assert.rejects(t.as(0).allowMeasurement(0, measurement), (err: unknown) => {
      assert.ok(err instanceof VeilError && err.code === "NOT_OWNER", String(err));
      return true;
    });
    const description = "Tighten evidence age; allow build 5a";
    const { proposalId } = await t.econ(0).propose(actions, description);
    await t.increaseTime(votingDelay + 1);
    await t.econ(0).castVote(proposalId, VoteType.For);
    await t.increaseTime(votingPeriod + 1);
    await t.econ(0).queueProposal(actions, description);
    assert.equal(await read("maxEvidenceAge"), 86_400n, "nothing changes before execution");
    await t.increaseTime(timelockDelay + 1);
    await t.econ(0).executeProposal(actions, description);
    assert.equal(await read("maxEvidenceAge"), 7_200n);
    assert.equal(await read("reattestPeriod"), 900n);
    assert.equal(await read("minConfidence"), 3);
    assert.equal(await t.reader.isMeasurementAllowed(0, measurement), true);
  });
});
