import { mapHashToField } from "@noble/curves/abstract/modular.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { hkdf as nobleHkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { VeilError } from "../errors/index.ts";
import { concatBytes, lengthPrefixed, u64be, utf8 } from "./bytes.ts";
import { LABELS } from "./labels.ts";

/** HKDF-SHA256 (RFC 5869). */
export function hkdf(
  ikm: Uint8Array,
  salt: Uint8Array | undefined,
  info: Uint8Array,
  length: number,
): Uint8Array {
  return nobleHkdf(sha256, ikm, salt, info, length);
}

function requireKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new VeilError("KEY_INVALID", `${what} must be 32 bytes`, {});
  }
}

/** The cluster key of (cluster, epoch), from the epoch's master key. */
export function deriveClusterKey(
  masterKey: Uint8Array,
  clusterId: string,
  epoch: bigint | number,
): Uint8Array {
  requireKey(masterKey, "The master key");
  return hkdf(
    masterKey,
    undefined,
    concatBytes(utf8(LABELS.clusterKey), lengthPrefixed(clusterId), u64be(epoch)),
    32,
  );
}

/** A secp256k1 private scalar from key material: 48 bytes of HKDF reduced mod n (no bias to speak of). */
function secp256k1Scalar(ikm: Uint8Array, label: string): Uint8Array {
  return mapHashToField(hkdf(ikm, undefined, utf8(label), 48), secp256k1.Point.Fn.ORDER);
}

/** The master key's signing public key (compressed secp256k1), which the chain records per epoch. */
export function deriveMasterPublicKey(masterKey: Uint8Array): Uint8Array {
  requireKey(masterKey, "The master key");
  return secp256k1.getPublicKey(secp256k1Scalar(masterKey, LABELS.masterSigning), true);
}

/** The master key's signing private key (for certifying keys under it). */
export function deriveMasterSigningKey(masterKey: Uint8Array): Uint8Array {
  requireKey(masterKey, "The master key");
  return secp256k1Scalar(masterKey, LABELS.masterSigning);
}

/** The cluster's signing key (secp256k1), which certifies agents' public keys. */
export function deriveClusterSigningKey(clusterKey: Uint8Array): Uint8Array {
  requireKey(clusterKey, "The cluster key");
  return secp256k1Scalar(clusterKey, LABELS.clusterSigning);
}

export type AgentKeys = {
  encryption: { privateKey: Uint8Array; publicKey: Uint8Array };
  signing: { privateKey: Uint8Array; publicKey: Uint8Array };
  stateKey: Uint8Array;
  secretsKey: Uint8Array;
  /** What secrets the agent derives by salt come from (Phala's `Wapo.deriveSecret`, in the sandbox). */
  derivedSecretsKey: Uint8Array;
};

/** Every key of an agent, from its random root. The root is stable, so these are too. */
export function deriveAgentKeys(agentRoot: Uint8Array): AgentKeys {
  requireKey(agentRoot, "The agent root");
  const encPriv = hkdf(agentRoot, undefined, utf8(LABELS.agentEncryption), 32);
  const signPriv = secp256k1Scalar(agentRoot, LABELS.agentSigning);
  return {
    encryption: { privateKey: encPriv, publicKey: x25519.getPublicKey(encPriv) },
    signing: { privateKey: signPriv, publicKey: secp256k1.getPublicKey(signPriv, true) },
    stateKey: hkdf(agentRoot, undefined, utf8(LABELS.agentState), 32),
    secretsKey: hkdf(agentRoot, undefined, utf8(LABELS.agentSecrets), 32),
    derivedSecretsKey: hkdf(agentRoot, undefined, utf8(LABELS.agentDerivedSecrets), 32),
  };
}

/**
 * The X25519 key an agent owner's logs are sealed to, derived from the owner's account key so
 * that whoever holds that key (and only they) can read the logs, with nothing else to keep.
 */
export function deriveOwnerLogKey(ownerAccountKey: Uint8Array): {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
} {
  requireKey(ownerAccountKey, "The owner's account key");
  const privateKey = hkdf(ownerAccountKey, undefined, utf8(LABELS.ownerLogs), 32);
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}
