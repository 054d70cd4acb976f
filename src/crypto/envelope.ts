import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { VeilError } from "../errors/index.ts";
import { concatBytes, randomBytes, utf8 } from "./bytes.ts";
import { hkdf } from "./kdf.ts";
import { LABELS } from "./labels.ts";
import {
  x25519Ephemeral,
  x25519PublicKeyOf,
  x25519Receive,
  x25519Shared,
  x25519SharedWith,
} from "./x25519.ts";

const VERSION = 0x01;
const KEY = 32;
const NONCE = 24;
const TAG = 16;
/** Bytes an envelope adds to its plaintext: version, ephemeral public key, nonce, tag. */
export const SEAL_OVERHEAD = 1 + KEY + NONCE + TAG;
/** Bytes a wrapped value adds to its plaintext: version, nonce, tag. */
export const WRAP_OVERHEAD = 1 + NONCE + TAG;

export type EnvelopeOptions = {
  /** What the envelope is for; opening under another label fails. */
  label: string;
  /** Associated data bound to the ciphertext (who it is for, which epoch, …). */
  aad?: Uint8Array;
  /**
   * Tests only: deterministic randomness for published vectors. `seal` draws the ephemeral
   * private key (32) then the nonce (24); `wrap` draws the nonce (24). Never set in production.
   */
  random?: (n: number) => Uint8Array;
};

// One error for every failure to open, whatever its cause: telling a caller which check failed
// (key, label, aad, tag) would hand an attacker an oracle.
const openFailed = () =>
  new VeilError("ENVELOPE_OPEN_FAILED", "The envelope could not be opened", {
    hint: "It was sealed to another key, under another label or associated data, or it was altered.",
    status: 400,
  });
const malformed = (what: string) =>
  new VeilError("ENVELOPE_MALFORMED", `The envelope is malformed: ${what}`, {
    hint: "Pass the bytes exactly as seal() or wrap() returned them (version 1).",
    status: 400,
  });
const keyInvalid = (what: string) =>
  new VeilError("KEY_INVALID", what, {
    hint: "Keys are 32-byte Uint8Arrays; an X25519 public key must not be a low-order point.",
  });

function checkOptions(options: EnvelopeOptions): void {
  if (typeof options?.label !== "string" || options.label.length === 0) {
    throw new VeilError("BAD_ARGUMENT", "An envelope needs a non-empty label", {
      hint: 'Name what the envelope is for, e.g. { label: "cluster-key" }.',
    });
  }
  if (options.aad !== undefined && !(options.aad instanceof Uint8Array)) {
    throw new VeilError("BAD_ARGUMENT", "Associated data must be a Uint8Array", {});
  }
}

function checkPlaintext(plaintext: Uint8Array): void {
  if (!(plaintext instanceof Uint8Array)) {
    throw new VeilError("BAD_ARGUMENT", "The plaintext must be a Uint8Array", {
      hint: "Encode strings with utf8() first.",
    });
  }
}

function draw(random: (n: number) => Uint8Array, n: number): Uint8Array {
  const bytes = random(n);
  if (!(bytes instanceof Uint8Array) || bytes.length !== n) {
    throw new VeilError("BAD_ARGUMENT", "The injected random source returned the wrong length", {
      context: [`wanted ${n} bytes`],
    });
  }
  return bytes;
}

function isKey(bytes: unknown): bytes is Uint8Array {
  return bytes instanceof Uint8Array && bytes.length === KEY;
}

function envelopeKey(
  shared: Uint8Array,
  ephPub: Uint8Array,
  recipientPub: Uint8Array,
  label: string,
): Uint8Array {
  // Both public keys in the salt bind the key to this exchange and this recipient (as HPKE's
  // key schedule does), not merely to the shared secret.
  return hkdf(shared, concatBytes(ephPub, recipientPub), utf8(LABELS.envelopePrefix + label), KEY);
}

function wrapKey(key: Uint8Array, label: string): Uint8Array {
  return hkdf(key, undefined, utf8(LABELS.wrapPrefix + label), KEY);
}

/**
 * Seals `plaintext` to an X25519 public key: ephemeral X25519, HKDF-SHA256, XChaCha20-Poly1305.
 * Wire format: 0x01 ‖ ephemeral public key (32) ‖ nonce (24) ‖ ciphertext ‖ tag (16).
 */
