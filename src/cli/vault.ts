import type { Command } from "commander";
import type { Hex } from "viem";
import { VeilError } from "../errors/index.ts";
import type { VeilEconomy } from "../sdk/contracts/economy.ts";
import {
  addSignerOptions,
  economyClient,
  out,
  parseAddress,
  parseAmount,
  parseId,
  parsePercent,
  printTransaction,
  run,
  type SignerFlags,
} from "./economy-common.ts";
import { progress } from "./output.ts";

/** `veil vault create|info|invest|withdraw`: vaults that spread their holders' VEIL over pools. */
export function registerVaultCommands(program: Command): void {
  const vault = program
    .command("vault")
    .description(
      "vaults: holders deposit VEIL, the vault's owner invests it across stake pools for a commission on gains",
    );

  addSignerOptions(
    vault
      .command("create")
      .description("create a vault owned by the signer; prints its address")
      .requiredOption("--commission <percent>", "the owner's cut of gains, 0–100 (e.g. 10)"),
  ).action(
    run(async (opts: SignerFlags & { commission: string }) => {
      const bps = parsePercent(opts.commission);
      const { economy } = await economyClient(opts);
      const created = await economy.vaults.createVault(bps);
      await printTransaction(economy, created.hash);
      const number =
        (await economy.vaults.listVaults()).findIndex(
          (a) => a.toLowerCase() === created.vault.toLowerCase(),
        ) + 1;
      out(
        [`vault   #${number} ${created.vault} created, owner ${economy.account}, commission ${bps / 100}%`],
        {
          vault: number,
          address: created.vault,
          owner: economy.account,
          commissionBps: bps,
        },
      );
    }),
  );

  addSignerOptions(
    vault
      .command("info")
      .description("show a vault: owner, commission, assets, shares, pools, queue, and the signer's position")
      .argument("<vault>", "vault number (as `vault create` printed it) or address"),
  ).action(
    run(async (address: string, opts: SignerFlags) => {
      const { economy } = await economyClient(opts);
      const v = await vaultAddress(economy, address);
      const { formatVeil } = await import("../sdk/contracts/economy.ts");
      const [record, position] = await Promise.all([
        economy.vaults.getVault(v),
        economy.vaults.vaultPosition(v, economy.account),
      ]);
      out(
        [
          `vault         ${v}`,
          `owner         ${record.owner}`,
          `commission    ${record.commissionBps / 100}%`,
          `total assets  ${formatVeil(record.totalAssets)} VEIL`,
          `total shares  ${formatVeil(record.totalShares)}`,
          `pools         ${record.pools.length ? record.pools.map((p) => `#${p}`).join(", ") : "none"}`,
          `queue         ${record.queueLength} withdrawal(s) waiting`,
          `you (${economy.account})  ${formatVeil(position.shares)} shares worth ${formatVeil(position.value)} VEIL, ${formatVeil(position.queued)} queued`,
        ],
        { vault: v, ...record, you: { account: economy.account, ...position } },
      );
    }),
  );

  addSignerOptions(
    vault
      .command("invest")
      .description(
        "deposit VEIL into a vault for shares; with --pool, the vault's owner invests the vault's idle VEIL in that stake pool",
      )
      .argument("<vault>", "vault number (as `vault create` printed it) or address")
      .argument("<amount>", "VEIL in token units, e.g. 1000 or 2.5")
      .option(
        "--pool <id>",
        "owner only: put this much of the vault's VEIL in this stake pool, depositing what the vault lacks first",
      ),
  ).action(
    run(async (address: string, amount: string, opts: SignerFlags & { pool?: string }) => {
      const value = await parseAmount(amount);
      const poolId = opts.pool === undefined ? undefined : parseId(opts.pool, "pool id");
      const { economy } = await economyClient(opts);
      const v = await vaultAddress(economy, address);
      const { formatVeil } = await import("../sdk/contracts/economy.ts");
      if (poolId !== undefined) {
        // One step as it reads: what the vault does not hold idle yet is deposited first (by
        // its owner only, so that nobody else's deposit is left behind by a refused delegation).
        const { owner } = await economy.vaults.getVault(v);
        if (owner.toLowerCase() !== economy.account?.toLowerCase())
          throw new VeilError("NOT_VAULT_OWNER", `Only the vault's owner ${owner} puts its VEIL in pools`, {
            hint: "Without --pool, `vault invest` deposits your VEIL into the vault for shares.",
          });
        const idle = await economy.token.balanceOf(v);
        if (idle < value) {
          progress(
            `vault ${v} holds ${formatVeil(idle)} VEIL idle; depositing the other ${formatVeil(value - idle)} VEIL first`,
          );
          await printTransaction(economy, await economy.vaults.vaultDeposit(v, value - idle));
        }
        const hash = await economy.vaults.vaultDelegate(v, poolId, value);
        await printTransaction(economy, hash);
        const position = await economy.pools.poolPosition(poolId, v);
        out(
          [
            `vault   holds ${formatVeil(position.shares)} shares worth ${formatVeil(position.value)} VEIL in pool #${poolId}`,
          ],
          { vault: v, pool: poolId, invested: value, position },
        );
        return;
      }
      const hash = await economy.vaults.vaultDeposit(v, value);
      await printTransaction(economy, hash);
      const position = await economy.vaults.vaultPosition(v, economy.account);
      out(
        [
          `you     ${formatVeil(position.shares)} shares worth ${formatVeil(position.value)} VEIL in vault ${v}`,
        ],
        {
          vault: v,
          deposited: value,
          you: { account: economy.account, ...position },
        },
      );
    }),
  );

  addSignerOptions(
    vault
      .command("withdraw")
      .description(
        "withdraw shares from a vault: paid from its idle VEIL, else queued until its owner frees stake",
      )
      .argument("<vault>", "vault number (as `vault create` printed it) or address")
      .argument("<shares>", "shares in token units (vault info shows yours)"),
  ).action(
    run(async (address: string, shares: string, opts: SignerFlags) => {
      const value = await parseAmount(shares, "number of shares");
      const { economy } = await economyClient(opts);
      const v = await vaultAddress(economy, address);
      const { formatVeil } = await import("../sdk/contracts/economy.ts");
      const hash = await economy.vaults.vaultWithdraw(v, value);
      await printTransaction(economy, hash);
      const [position, balance] = await Promise.all([
        economy.vaults.vaultPosition(v, economy.account),
        economy.token.balanceOf(economy.account),
      ]);
      out(
        [
          `you     ${formatVeil(position.shares)} shares left, ${formatVeil(position.queued)} queued; balance ${formatVeil(balance)} VEIL`,
        ],
        { vault: v, withdrawnShares: value, you: { account: economy.account, ...position, balance } },
      );
    }),
  );
}

/** A vault named by its number in the factory's list (1 is the first created) or its address. */
async function vaultAddress(economy: VeilEconomy, spec: string): Promise<Hex> {
  if (/^\d+$/.test(spec)) {
    const vaults = await economy.vaults.listVaults();
    const v = vaults[Number(spec) - 1];
    if (!v)
      throw new VeilError("VAULT_NOT_FOUND", `There is no vault #${spec} (${vaults.length} exist)`, {
        hint: "Create one with `veil vault create --commission 5`, or give a vault's address.",
      });
    return v;
  }
  return parseAddress(spec, "vault");
}
