import { encodeFunctionData, type Hex } from "viem";
import {
  feeEscrowAbi,
  rewardsAbi,
  slashingAbi,
  stakePoolAbi,
  vaultFactoryAbi,
  veilTokenAbi,
} from "../abi.ts";
import type { EconomyAddresses } from "../economy-deploy.ts";
import { type CheckedCall, checkedCall, EconomyContractClient } from "./base.ts";

/** A call the governor runs through the timelock. */
export type ProposalAction = { target: Hex; value: bigint; data: Hex };

/** Every governance parameter of the economy, as one value each. */
export type EconomyParameters = {
  stakePool: { coolDown: bigint; maxQueueWait: bigint; minContribution: bigint };
  rewards: {
    rewardPerSecond: bigint;
    treasuryBps: number;
    challengeTarget: bigint;
    challengeWindow: bigint;
    minStake: bigint;
    valueGrowthBpsPerDay: number;
    maxValueBps: number;
    valueDecayBpsPerDay: number;
    maxPerformance: bigint;
    confidenceBps: number[];
  };
  feeEscrow: { treasuryBps: number; withdrawDelay: bigint };
  slashing: { slashBps: number; reporterBps: number };
  vaultFactory: { maxQueueWait: bigint };
};

/** One parameter change, as the owner (the timelock, or a dev governance account) makes it. */
export type ParameterChange =
  | { parameter: "stakePool.coolDown"; value: bigint }
  | { parameter: "stakePool.maxQueueWait"; value: bigint }
  | { parameter: "stakePool.minContribution"; value: bigint }
  | { parameter: "rewards.rewardPerSecond"; value: bigint }
  | { parameter: "rewards.treasuryBps"; value: number }
  | { parameter: "rewards.challengeTarget"; value: bigint }
  | { parameter: "rewards.challengeWindow"; value: bigint }
  | { parameter: "rewards.minStake"; value: bigint }
  | {
      parameter: "rewards.valueParameters";
      value: { growthBpsPerDay: number; maxBps: number; decayBpsPerDay: number };
    }
  | { parameter: "rewards.maxPerformance"; value: bigint }
  | { parameter: "rewards.confidenceBps"; value: readonly [number, number, number, number, number] }
  | { parameter: "rewards.treasury"; value: Hex }
  | { parameter: "feeEscrow.treasuryBps"; value: number }
  | { parameter: "feeEscrow.withdrawDelay"; value: bigint }
  | { parameter: "feeEscrow.treasury"; value: Hex }
  | { parameter: "slashing.slashBps"; value: number }
  | { parameter: "slashing.reporterBps"; value: number }
  | { parameter: "slashing.treasury"; value: Hex }
  | { parameter: "vaultFactory.maxQueueWait"; value: bigint }
  | { parameter: "token.minter"; value: Hex };

/**
 * The contract call that makes `change`, each checked against its contract's ABI.
 *
 * @example
 * const call = parameterChangeCall(economy.addresses, { parameter: "slashing.slashBps", value: 2000 });
 */
export function parameterChangeCall(a: EconomyAddresses, change: ParameterChange): CheckedCall {
  switch (change.parameter) {
    case "stakePool.coolDown":
      return checkedCall(a.stakePool, stakePoolAbi, "setCoolDown", [change.value]);
    case "stakePool.maxQueueWait":
      return checkedCall(a.stakePool, stakePoolAbi, "setMaxQueueWait", [change.value]);
    case "stakePool.minContribution":
      return checkedCall(a.stakePool, stakePoolAbi, "setMinContribution", [change.value]);
    case "rewards.rewardPerSecond":
      return checkedCall(a.rewards, rewardsAbi, "setRewardPerSecond", [change.value]);
    case "rewards.treasuryBps":
      return checkedCall(a.rewards, rewardsAbi, "setTreasuryBps", [change.value]);
    case "rewards.challengeTarget":
      return checkedCall(a.rewards, rewardsAbi, "setChallengeTarget", [change.value]);
    case "rewards.challengeWindow":
      return checkedCall(a.rewards, rewardsAbi, "setChallengeWindow", [change.value]);
    case "rewards.minStake":
      return checkedCall(a.rewards, rewardsAbi, "setMinStake", [change.value]);
    case "rewards.valueParameters":
      return checkedCall(a.rewards, rewardsAbi, "setValueParameters", [
        change.value.growthBpsPerDay,
        change.value.maxBps,
        change.value.decayBpsPerDay,
      ]);
    case "rewards.maxPerformance":
      return checkedCall(a.rewards, rewardsAbi, "setMaxPerformance", [change.value]);
    case "rewards.confidenceBps":
      return checkedCall(a.rewards, rewardsAbi, "setConfidenceBps", [change.value]);
    case "rewards.treasury":
      return checkedCall(a.rewards, rewardsAbi, "setTreasury", [change.value]);
    case "feeEscrow.treasuryBps":
      return checkedCall(a.feeEscrow, feeEscrowAbi, "setTreasuryBps", [change.value]);
    case "feeEscrow.withdrawDelay":
      return checkedCall(a.feeEscrow, feeEscrowAbi, "setWithdrawDelay", [change.value]);
    case "feeEscrow.treasury":
      return checkedCall(a.feeEscrow, feeEscrowAbi, "setTreasury", [change.value]);
    case "slashing.slashBps":
      return checkedCall(a.slashing, slashingAbi, "setSlashBps", [change.value]);
    case "slashing.reporterBps":
      return checkedCall(a.slashing, slashingAbi, "setReporterBps", [change.value]);
    case "slashing.treasury":
      return checkedCall(a.slashing, slashingAbi, "setTreasury", [change.value]);
    case "vaultFactory.maxQueueWait":
      return checkedCall(a.vaultFactory, vaultFactoryAbi, "setMaxQueueWait", [change.value]);
    case "token.minter":
      return checkedCall(a.token, veilTokenAbi, "setMinter", [change.value]);
  }
}

