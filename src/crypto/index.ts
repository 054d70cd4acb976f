export { concatBytes, equalBytes, fromHex, randomBytes, toHex, utf8 } from "./bytes.ts";
export { type EnvelopeOptions, open, seal, unwrap, wrap } from "./envelope.ts";
export { keccak256, sha256, sha256Hex } from "./hash.ts";
export {
  type AgentKeys,
  deriveAgentKeys,
  deriveClusterKey,
  deriveClusterSigningKey,
  deriveMasterPublicKey,
  deriveMasterSigningKey,
  hkdf,
} from "./kdf.ts";
export { LABELS } from "./labels.ts";
export {
  ethAddressFromPublicKey,
  generateX25519,
  signDigest,
  verifyDigest,
  x25519PublicKey,
} from "./sign.ts";
