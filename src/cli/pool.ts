import type { Command } from "commander";
import {
  addSignerOptions,
  economyClient,
  out,
  parseAmount,
  parseId,
  parsePercent,
  printTransaction,
  run,
  type SignerFlags,
} from "./economy-common.ts";

/** `veil pool create|info|contribute|withdraw`: stake pools (contracts/economy/StakePool.sol). */
export function registerPoolCommands(program: Command): void {
  const pool = program
    .command("pool")
    .description("stake pools: an owner's workers mine with the stake delegators contribute (VEIL)");

  addSignerOptions(
    pool
      .command("create")
      .description("create a stake pool owned by the signer; prints its id")
      .requiredOption("--commission <percent>", "the owner's cut of rewards, 0–100 (e.g. 12.5)"),
  ).action(
    run(async (opts: SignerFlags & { commission: string }) => {
      const bps = parsePercent(opts.commission);
      const { economy } = await economyClient(opts);
      const { poolId, hash } = await economy.pools.createPool(bps);
      await printTransaction(economy, hash);
      out([`pool    #${poolId} created, owner ${economy.account}, commission ${bps / 100}%`], {
        pool: poolId,
        owner: economy.account,
        commissionBps: bps,
      });
    }),
  );

  addSignerOptions(
    pool
      .command("info")
      .description(
        "show a pool: owner, commission, stake (total, free), shares, queue, and the signer's position",
      )
      .argument("<pool>", "pool id"),
  ).action(
    run(async (id: string, opts: SignerFlags) => {
      const poolId = parseId(id, "pool id");
      const { economy } = await economyClient(opts);
      const { formatVeil } = await import("../sdk/contracts/economy.ts");
      const p = await economy.pools.getPool(poolId);
      const [position, queue] = await Promise.all([
        economy.pools.poolPosition(poolId, economy.account),
        economy.pools.poolQueue(poolId),
      ]);
      out(
        [
          `pool          #${poolId}`,
          `owner         ${p.owner}`,
          `commission    ${p.commissionBps / 100}%`,
          `total stake   ${formatVeil(p.totalStake)} VEIL (${formatVeil(p.freeStake)} free, the rest assigned to workers)`,
          `total shares  ${formatVeil(p.totalShares)}`,
          `owner rewards ${formatVeil(p.ownerRewards)} VEIL`,
          `queue         ${queue.length} withdrawal(s) waiting`,
          `you (${economy.account})  ${formatVeil(position.shares)} shares worth ${formatVeil(position.value)} VEIL, ${formatVeil(position.queued)} queued`,
        ],
        {
          pool: poolId,
          ...p,
          queuedWithdrawals: queue.length,
          you: { account: economy.account, ...position },
        },
      );
    }),
  );

  addSignerOptions(
    pool
      .command("contribute")
      .description("contribute VEIL to a pool for shares (approves the pool contract first if needed)")
      .argument("<pool>", "pool id")
      .argument("<amount>", "VEIL in token units, e.g. 1000 or 2.5"),
  ).action(
    run(async (id: string, amount: string, opts: SignerFlags) => {
      const poolId = parseId(id, "pool id");
      const value = await parseAmount(amount);
      const { economy } = await economyClient(opts);
      const { formatVeil } = await import("../sdk/contracts/economy.ts");
      const hash = await economy.pools.contribute(poolId, value);
      await printTransaction(economy, hash);
      const position = await economy.pools.poolPosition(poolId, economy.account);
      out(
        [
          `you     ${formatVeil(position.shares)} shares worth ${formatVeil(position.value)} VEIL in pool #${poolId}`,
        ],
        { pool: poolId, contributed: value, you: { account: economy.account, ...position } },
      );
    }),
  );

  addSignerOptions(
    pool
      .command("withdraw")
      .description(
        "withdraw shares from a pool: paid at once from free stake, else queued until stake frees up (workers stopped and cooled down)",
      )
      .argument("<pool>", "pool id")
      .argument("<shares>", "shares in token units (pool info shows yours)"),
  ).action(
    run(async (id: string, shares: string, opts: SignerFlags) => {
      const poolId = parseId(id, "pool id");
      const value = await parseAmount(shares, "number of shares");
      const { economy } = await economyClient(opts);
      const { formatVeil } = await import("../sdk/contracts/economy.ts");
      const hash = await economy.pools.withdrawFromPool(poolId, value);
      await printTransaction(economy, hash);
      const [position, balance] = await Promise.all([
        economy.pools.poolPosition(poolId, economy.account),
        economy.token.balanceOf(economy.account),
      ]);
      out(
        [
          `you     ${formatVeil(position.shares)} shares left, ${formatVeil(position.queued)} queued; balance ${formatVeil(balance)} VEIL`,
        ],
        { pool: poolId, withdrawnShares: value, you: { account: economy.account, ...position, balance } },
      );
    }),
  );
}
