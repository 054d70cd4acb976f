import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { VeilError } from "../errors/index.ts";
import { concatBytes, lengthPrefixed, randomBytes, u64be, utf8 } from "./bytes.ts";
import { unwrap, wrap } from "./envelope.ts";
import { hkdf } from "./kdf.ts";
import { LABELS } from "./labels.ts";

// Epoch-bound data keys (ADR 0013). The agent root is stable (its keys and address must not
// change), so whoever keeps an ended epoch's cluster key and that epoch's wrapped root (public
// on chain) holds the root forever. What an agent writes is therefore also bound to the epoch:
// state under a key that needs both the root and the epoch's cluster key, secrets under an outer
// layer sealed to the epoch's cluster signing key. Each value names its epoch in the clear, so a
// worker knows which key opens it and what a rotation must re-encrypt.

const KEY = 32;
const NONCE = 24;
const TAG = 16;
const EPOCH_BYTES = 8;
/** Version byte of an epoch-bound value (state entry or secret). */
export const EPOCH_VALUE_VERSION = 0x02;
const COMPRESSED = 33;
/** Bytes the outer layer of a secret adds: version, epoch, ephemeral key, nonce, tag. */
export const SECRET_EPOCH_OVERHEAD = 1 + EPOCH_BYTES + COMPRESSED + NONCE + TAG;

const malformed = (what: string) =>
  new VeilError("ENVELOPE_MALFORMED", `The epoch-bound value is malformed: ${what}`, {
    hint: "Pass the bytes exactly as they were sealed (version 2: 0x02 ‖ epoch ‖ …).",
    status: 400,
  });
const openFailed = () =>
  new VeilError("ENVELOPE_OPEN_FAILED", "The envelope could not be opened", {
    hint: "It was sealed to another key, epoch, agent or name, or it was altered.",
    status: 400,
  });

function requireKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY) {
    throw new VeilError("KEY_INVALID", `${what} must be 32 bytes`, {});
  }
}

/**
 * The agent's key for one epoch, from that epoch's cluster key: HKDF(cluster key, info =
 * label ‖ agent id ‖ epoch). Every worker of the cluster derives it; nothing outside the cluster
 * key of that epoch does.
 */
export function deriveAgentEpochKey(clusterKey: Uint8Array, agentId: bigint, epoch: bigint): Uint8Array {
  requireKey(clusterKey, "The cluster key");
  return hkdf(
    clusterKey,
    undefined,
    concatBytes(utf8(LABELS.agentEpoch), lengthPrefixed(agentId.toString()), u64be(epoch)),
    KEY,
  );
}

/**
 * The key state entries of `epoch` are sealed under: HKDF over the root-derived state key and
 * the agent's epoch key. Neither alone suffices: the root holder of an ended epoch lacks the
 * new cluster key, a cluster key holder lacks the agent's root.
 */
export function deriveEpochStateKey(
  stateKey: Uint8Array,
  agentEpochKey: Uint8Array,
  agentId: bigint,
  epoch: bigint,
): Uint8Array {
  requireKey(stateKey, "The agent's state key");
  requireKey(agentEpochKey, "The agent's epoch key");
  return hkdf(
    concatBytes(stateKey, agentEpochKey),
    undefined,
    concatBytes(utf8(LABELS.epochState), lengthPrefixed(agentId.toString()), u64be(epoch)),
    KEY,
  );
}

/** A state entry that also carries its write version (docs/adr/0019). */
export const VERSIONED_VALUE_VERSION = 0x03;

/** The epoch a version-2 or -3 value names, or undefined for anything else. */
export function epochOfValue(value: Uint8Array): bigint | undefined {
  if (
    !(value instanceof Uint8Array) ||
    value.length < 1 + EPOCH_BYTES ||
    (value[0] !== EPOCH_VALUE_VERSION && value[0] !== VERSIONED_VALUE_VERSION)
  ) {
    return undefined;
  }
  return new DataView(value.buffer, value.byteOffset + 1, EPOCH_BYTES).getBigUint64(0);
}

/**
 * The write version a version-3 value claims (checked when it is opened: it is in the AAD), 0 for
 * a version-2 value, undefined for anything else.
 */
export function versionOfValue(value: Uint8Array): bigint | undefined {
  if (!(value instanceof Uint8Array) || value.length < 1) return undefined;
  if (value[0] === EPOCH_VALUE_VERSION) return value.length >= 1 + EPOCH_BYTES ? 0n : undefined;
  if (value[0] !== VERSIONED_VALUE_VERSION || value.length < 1 + 2 * EPOCH_BYTES) return undefined;
  return new DataView(value.buffer, value.byteOffset + 1 + EPOCH_BYTES, EPOCH_BYTES).getBigUint64(0);
}

const versionedAad = (agentId: bigint, row: string, epoch: bigint, version: bigint) =>
  utf8(`state-v|${agentId}|${row}|${epoch}|${version}`);

/**
 * A state entry of `epoch` at write `version`:
 * 0x03 ‖ u64be(epoch) ‖ u64be(version) ‖ wrap(epoch state key, aad = agent, row, epoch, version).
 * An older ciphertext of the same row carries an older version, which the agent's state head
 * no longer counts (src/storage/state-versions.ts).
 */
