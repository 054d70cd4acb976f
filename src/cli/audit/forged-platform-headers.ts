import { FORGED } from "./probe-agent.ts";
import { type AuditCheck, broken, describeError, held } from "./types.ts";

// ADR 0018 and 0020: receipts and the serving worker travel in x-veil-* headers, which only the
// platform may set. An agent that sets them itself must not reach its callers with them, and the
// genuine receipts must still verify.

const HEADERS = {
  "x-veil-receipt": FORGED.receipt,
  "x-veil-llm-receipts": FORGED.llmReceipts,
  "x-veil-worker": FORGED.worker,
} as const;

export const forgedPlatformHeaders: AuditCheck = {
  id: "forged-platform-headers",
  title: "an agent answering with the platform's receipt and worker headers",
  async run(ctx) {
    const probe = await ctx.probe();
    // What any caller sees, without the SDK's checks in the way.
    const raw = await fetch(`${ctx.client.gatewayUrl}/agents/${probe.name}/forge`, {
      signal: AbortSignal.timeout(30_000),
    });
    await raw.arrayBuffer();
    const passed = Object.entries(HEADERS).filter(([name, forged]) => raw.headers.get(name) === forged);
    if (raw.status !== 200) throw new Error(`the probe's /forge answered HTTP ${raw.status}`);
    if (passed.length > 0) {
      return broken(
        `the agent's own ${passed.map(([name]) => name).join(", ")} reached the caller as it set them: the worker did not drop agent-set x-veil-* headers`,
      );
    }
    // The same answer through the SDK, receipts checked up to the master key on chain.
    let verified: string;
    try {
      const answer = await ctx.client.invoke(probe.name, { path: "/forge" });
      const seen = Object.entries(HEADERS).filter(([name, forged]) => answer.headers[name] === forged);
      if (seen.length > 0) {
        return broken(`the SDK handed the caller the agent's own ${seen.map(([n]) => n).join(", ")}`);
      }
      if (!answer.verified) return broken("the SDK returned the answer without checking its receipt");
      verified = `receipt verified (worker ${answer.verified.worker}, code ${answer.verified.codeHash.slice(0, 10)}…)`;
    } catch (err) {
      return broken(
        `the caller could not verify the genuine receipts of an answer whose agent set x-veil-* headers: ${describeError(err)}`,
      );
    }
    return held(
      `the agent set x-veil-receipt, x-veil-llm-receipts and x-veil-worker itself; the caller saw none of its values, and the SDK's ${verified}`,
    );
  },
};
