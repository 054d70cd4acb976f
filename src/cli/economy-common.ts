import { type Command, Option } from "commander";
import type { Hex } from "viem";
import { VeilError } from "../errors/index.ts";
import { loadNetwork, type NetworkFile } from "../network/config.ts";
import type { VeilEconomy as VeilEconomyType } from "../sdk/contracts/economy.ts";
import { fail, out } from "./output.ts";

export { out };

import { fromOption, privateKeyOption, resolveSigner } from "./signer.ts";

/** Options every economy command takes: which network, and who signs. */
export type SignerFlags = { network?: string; from?: string; privateKey?: string };

export function addSignerOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        "--network <file>",
        "network.json to use (default: $VEIL_NETWORK, then ./.veil/network.json)",
      ),
    )
    .addOption(fromOption())
    .addOption(privateKeyOption());
}

/** The economy client of the network in `flags`, signing as the chosen account (viem loads on use). */
export async function economyClient(
  flags: SignerFlags,
  options: { readOnly?: boolean } = {},
): Promise<{ economy: VeilEconomyType; network: NetworkFile }> {
  const network = loadNetwork(flags.network);
  const addresses = network.chain.economy;
  if (!addresses) {
    throw new VeilError("NO_ECONOMY", "This network has no economy deployed", {
      hint: "Restart it with `veil up` (which deploys the economy), or use a network.json that lists chain.economy.",
    });
  }
  const { VeilEconomy } = await import("../sdk/contracts/economy.ts");
  const economy = new VeilEconomy(
    { ...network.chain, economy: addresses },
    { ...(options.readOnly ? {} : { account: resolveSigner(network, flags) }), pollingIntervalMs: 50 },
  );
  return { economy, network };
}

/** "12.5" (percent) → 1250 basis points. The contracts refuse more than 100%. */
export function parsePercent(value: string): number {
  if (!/^\d+(\.\d{1,2})?$/.test(value) || Number(value) > 655) {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not a percentage`, {
      hint: "Give a commission like 10 or 12.5 (percent, at most two decimals).",
    });
  }
  return Math.round(Number(value) * 100);
}

/** A VEIL amount in token units ("1.5"), checked. */
export async function parseAmount(value: string, what = "amount"): Promise<bigint> {
  const { parseVeil } = await import("../sdk/contracts/economy.ts");
  try {
    const amount = parseVeil(value);
    if (amount === 0n) throw new Error("zero");
    return amount;
  } catch {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not a valid ${what}`, {
      hint: "Give a positive number of VEIL in token units, e.g. 1000 or 2.5 (up to 18 decimals).",
    });
  }
}

export function parseId(value: string, what: string): bigint {
  if (!/^\d+$/.test(value) || value === "0") {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not a ${what}`, {
      hint: `A ${what} is a whole number from 1.`,
    });
  }
  return BigInt(value);
}

export function parseAddress(value: string, what: string): Hex {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not an address (${what})`, {
      hint: "Give a 0x-prefixed 20-byte hex address.",
    });
  }
  return value as Hex;
}

const show = (v: unknown): string => {
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) return `[${v.map(show).join(", ")}]`;
  return String(v);
};

/** Prints a transaction: its hash, block, gas, and every economy event it emitted, decoded. */
export async function printTransaction(economy: VeilEconomyType, hash: Hex): Promise<void> {
  const { parseEventLogs } = await import("viem");
  const { economyEventsAbi } = await import("../sdk/contracts/abi.ts");
  const receipt = await economy.public.getTransactionReceipt({ hash });
  const events = parseEventLogs({
    abi: economyEventsAbi,
    logs: receipt.logs,
  });
  const lines = [`tx      ${hash} (block ${receipt.blockNumber}, gas ${receipt.gasUsed})`];
  const shown: { name: string; args: Record<string, unknown> }[] = [];
  for (const e of events) {
    // Approvals and transfers are the plumbing of the call; show what it did.
    if (e.eventName === "Approval" || e.eventName === "DelegateVotesChanged") continue;
    const args = (e.args ?? {}) as Record<string, unknown>;
    shown.push({ name: e.eventName, args });
    lines.push(
      `event   ${e.eventName}(${Object.entries(args)
        .map(([k, v]) => `${k}=${show(v)}`)
        .join(" ")})`,
    );
  }
  out(lines, {
    transactions: [{ hash, block: receipt.blockNumber, gasUsed: receipt.gasUsed, events: shown }],
  });
}

/** Runs a command's body; every error prints as code, message and hint (exit 1). */
export function run<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      fail(err);
    }
  };
}
