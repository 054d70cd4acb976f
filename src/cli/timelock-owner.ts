import type { Hex } from "viem";
import type { NetworkFile } from "../network/config.ts";
import type { VeilEconomy } from "../sdk/contracts/economy.ts";
import { callableContracts } from "./gov-call.ts";
import { warn } from "./output.ts";

/**
 * A proposal runs its calls as the timelock: a call to a contract the timelock does not own
 * passes the vote and then fails at execute with NOT_OWNER. Say so when it is proposed.
 * Contracts without an owner (the governor, the timelock) are not checked.
 */
export async function warnUnlessTimelockOwns(
  economy: VeilEconomy,
  network: NetworkFile,
  targets: readonly Hex[],
): Promise<void> {
  const timelock = economy.addresses.timelock.toLowerCase();
  const names = Object.entries(callableContracts(network));
  for (const target of new Set(targets.map((t) => t.toLowerCase()))) {
    const owner = await economy.governance.ownerOf(target as Hex);
    if (owner === undefined || owner.toLowerCase() === timelock) continue;
    const name = names.find(([, c]) => c.address.toLowerCase() === target)?.[0] ?? target;
    warn(
      `${name} is owned by ${owner}, not by the timelock: this proposal can pass the vote and will then fail at execute with NOT_OWNER`,
      network.devAccounts
        ? "On a dev network, `veil up --fresh --governed` gives the registries to the timelock."
        : `Its owner must hand it to the timelock (${economy.addresses.timelock}) first.`,
    );
  }
}
