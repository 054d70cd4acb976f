import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { NetworkFile } from "../../network/config.ts";
import { VeilClient } from "../../sdk/client.ts";
import { VeilChain } from "../../sdk/contracts/registries.ts";
import { deployProbe, probeName } from "./probe-agent.ts";
import { type AuditContext, cannotRun, describeError, type Probe } from "./types.ts";

/** An audit's shared state: the attacker's clients, the probe agent, and what to undo at the end. */
export function auditContext(
  network: NetworkFile,
  key: Hex,
  progress: (m: string) => void,
): AuditContext & { cleanup(): Promise<void> } {
  const address = privateKeyToAccount(key).address;
  const chain = new VeilChain(network.chain, { account: key });
  const client = new VeilClient(network, { privateKey: key });
  const undo: { what: string; fn: () => Promise<unknown> }[] = [];
  let probe: Promise<Probe> | undefined;
  let funds: Promise<void> | undefined;

  const requireFunds = () => {
    funds ??= chain.public.getBalance({ address }).then((balance) => {
      if (balance === 0n) {
        throw cannotRun(
          `the attacker's account ${address} has no ETH for gas on chain ${network.chain.chainId}`,
          "Pass --private-key (or set VEIL_PRIVATE_KEY) of an account with a little ETH: the audit registers a worker and deploys a probe agent.",
        );
      }
    });
    return funds;
  };

  const ctx: AuditContext & { cleanup(): Promise<void> } = {
    network,
    key,
    address,
    chain,
    client,
    progress,
    requireFunds,
    onCleanup(what, fn) {
      undo.push({ what, fn });
    },
    probe() {
      probe ??= (async () => {
        if (!network.gateway) {
          throw cannotRun(
            "the network file names no gateway, and the attacks through an agent go through one",
            "Use the network.json that `veil up` wrote (it names the gateway).",
          );
        }
        await requireFunds();
        const name = probeName();
        // Paused at the end, also when it was registered but never served: it answers nobody
        // once the audit is over.
        undo.push({
          what: `pausing the probe agent ${name}`,
          fn: async () => {
            const id = await chain.agentIdOf(name);
            if (id !== 0n) await chain.pauseAgent(id);
          },
        });
        return deployProbe(client, name, progress);
      })();
      return probe;
    },
    async cleanup() {
      for (const { what, fn } of undo.reverse()) {
        progress(`cleaning up: ${what}…`);
        try {
          await fn();
        } catch (err) {
          progress(
            `cleanup failed (the network is unharmed, the leftover is the audit's own): ${describeError(err)}`,
          );
        }
      }
      undo.length = 0;
    },
  };
  const dev = network.devAccounts?.accounts.find((a) => a.address.toLowerCase() === address.toLowerCase());
  progress(`attacking as ${address}${dev ? ` (the DEV ONLY "${dev.role}" account)` : ""}`);
  return ctx;
}
