// Every contract's ABI (generated into src/chain/abi.ts by `npm run contracts:abi`), `as const`
// so that viem types calls made with them. Browser-safe.
import {
  feeEscrowAbi,
  rewardsAbi,
  stakePoolAbi,
  vaultAbi,
  vaultFactoryAbi,
  veilGovernorAbi,
  veilTimelockAbi,
  veilTokenAbi,
} from "../../chain/abi.ts";

export * from "../../chain/abi.ts";

/**
 * The economy's contracts' ABIs together, to decode any event a transaction of the economy emits.
 *
 * @example
 * const receipt = await publicClient.getTransactionReceipt({ hash });
 * const events = parseEventLogs({ abi: economyEventsAbi, logs: receipt.logs });
 */
export const economyEventsAbi = [
  ...veilTokenAbi,
  ...stakePoolAbi,
  ...rewardsAbi,
  ...feeEscrowAbi,
  ...vaultAbi,
  ...vaultFactoryAbi,
  ...veilGovernorAbi,
  ...veilTimelockAbi,
] as const;