export function sealVersionedState(
  epochStateKey: Uint8Array,
  epoch: bigint,
  version: bigint,
  agentId: bigint,
  row: string,
  plaintext: Uint8Array,
  options: { random?: (n: number) => Uint8Array } = {},
): Uint8Array {
  const header = concatBytes(Uint8Array.of(VERSIONED_VALUE_VERSION), u64be(epoch), u64be(version));
  return sealStateEntry(
    header,
    epochStateKey,
    versionedAad(agentId, row, epoch, version),
    plaintext,
    options,
  );
}

/** header ‖ wrap(key, aad): the one shape of both state entry formats. */
function sealStateEntry(
  header: Uint8Array,
  epochStateKey: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  options: { random?: (n: number) => Uint8Array },
): Uint8Array {
  return concatBytes(
    header,
    wrap(epochStateKey, plaintext, {
      label: LABELS.epochState,
      aad,
      ...(options.random ? { random: options.random } : {}),
    }),
  );
}

const stateAad = (agentId: bigint, row: string, epoch: bigint) => utf8(`state|${agentId}|${row}|${epoch}`);

/** A state entry of `epoch`: 0x02 ‖ u64be(epoch) ‖ wrap(epoch state key, aad = agent, row, epoch). */
export function sealEpochState(
  epochStateKey: Uint8Array,
  epoch: bigint,
  agentId: bigint,
  row: string,
  plaintext: Uint8Array,
  options: { random?: (n: number) => Uint8Array } = {},
): Uint8Array {
  const header = concatBytes(Uint8Array.of(EPOCH_VALUE_VERSION), u64be(epoch));
  return sealStateEntry(header, epochStateKey, stateAad(agentId, row, epoch), plaintext, options);
}

export function openEpochState(
  epochStateKey: Uint8Array,
  agentId: bigint,
  row: string,
  sealed: Uint8Array,
): Uint8Array {
  const epoch = epochOfValue(sealed);
  if (epoch === undefined) throw malformed("not a version-2 state entry");
  const version = sealed[0] === VERSIONED_VALUE_VERSION ? versionOfValue(sealed) : undefined;
  if (sealed[0] === VERSIONED_VALUE_VERSION && version === undefined) {
    throw malformed("a version-3 state entry cut short");
  }
  return unwrap(epochStateKey, sealed.subarray(1 + (version === undefined ? 1 : 2) * EPOCH_BYTES), {
    label: LABELS.epochState,
    aad: version === undefined ? stateAad(agentId, row, epoch) : versionedAad(agentId, row, epoch, version),
  });
}

const secretAad = (agentId: bigint, name: string, epoch: bigint) =>
  utf8(`secret-epoch|${agentId}|${name}|${epoch}`);

function secretKey(shared: Uint8Array, ephPub: Uint8Array, recipientPub: Uint8Array): Uint8Array {
  return hkdf(shared, concatBytes(ephPub, recipientPub), utf8(LABELS.epochSecret), KEY);
}

/**
 * The outer, epoch layer of a secret: ECIES to the epoch's cluster signing key (secp256k1),
 * whose public key the agent certificate reveals and the master key certifies, so a client can
 * seal to it after checking the chain of signatures. Using the signing key for ECDH too is what
 * Ethereum's devp2p does with node keys; the HKDF label keeps the derived keys apart.
 * Format: 0x02 ‖ u64be(epoch) ‖ ephemeral compressed point (33) ‖ nonce (24) ‖ ciphertext ‖ tag.
 */
export function sealSecretEpoch(
  clusterSigningPublicKey: Uint8Array,
  epoch: bigint,
  agentId: bigint,
  name: string,
  inner: Uint8Array,
  options: { random?: (n: number) => Uint8Array } = {},
): Uint8Array {
  const random = options.random ?? randomBytes;
  let recipient: Uint8Array;
  try {
    recipient = secp256k1.Point.fromBytes(clusterSigningPublicKey).toBytes(true);
  } catch {
    throw new VeilError("KEY_INVALID", "The cluster signing public key is not a secp256k1 point", {});
  }
  const ephPriv = options.random ? random(KEY) : secp256k1.utils.randomSecretKey();
  const ephPub = secp256k1.getPublicKey(ephPriv, true);
  const shared = secp256k1.getSharedSecret(ephPriv, recipient, true).subarray(1);
  const nonce = random(NONCE);
  const ct = xchacha20poly1305(
    secretKey(shared, ephPub, recipient),
    nonce,
    secretAad(agentId, name, epoch),
  ).encrypt(inner);
  return concatBytes(Uint8Array.of(EPOCH_VALUE_VERSION), u64be(epoch), ephPub, nonce, ct);
}

/** Opens the epoch layer of a secret with the epoch's cluster signing private key. */
export function openSecretEpoch(
  clusterSigningKey: Uint8Array,
  agentId: bigint,
  name: string,
  sealed: Uint8Array,
): Uint8Array {
  const epoch = epochOfValue(sealed);
  if (epoch === undefined || sealed.length < SECRET_EPOCH_OVERHEAD) throw malformed("not a version-2 secret");
  const at = 1 + EPOCH_BYTES;
  const ephPub = sealed.subarray(at, at + COMPRESSED);
  const nonce = sealed.subarray(at + COMPRESSED, at + COMPRESSED + NONCE);
  try {
    const shared = secp256k1.getSharedSecret(clusterSigningKey, ephPub, true).subarray(1);
    const recipient = secp256k1.getPublicKey(clusterSigningKey, true);
    return xchacha20poly1305(
      secretKey(shared, ephPub, recipient),
      nonce,
      secretAad(agentId, name, epoch),
    ).decrypt(sealed.subarray(at + COMPRESSED + NONCE));
  } catch {
    throw openFailed();
  }
}
