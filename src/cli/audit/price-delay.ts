import { formatUnits } from "viem";
import { generatePrivateKey } from "viem/accounts";
import type { AgentPolicy } from "../../sdk/contracts/registries.ts";
import {
  type AuditCheck,
  type AuditContext,
  broken,
  codeOf,
  describeError,
  type Finding,
  held,
  type Probe,
  sleep,
} from "./types.ts";

// ADR 0020, "a caller never pays a price it could not see": an owner raised the price between two
// calls and the caller's next call paid it. Increases now wait `priceIncreaseDelay`, and a caller
// caps what it pays (`maxPrice`). The auditor owns the probe, so it is the owner who raises.

/** The raise the owner schedules: any price above the probe's (free) one. */
const RAISE = 10n ** 18n;
/** How long the audit waits for a scheduled increase to apply, to try the caller's cap. */
const LONGEST_WAIT_S = 20;

const veil = (units: bigint) => `${formatUnits(units, 18)} VEIL`;

export const priceDelay: AuditCheck = {
  id: "price-delay",
  title: "an owner raising the price between a caller's calls",
  async run(ctx) {
    const probe = await ctx.probe();
    const delay = await ctx.chain.priceIncreaseDelay();
    const before = await ctx.chain.getAgentPolicy(probe.id);
    const raise = before.price + RAISE;
    ctx.progress(
      `raising the probe's price from ${veil(before.price)} to ${veil(raise)} (delay ${delay} s)…`,
    );
    await ctx.chain.setAgentPrice(probe.id, raise);
    try {
      return await judgeRaise(ctx, probe, delay, before, raise);
    } finally {
      // A decrease applies at once and cancels a pending raise: the probe is free again.
      await ctx.chain.setAgentPrice(probe.id, before.price);
    }
  },
};

/** What a caller sees once the owner scheduled `raise`: pending or in force, and its cap. */
async function judgeRaise(
  ctx: AuditContext,
  probe: Probe,
  delay: number,
  before: AgentPolicy,
  raise: bigint,
): Promise<Finding> {
  const after = await ctx.chain.getAgentPolicy(probe.id);
  const caller = generatePrivateKey();
  const notes: string[] = [];

  if (after.price === raise) {
    // The raise is in force at once: a caller without a cap pays it on its next call.
    const capped = await capRefused(ctx, probe.name, caller, raise).catch((err: unknown) => ({
      refused: false,
      detail: `the cap could not be tried: ${describeError(err)}`,
    }));
    return broken(
      `a raise from ${veil(before.price)} to ${veil(raise)} applied at once (AgentRegistry.priceIncreaseDelay is ${delay} s): a caller without a cap pays it on its next call, unannounced${capped.refused ? "; one with maxPrice below it is still refused PRICE_ABOVE_MAXIMUM" : `; ${capped.detail}`}`,
    );
  }
  if (after.price !== before.price || after.pendingPrice !== raise || after.pendingPriceAt === 0n) {
    return broken(
      `after a raise to ${veil(raise)} the policy reads price ${veil(after.price)}, pending ${veil(after.pendingPrice)} at ${after.pendingPriceAt}`,
    );
  }
  notes.push(
    `a raise to ${veil(raise)} is pending until ${new Date(Number(after.pendingPriceAt) * 1000).toISOString()} (delay ${delay} s), the price in force still ${veil(before.price)}`,
  );

  // While it is pending, a caller that allows only the current price is served at it.
  try {
    const answer = await ctx.client.invoke(probe.name, {
      path: "/count",
      method: "POST",
      as: caller,
      maxPrice: before.price,
    });
    if (answer.status !== 200) throw new Error(`HTTP ${answer.status}`);
    notes.push(`a call with maxPrice ${veil(before.price)} was served at the old price`);
  } catch (err) {
    if (codeOf(err) !== "PRICE_ABOVE_MAXIMUM") throw err;
    // With a delay of a second or two the raise may have come due meanwhile: that is no early charge.
    if ((await ctx.chain.getAgentPolicy(probe.id)).price !== raise) {
      return broken(`a worker charged the pending ${veil(raise)} before it was due: ${describeError(err)}`);
    }
    notes.push("the raise came due before a call at the old price could be made");
  }

  if (delay > LONGEST_WAIT_S) {
    notes.push(`the cap after it applies was not tried (the audit does not wait ${delay} s)`);
    return held(notes.join("; "));
  }
  ctx.progress(`waiting ${delay} s for the raise to apply, to try a caller's maxPrice…`);
  const due = await untilApplied(ctx, probe.id, raise, (delay + 15) * 1000);
  if (!due) throw new Error(`the raise to ${veil(raise)} did not apply within ${delay + 15} s`);
  const capped = await capRefused(ctx, probe.name, caller, raise);
  if (!capped.refused) return broken(`${notes.join("; ")}; then ${capped.detail}`);
  notes.push(`once due, a call with maxPrice ${veil(raise - 1n)} was refused PRICE_ABOVE_MAXIMUM`);
  return held(notes.join("; "));
}

/** Polls the chain until the raise is the price in force. */
async function untilApplied(
  ctx: AuditContext,
  id: bigint,
  raise: bigint,
  ms: number,
): Promise<AgentPolicy | undefined> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const policy = await ctx.chain.getAgentPolicy(id);
    if (policy.price === raise) return policy;
    await sleep(250);
  }
  return undefined;
}

/**
 * Calls with `maxPrice` one unit below `price`: the SDK must refuse the worker's quote before it
 * signs anything. The caller has no prepayment, so a voucher signed anyway shows as the worker's
 * ESCROW_INSUFFICIENT_PREPAID. A worker that has not yet read the new price serves the call at the
 * old one (no verdict either way), so such a call is tried again for a few seconds.
 */
async function capRefused(
  ctx: AuditContext,
  agent: string,
  caller: `0x${string}`,
  price: bigint,
): Promise<{ refused: boolean; detail: string }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await ctx.client.invoke(agent, { path: "/count", method: "POST", as: caller, maxPrice: price - 1n });
    } catch (err) {
      const code = codeOf(err);
      if (code === "PRICE_ABOVE_MAXIMUM") return { refused: true, detail: "refused PRICE_ABOVE_MAXIMUM" };
      if (code === "ESCROW_INSUFFICIENT_PREPAID" || code === "FEE_VOUCHER_INVALID") {
        return {
          refused: false,
          detail: `a caller with maxPrice ${veil(price - 1n)} signed a voucher at ${veil(price)} (the worker answered ${code})`,
        };
      }
      throw err;
    }
    if (Date.now() > deadline) {
      throw new Error(`workers still served the probe at its old price 10 s after ${veil(price)} applied`);
    }
    await sleep(500);
  }
}
