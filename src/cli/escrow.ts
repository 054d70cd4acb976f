import type { Command } from "commander";
import {
  addSignerOptions,
  economyClient,
  out,
  parseAmount,
  printTransaction,
  run,
  type SignerFlags,
} from "./economy-common.ts";
import { addressSpec } from "./signer.ts";

/**
 * `veil escrow deposit|info|sponsor|unsponsor`: prepaid fees in FeeEscrow (ADR 0006). Callers
 * prepay for the priced agents they call; owners prepay for calls they sponsor and for their
 * agents' calls to priced agents, and let the agent's key sign vouchers (`sponsor`).
 */
export function registerEscrowCommands(program: Command): void {
  const escrow = program
    .command("escrow")
    .description("prepaid fees for priced agents (FeeEscrow): deposit, balance, sponsor an agent");

  addSignerOptions(
    escrow
      .command("deposit")
      .description("prepay VEIL into the FeeEscrow for the signer (or --for another payer)")
      .argument("<amount>", "VEIL, e.g. 10 or 0.5")
      .option(
        "--for <address>",
        "the payer whose escrow receives it, or a dev account by role (default: the signer)",
      ),
  ).action(
    run(async (amount: string, opts: SignerFlags & { for?: string }) => {
      const n = await parseAmount(amount);
      const { economy, network } = await economyClient(opts);
      const payer = opts.for ? addressSpec(network, opts.for) : economy.account;
      const hash = await economy.feeEscrow.depositEscrow(n, payer);
      await printTransaction(economy, hash);
      const { formatVeil } = await import("../sdk/contracts/economy.ts");
      const a = await economy.feeEscrow.escrowAccount(payer);
      out([`escrow  ${payer} holds ${formatVeil(a.balance)} VEIL`], {
        payer,
        deposited: n,
        balance: a.balance,
      });
    }),
  );

  addSignerOptions(
    escrow
      .command("info")
      .description("show a payer's escrow: balance, withdrawal requested")
      .argument("[address]", "the payer: an address or a dev account by role (default: the signer)"),
  ).action(
    run(async (address: string | undefined, opts: SignerFlags) => {
      const { economy, network } = await economyClient(opts);
      const payer = address ? addressSpec(network, address) : economy.account;
      const { formatVeil } = await import("../sdk/contracts/economy.ts");
      const a = await economy.feeEscrow.escrowAccount(payer);
      out(
        [
          `payer      ${payer}`,
          `balance    ${formatVeil(a.balance)} VEIL`,
          `withdrawal ${a.requested === 0n ? "none requested" : `${formatVeil(a.requested)} VEIL after ${new Date(Number(a.unlockAt) * 1000).toISOString()}`}`,
        ],
        {
          payer,
          balance: a.balance,
          withdrawalRequested: a.requested,
          ...(a.requested === 0n ? {} : { unlockAt: new Date(Number(a.unlockAt) * 1000) }),
        },
      );
    }),
  );

  addSignerOptions(
    escrow
      .command("sponsor")
      .description(
        "let an agent's own key sign fee vouchers on the signer's escrow: for calls to it that the owner sponsors (`veil agent price --cap`), and with --outbound for its calls to priced agents",
      )
      .argument("<agent>", "the agent's name or id")
      .option("--outbound", "also pay for the agent's calls to other (priced) agents"),
  ).action(
    run(async (name: string, opts: SignerFlags & { outbound?: boolean }) => {
      const { economy, network } = await economyClient(opts);
      const { VeilClient } = await import("../sdk/client.ts");
      const identity = await new VeilClient(network).identity(name);
      const ANY = 2n ** 256n - 1n;
      const hash = await economy.feeEscrow.authorizeSigner(
        identity.address,
        opts.outbound ? ANY : identity.id,
      );
      await printTransaction(economy, hash);
      out(
        [
          `signer  agent #${identity.id}'s key ${identity.address} may sign vouchers on ${economy.account}'s escrow`,
          `scope   ${opts.outbound ? "any agent (its own sponsored calls and its calls to others)" : `calls to agent #${identity.id}`}`,
        ],
        {
          agent: identity.id,
          signer: identity.address,
          payer: economy.account,
          outbound: Boolean(opts.outbound),
        },
      );
    }),
  );

  addSignerOptions(
    escrow
      .command("unsponsor")
      .description("withdraw an agent key's authority to sign vouchers on the signer's escrow")
      .argument("<agent>", "the agent's name or id"),
  ).action(
    run(async (name: string, opts: SignerFlags) => {
      const { economy, network } = await economyClient(opts);
      const { VeilClient } = await import("../sdk/client.ts");
      const identity = await new VeilClient(network).identity(name);
      const hash = await economy.feeEscrow.revokeSigner(identity.address);
      await printTransaction(economy, hash);
      out([`signer  ${identity.address} may no longer sign on ${economy.account}'s escrow`], {
        agent: identity.id,
        signer: identity.address,
        payer: economy.account,
      });
    }),
  );
}
