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
export { type Enclave, type Evidence, TEE_TYPE_IDS, type TeeKind } from "./enclave.ts";
export { printInsecureBanner } from "./insecure-banner.ts";
export { buildMeasurement } from "./measurement.ts";
export { SimulatedEnclave } from "./simulated.ts";
export { evidenceHash, type VerifiedEvidence, type VerifyOptions, verifyEvidence } from "./verify.ts";
