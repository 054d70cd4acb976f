import { VeilError } from "../errors/index.ts";
import { confidenceLevel } from "./dcap-types.ts";
import { type Evidence, TEE_TYPE_IDS } from "./enclave.ts";
import { type VerifiedEvidence, verifyEvidence } from "./verify.ts";

/** What evidence is judged against: the on-chain attestation policy (VeilChain provides it). */
export type AttestationPolicyView = {
  /** Whether simulated evidence counts at all on this network (its signing key is public). */
  isSimulatedAllowed(): Promise<boolean>;
  isMeasurementAllowed(teeType: number, measurement: `0x${string}`): Promise<boolean>;
  isAdvisoryAllowed(advisoryId: string): Promise<boolean>;
  policyParameters(): Promise<{ maxEvidenceAge: number; reattestPeriod: number; minConfidence: number }>;
};

export type PolicyVerdict = {
  verified: VerifiedEvidence;
  /** The confidence level with the policy's allowed advisories taken into account. */
  confidence: 1 | 2 | 3 | 4 | 5;
  /** The measurement the policy allows (one of verified.measurements). */
  measurement: `0x${string}`;
};

/**
 * Verifies evidence and judges it against the policy: the quote (or simulated signature) and
 * its binding to the node's keys, an allowed measurement, and a TCB confidence level no worse
 * than the minimum. Throws a VeilError with an ATTESTATION_* code on the first failure.
 */
export async function evaluateEvidence(
  evidence: Evidence,
  policy: AttestationPolicyView,
  options: { expectedReportData: Uint8Array; now?: number },
): Promise<PolicyVerdict> {
  const params = await policy.policyParameters();
  if (evidence.tee === "simulated" && !(await policy.isSimulatedAllowed())) {
    throw new VeilError(
      "ATTESTATION_SIMULATED_NOT_ALLOWED",
      "This network's attestation policy does not accept simulated evidence",
      {
        status: 403,
        hint: "Simulated evidence is signed with a public key: anyone could forge it. Run the node on real TEE hardware (--tee tdx or dstack); only a local dev network, or governance explicitly, allows the simulated backend.",
      },
    );
  }
  const verified = verifyEvidence(evidence, {
    expectedReportData: options.expectedReportData,
    maxAgeSeconds: params.maxEvidenceAge,
    ...(options.now !== undefined ? { now: options.now } : {}),
  });
  const teeType = TEE_TYPE_IDS[verified.tee];
  let measurement: `0x${string}` | undefined;
  for (const m of verified.measurements) {
    if (await policy.isMeasurementAllowed(teeType, m)) {
      measurement = m;
      break;
    }
  }
  if (!measurement) {
    throw new VeilError(
      "ATTESTATION_MEASUREMENT_NOT_ALLOWED",
      `Measurement ${verified.measurement} (${verified.tee}) is not allowed by the attestation policy`,
      { status: 403, hint: "Governance must allow this build's measurement before its nodes get keys." },
    );
  }
  let confidence = verified.confidence;
  if (verified.dcap && verified.advisoryIds.length > 0) {
    const allowed: string[] = [];
    for (const id of verified.advisoryIds) if (await policy.isAdvisoryAllowed(id)) allowed.push(id);
    confidence = confidenceLevel(verified.dcap.tcbStatus, verified.advisoryIds, allowed);
  }
  if (confidence > params.minConfidence) {
    throw new VeilError(
      "ATTESTATION_TCB_BELOW_MINIMUM",
      `TCB status ${verified.tcbStatus} rates confidence level ${confidence}; the policy accepts ${params.minConfidence} or better`,
      { status: 403, hint: "Update the platform's microcode and firmware, then re-attest." },
    );
  }
  return { verified, confidence, measurement };
}