/**
 * The call that makes `change`, as a governor proposal action.
 *
 * @example
 * const action = encodeParameterChange(economy.addresses, { parameter: "feeEscrow.withdrawDelay", value: 3600n });
 */
export function encodeParameterChange(addresses: EconomyAddresses, change: ParameterChange): ProposalAction {
  const { address, abi, functionName, args } = parameterChangeCall(addresses, change);
  return { target: address, value: 0n, data: encodeFunctionData({ abi, functionName, args }) };
}

/**
 * The economy's governance parameters: read them all, or set one as its owner. GovernanceClient
 * (`economy.governance`) extends it.
 *
 * @example
 * const { slashing } = await economy.governance.parameters();
 */
export class ParametersClient extends EconomyContractClient {
  /**
   * Every parameter, read now.
   *
   * @example
   * const { rewards } = await economy.governance.parameters();
   * console.log(rewards.rewardPerSecond, rewards.confidenceBps);
   */
  async parameters(): Promise<EconomyParameters> {
    const { stakePool, rewards, feeEscrow, slashing, vaultFactory } = this.addresses;
    const pool = { address: stakePool, abi: stakePoolAbi } as const;
    const rw = { address: rewards, abi: rewardsAbi } as const;
    const fe = { address: feeEscrow, abi: feeEscrowAbi } as const;
    const sl = { address: slashing, abi: slashingAbi } as const;
    const read = this.public;
    return this.read("read the economy's parameters", async () => {
      const [
        coolDown,
        maxQueueWait,
        minContribution,
        rewardPerSecond,
        treasuryBps,
        challengeTarget,
        challengeWindow,
        minStake,
        valueGrowthBpsPerDay,
        maxValueBps,
        valueDecayBpsPerDay,
        maxPerformance,
        feeTreasuryBps,
        withdrawDelay,
        slashBps,
        reporterBps,
        vaultMaxQueueWait,
      ] = await Promise.all([
        read.readContract({ ...pool, functionName: "coolDown" }),
        read.readContract({ ...pool, functionName: "maxQueueWait" }),
        read.readContract({ ...pool, functionName: "minContribution" }),
        read.readContract({ ...rw, functionName: "rewardPerSecond" }),
        read.readContract({ ...rw, functionName: "treasuryBps" }),
        read.readContract({ ...rw, functionName: "challengeTarget" }),
        read.readContract({ ...rw, functionName: "challengeWindow" }),
        read.readContract({ ...rw, functionName: "minStake" }),
        read.readContract({ ...rw, functionName: "valueGrowthBpsPerDay" }),
        read.readContract({ ...rw, functionName: "maxValueBps" }),
        read.readContract({ ...rw, functionName: "valueDecayBpsPerDay" }),
        read.readContract({ ...rw, functionName: "maxPerformance" }),
        read.readContract({ ...fe, functionName: "treasuryBps" }),
        read.readContract({ ...fe, functionName: "withdrawDelay" }),
        read.readContract({ ...sl, functionName: "slashBps" }),
        read.readContract({ ...sl, functionName: "reporterBps" }),
        read.readContract({ address: vaultFactory, abi: vaultFactoryAbi, functionName: "maxQueueWait" }),
      ]);
      const confidenceBps = await Promise.all(
        [0n, 1n, 2n, 3n, 4n].map((i) =>
          read.readContract({ ...rw, functionName: "confidenceBps", args: [i] }),
        ),
      );
      return {
        stakePool: { coolDown, maxQueueWait, minContribution },
        rewards: {
          rewardPerSecond,
          treasuryBps,
          challengeTarget,
          challengeWindow,
          minStake,
          valueGrowthBpsPerDay,
          maxValueBps,
          valueDecayBpsPerDay,
          maxPerformance,
          confidenceBps,
        },
        feeEscrow: { treasuryBps: feeTreasuryBps, withdrawDelay },
        slashing: { slashBps, reporterBps },
        vaultFactory: { maxQueueWait: vaultMaxQueueWait },
      };
    });
  }

  /**
   * Makes `change` directly. Only the owner may: a dev governance account; on a network governed
   * by the timelock, use GovernanceClient.proposeParameterChanges.
   *
   * @example
   * await economy.governance.setParameter({ parameter: "stakePool.coolDown", value: 600n });
   */
  async setParameter(change: ParameterChange): Promise<Hex> {
    const { hash } = await this.sendChecked(
      `set ${change.parameter}`,
      parameterChangeCall(this.addresses, change),
    );
    return hash;
  }
}
