import { VeilError } from "../errors/index.ts";
import { DstackEnclave } from "./dstack.ts";
import type { Enclave } from "./enclave.ts";
import { pccsCollateralSource } from "./pccs.ts";
import { SimulatedEnclave } from "./simulated.ts";
import { TdxEnclave } from "./tdx.ts";

export type TeeBackend = "simulated" | "tdx" | "dstack";
export const TEE_BACKENDS: readonly TeeBackend[] = ["simulated", "tdx", "dstack"];

/** Intel's Provisioning Certification Service, the PCCS of last resort. */
export const INTEL_PCS_URL = "https://api.trustedservices.intel.com";

export type EnclaveChoice = {
  tee: string;
  dataDir: string;
  /** Which daemon, for the INSECURE banner of the simulated backend. */
  component: string;
  pccsUrl?: string;
  configfsRoot?: string;
  dstackEndpoint?: string;
};

/** The backend a daemon runs on, from its --tee flag. */
export function createEnclave(choice: EnclaveChoice): Enclave {
  const collateral = () => pccsCollateralSource(choice.pccsUrl ?? INTEL_PCS_URL);
  switch (choice.tee) {
    case "simulated":
      return new SimulatedEnclave({ dataDir: choice.dataDir, component: choice.component });
    case "tdx":
      return new TdxEnclave({
        collateral: collateral(),
        ...(choice.configfsRoot ? { configfsRoot: choice.configfsRoot } : {}),
      });
    case "dstack":
      return new DstackEnclave({
        collateral: collateral(),
        ...(choice.dstackEndpoint ? { endpoint: choice.dstackEndpoint } : {}),
      });
    default:
      throw new VeilError("BAD_ARGUMENT", `Unknown TEE backend "${choice.tee}"`, {
        hint: `Choose one of ${TEE_BACKENDS.join(", ")}.`,
      });
  }
}
