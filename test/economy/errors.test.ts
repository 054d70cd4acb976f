import assert from "node:assert/strict";
import { test } from "node:test";
import {
  feeEscrowAbi,
  rewardsAbi,
  slashingAbi,
  stakePoolAbi,
  vaultAbi,
  vaultFactoryAbi,
  veilGovernorAbi,
  veilTimelockAbi,
  veilTokenAbi,
} from "../../src/chain/abi.ts";
import { revertInfo } from "../../src/chain/errors.ts";

const ECONOMY: readonly (readonly { type: string; name?: string }[])[] = [
  veilTokenAbi,
  stakePoolAbi,
  rewardsAbi,
  feeEscrowAbi,
  slashingAbi,
  vaultAbi,
  vaultFactoryAbi,
  veilGovernorAbi,
  veilTimelockAbi,
];

/** OpenZeppelin internals no call through the client can reach, with why. */
const UNREACHABLE: Record<string, string> = {
  CheckpointUnorderedInsertion: "vote checkpoints are written in clock order by the token itself",
  InvalidShortString: "EIP-712 names are fixed at deployment",
  StringTooLong: "EIP-712 names are fixed at deployment",
  NotInitializing: "no initializer calls another",
  FailedDeployment: "Clones.clone of a valid implementation",
  InsufficientBalance: "no contract sends ether",
  ERC6372InconsistentClock: "the governor and the token share one clock by construction",
  FailedCall:
    "a timelock operation whose call reverts without data (a bad proposal), surfaced as its target's error",
  GovernorDisabledDeposit: "ether sent to the governor",
  GovernorInvalidVoteParams: "simple counting takes no vote params",
  GovernorProposalQueueingFailed: "the timelock always queues",
  GovernorProposalQueueingNotRequired: "every proposal goes through the timelock",
  AccessControlBadConfirmation: "renouncing a timelock role for another account",
  TimelockInvalidOperationLength: "the governor builds timelock batches from a checked proposal",
};

test("every economy refusal maps to a Veil error code with a hint (or is an unreachable internal)", () => {
  const names = new Set<string>();
  for (const abi of ECONOMY) {
    for (const item of abi) {
      if (item.type === "error" && item.name) names.add(item.name);
    }
  }
  assert.ok(names.size > 60, `${names.size} errors`);
  const unmapped = [...names].filter((n) => !revertInfo(n) && !(n in UNREACHABLE));
  assert.deepEqual(unmapped, [], "map these in src/chain/errors.ts");
  for (const name of names) {
    const info = revertInfo(name);
    if (!info) continue;
    assert.match(info.code, /^[A-Z][A-Z0-9_]+$/, `${name}: code`);
    assert.ok(info.hint.length > 20, `${name}: a hint that says what to do`);
    assert.ok(info.status >= 400 && info.status < 600, `${name}: status`);
  }
  for (const name of Object.keys(UNREACHABLE)) assert.ok(names.has(name), `${name} is still in an ABI`);
});

test("each contract's own errors are mapped, none left to a generic CHAIN_REVERTED", () => {
  const own = [
    "NotMinter",
    "EmissionCapExceeded",
    "PoolNotFound",
    "WorkerBusy",
    "CoolDownNotOver",
    "NotChallenged",
    "ChallengeWindowClosed",
    "VoucherAlreadyClaimed",
    "BadVoucherSignature",
    "FaultAlreadyReported",
    "HeartbeatNotAFault",
    "NotVaultOwner",
    "TooManyPools",
  ];
  for (const name of own) assert.ok(revertInfo(name), name);
});
