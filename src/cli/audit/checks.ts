import { dcapCollateral } from "./dcap-collateral.ts";
import { forgedPlatformHeaders } from "./forged-platform-headers.ts";
import { priceDelay } from "./price-delay.ts";
import { privateEgress } from "./private-egress.ts";
import { replayAcrossWorkers } from "./replay-across-workers.ts";
import { simulatedEvidence } from "./simulated-evidence.ts";
import type { AuditCheck } from "./types.ts";
import { unverifiedWorker } from "./unverified-worker.ts";
import { zeroFeeTrigger } from "./zero-fee-trigger.ts";

/**
 * Every check, in the order they run. The price check runs after the others that call the probe
 * agent: until its cleanup, the probe has a price its callers would have to pay.
 */
export const CHECKS: readonly AuditCheck[] = [
  unverifiedWorker,
  replayAcrossWorkers,
  forgedPlatformHeaders,
  privateEgress,
  zeroFeeTrigger,
  priceDelay,
  simulatedEvidence,
  dcapCollateral,
];
