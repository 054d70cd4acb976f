import { formatUnits } from "viem";
import { TriggersClient } from "../../sdk/contracts/triggers.ts";
import { type AuditCheck, broken, cannotRun, codeOf, held } from "./types.ts";

// ADR 0020, "requesters pay for the answers they ask for": ten on-chain requests paying nothing
// were all answered, at the operators' cost. AgentTriggers.request now refuses a fee below
// requiredFee() with TRIGGER_FEE_TOO_LOW.

export const zeroFeeTrigger: AuditCheck = {
  id: "zero-fee-trigger",
  title: "an on-chain request to an agent paying nothing, or one wei too little",
  async run(ctx) {
    if (!ctx.network.chain.contracts.agentTriggers) {
      throw cannotRun(
        "this network has no AgentTriggers contract",
        "Networks deployed by this version of `veil up` have one (network.json chain.contracts.agentTriggers).",
      );
    }
    await ctx.requireFunds();
    const probe = await ctx.probe();
    const triggers = new TriggersClient(ctx.chain);
    const required = await triggers.requiredFee();
    const deadline = (await ctx.chain.blockNumber()) + 50n;
    const outcomes: string[] = [];
    for (const fee of [0n, required > 0n ? required - 1n : 0n]) {
      // The chain client simulates before it sends: a refused request costs nothing and files nothing.
      try {
        const id = await triggers.request(probe.id, "0x", deadline, fee);
        return broken(
          `AgentTriggers filed request #${id} to agent #${probe.id} paying ${formatUnits(fee, 18)} ETH (requiredFee() is ${formatUnits(required, 18)} ETH): its answer and callback are paid by the operators`,
        );
      } catch (err) {
        if (codeOf(err) !== "TRIGGER_FEE_TOO_LOW") throw err;
        outcomes.push(fee === 0n ? "fee 0" : `requiredFee()-1 (${fee} wei)`);
      }
    }
    return held(
      `requests to agent #${probe.id} paying ${outcomes.join(" and ")} reverted TRIGGER_FEE_TOO_LOW (requiredFee() is ${required} wei); nothing was filed`,
    );
  },
};
