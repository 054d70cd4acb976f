import { TeeType } from "../../sdk/contracts/registries.ts";
import { type AuditCheck, broken, held } from "./types.ts";

// ADR 0020, "simulated evidence only where the network says so": the simulated backend's signing
// key is public, so a chain that accepts simulated evidence gives its keys to anyone who can reach
// it. Only a local dev network (`veil up` on its embedded chain) may.

export const simulatedEvidence: AuditCheck = {
  id: "simulated-evidence",
  title: "the chain accepting simulated (public-key) evidence",
  async run(ctx) {
    const allowed = await ctx.chain.isSimulatedAllowed();
    if (!allowed) {
      return held("AttestationPolicy.simulatedAllowed is false: simulated evidence counts for nothing here");
    }
    const measurement = ctx.network.tee.measurement;
    const build =
      ctx.network.tee.backend === "simulated" &&
      (await ctx.chain.isMeasurementAllowed(TeeType.simulated, measurement))
        ? `, and simulated build ${measurement.slice(0, 18)}… is allowed`
        : "";
    // `veil up` marks the network it deployed on its own embedded chain; an --rpc chain (even with
    // --allow-simulated, a test chain of the user's own) is one others may reach.
    if (ctx.network.chain.embedded) {
      return held(
        `allowed: local dev network (INSECURE): simulatedAllowed is true on the embedded chain veil up started at ${ctx.network.chain.rpcUrl}${build}`,
      );
    }
    return broken(
      `AttestationPolicy.simulatedAllowed is true on ${ctx.network.chain.rpcUrl} (chain id ${ctx.network.chain.chainId}), which is not a local dev network${build}: anyone who can reach this chain can pass simulated evidence, signed with the public simulated key, and get keys (governance: setSimulatedAllowed(false))`,
    );
  },
};