export function seal(
  recipientPublicKey: Uint8Array,
  plaintext: Uint8Array,
  options: EnvelopeOptions,
): Uint8Array {
  checkOptions(options);
  checkPlaintext(plaintext);
  if (!isKey(recipientPublicKey)) throw keyInvalid("An X25519 public key is 32 bytes");
  const random = options.random ?? randomBytes;
  let ephPub: Uint8Array;
  let shared: Uint8Array;
  try {
    if (options.random) {
      // Deterministic, for published vectors: the ephemeral key comes from the injected source.
      const ephPriv = draw(random, KEY);
      ephPub = x25519PublicKeyOf(ephPriv);
      shared = x25519Shared(ephPriv, recipientPublicKey);
    } else {
      const eph = x25519Ephemeral();
      ephPub = eph.publicKey;
      shared = x25519SharedWith(eph.privateKey, recipientPublicKey);
    }
  } catch (err) {
    if (err instanceof VeilError) throw err;
    // OpenSSL refuses an all-zero shared secret, which only a low-order public key produces.
    throw keyInvalid("The recipient's X25519 public key is a low-order point");
  }
  const key = envelopeKey(shared, ephPub, recipientPublicKey, options.label);
  const nonce = draw(random, NONCE);
  const ct = xchacha20poly1305(key, nonce, options.aad).encrypt(plaintext);
  return concatBytes(Uint8Array.of(VERSION), ephPub, nonce, ct);
}

/** Opens an envelope made by `seal` with the recipient's X25519 private key. */
export function open(
  recipientPrivateKey: Uint8Array,
  envelope: Uint8Array,
  options: EnvelopeOptions,
): Uint8Array {
  checkOptions(options);
  if (!isKey(recipientPrivateKey)) throw keyInvalid("An X25519 private key is 32 bytes");
  if (!(envelope instanceof Uint8Array) || envelope.length < SEAL_OVERHEAD) throw malformed("too short");
  if (envelope[0] !== VERSION) throw malformed("unknown version");
  const ephPub = envelope.subarray(1, 1 + KEY);
  const nonce = envelope.subarray(1 + KEY, 1 + KEY + NONCE);
  const ct = envelope.subarray(1 + KEY + NONCE);
  try {
    const { shared, publicKey: recipientPub } = x25519Receive(recipientPrivateKey, ephPub);
    const key = envelopeKey(shared, ephPub, recipientPub, options.label);
    return xchacha20poly1305(key, nonce, options.aad).decrypt(ct);
  } catch {
    throw openFailed();
  }
}

/**
 * Symmetric wrapping under a 32-byte key (agent roots under a cluster key, state under a state
 * key). The key is separated per label by HKDF. Format: 0x01 ‖ nonce (24) ‖ ciphertext ‖ tag (16).
 */
export function wrap(key: Uint8Array, plaintext: Uint8Array, options: EnvelopeOptions): Uint8Array {
  checkOptions(options);
  checkPlaintext(plaintext);
  if (!isKey(key)) throw keyInvalid("A wrapping key is 32 bytes");
  const nonce = draw(options.random ?? randomBytes, NONCE);
  const ct = xchacha20poly1305(wrapKey(key, options.label), nonce, options.aad).encrypt(plaintext);
  return concatBytes(Uint8Array.of(VERSION), nonce, ct);
}

/** Opens a value made by `wrap` under the same key, label and associated data. */
export function unwrap(key: Uint8Array, wrapped: Uint8Array, options: EnvelopeOptions): Uint8Array {
  checkOptions(options);
  if (!isKey(key)) throw keyInvalid("A wrapping key is 32 bytes");
  if (!(wrapped instanceof Uint8Array) || wrapped.length < WRAP_OVERHEAD) throw malformed("too short");
  if (wrapped[0] !== VERSION) throw malformed("unknown version");
  try {
    const nonce = wrapped.subarray(1, 1 + NONCE);
    return xchacha20poly1305(wrapKey(key, options.label), nonce, options.aad).decrypt(
      wrapped.subarray(1 + NONCE),
    );
  } catch {
    throw openFailed();
  }
}
