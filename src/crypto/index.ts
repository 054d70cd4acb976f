export {
  openAgentSecret,
  openLogBatch,
  openSecret,
  openStateValue,
  sealAgentSecret,
  sealLogBatch,
  sealSecret,
  sealStateValue,
  stateRowKey,
  unwrapAgentRoot,
  wrapAgentRoot,
} from "./agent-envelopes.ts";
export { concatBytes, equalBytes, fromHex, randomBytes, toHex, u64be, utf8 } from "./bytes.ts";
export {
  CALLER_SIGNATURE_WINDOW_S,
  type CallerClaim,
  callerDigest,
  type SignedCaller,
  signCaller,
  verifyCaller,
} from "./caller.ts";
export {
  type EnvelopeOptions,
  open,
  SEAL_OVERHEAD,
  seal,
  unwrap,
  WRAP_OVERHEAD,
  wrap,
} from "./envelope.ts";
export {
  deriveAgentEpochKey,
  deriveEpochStateKey,
  EPOCH_VALUE_VERSION,
  epochOfValue,
  openEpochState,
  openSecretEpoch,
  SECRET_EPOCH_OVERHEAD,
  sealEpochState,
  sealSecretEpoch,
  sealVersionedState,
  versionOfValue,
} from "./epoch.ts";
export { keccak256, sha256, sha256Hex } from "./hash.ts";
export {
  openRequest,
  openResponse,
  requestHash,
  responseHash,
  type SealedRequestBody,
  sealRequest,
  sealResponse,
} from "./invocation.ts";
export {
  type AgentKeys,
  deriveAgentKeys,
  deriveClusterKey,
  deriveClusterSigningKey,
  deriveMasterPublicKey,
  deriveMasterSigningKey,
  deriveOwnerLogKey,
  hkdf,
} from "./kdf.ts";
export { LABELS } from "./labels.ts";
export {
  combineMasterShares,
  openContribution,
  type Recipient,
  SEALED_SHARE_BYTES,
  SHARE_BYTES,
  sealContribution,
} from "./rotation.ts";
export {
  type SealedStreamEvent,
  SealedStreamReader,
  SealedStreamWriter,
} from "./sealed-stream.ts";
export {
  ethAddressFromPublicKey,
  generateX25519,
  type KeyPair,
  signDigest,
  verifyDigest,
  x25519PublicKey,
} from "./sign.ts";
export { stateDigestTerm, stateHeadMac } from "./state-head.ts";
