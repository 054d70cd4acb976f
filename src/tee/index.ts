export {
  confidenceLevel,
  type DcapCollateral,
  type DcapVerified,
  parseCollateral,
  type SgxMeasurements,
  type TcbStatus,
  type TdxMeasurements,
  verifyDcapQuote,
} from "./dcap.ts";
export {
  type CollateralSource,
  DCAP_EVIDENCE_FORMAT,
  decodeDcapEvidence,
  encodeDcapEvidence,
  policyMeasurements,
  tdxMeasurement,
} from "./dcap-evidence.ts";
export { DstackEnclave } from "./dstack.ts";
export { type Enclave, type Evidence, TEE_TYPE_IDS, type TeeKind } from "./enclave.ts";
export { printInsecureBanner } from "./insecure-banner.ts";
export { buildMeasurement } from "./measurement.ts";
export { pccsCollateralSource } from "./pccs.ts";
export { type AttestationPolicyView, evaluateEvidence, type PolicyVerdict } from "./policy.ts";
export { identityReportData } from "./report-data.ts";
export { createEnclave, type EnclaveChoice, INTEL_PCS_URL, TEE_BACKENDS, type TeeBackend } from "./select.ts";
export { SimulatedEnclave } from "./simulated.ts";
export { TdxEnclave } from "./tdx.ts";
export { evidenceHash, type VerifiedEvidence, type VerifyOptions, verifyEvidence } from "./verify.ts";
