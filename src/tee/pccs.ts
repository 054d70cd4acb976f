import { createRequire } from "node:module";
import { VeilError } from "../errors/index.ts";
import type { CollateralSource } from "./dcap-evidence.ts";
import type { DcapCollateral } from "./dcap-types.ts";

const require = createRequire(import.meta.url);

/** Collateral from a PCCS (or Intel's PCS) at `url`, through @phala/dcap-qvl. */
export function pccsCollateralSource(url: string): CollateralSource {
  const { getCollateral } = require("@phala/dcap-qvl") as {
    getCollateral(pccsUrl: string, quote: Uint8Array): Promise<DcapCollateral>;
  };
  return async (quote) => {
    try {
      return await getCollateral(url, quote);
    } catch (err) {
      throw new VeilError("ATTESTATION_COLLATERAL_UNAVAILABLE", `No collateral from the PCCS at ${url}`, {
        cause: err,
        retryable: true,
        hint: "Check --pccs-url and that the PCCS is reachable from this node.",
      });
    }
  };
}
