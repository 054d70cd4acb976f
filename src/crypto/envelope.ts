import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { x25519 } from "@noble/curves/ed25519.js";
import { VeilError } from "../errors/index.ts";
import { concatBytes, randomBytes, utf8 } from "./bytes.ts";
import { hkdf } from "./kdf.ts";
import { LABELS } from "./labels.ts";

const VERSION = 0x01;
const NONCE = 24;
const TAG = 16;

export type EnvelopeOptions = {
  /** What the envelope is for; opening under another label fails. */
  label: string;
  /** Associated data bound to the ciphertext (who it is for, which epoch, …). */
  aad?: Uint8Array;
  /** Tests only: deterministic randomness for published vectors. */
  random?: (n: number) => Uint8Array;
};

const openFailed = () =>
  new VeilError("ENVELOPE_OPEN_FAILED", "The envelope could not be opened", {
    hint: "It was sealed to another key, under another label or associated data, or it was altered.",
    status: 400,
  });
const malformed = (what: string) =>
  new VeilError("ENVELOPE_MALFORMED", `The envelope is malformed: ${what}`, { status: 400 });

function envelopeKey(
  shared: Uint8Array,
  ephPub: Uint8Array,
  recipientPub: Uint8Array,
  label: string,
): Uint8Array {
  return hkdf(shared, concatBytes(ephPub, recipientPub), utf8(LABELS.envelopePrefix + label), 32);
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
  if (recipientPublicKey.length !== 32)
    throw new VeilError("KEY_INVALID", "An X25519 public key is 32 bytes", {});
  const random = options.random ?? randomBytes;
  const ephPriv = random(32);
  const ephPub = x25519.getPublicKey(ephPriv);
  const shared = x25519.getSharedSecret(ephPriv, recipientPublicKey);
  const key = envelopeKey(shared, ephPub, recipientPublicKey, options.label);
  const nonce = random(NONCE);
  const ct = xchacha20poly1305(key, nonce, options.aad).encrypt(plaintext);
  return concatBytes(new Uint8Array([VERSION]), ephPub, nonce, ct);
}

export function open(
  recipientPrivateKey: Uint8Array,
  envelope: Uint8Array,
  options: EnvelopeOptions,
): Uint8Array {
  if (!(envelope instanceof Uint8Array) || envelope.length < 1 + 32 + NONCE + TAG)
    throw malformed("too short");
  if (envelope[0] !== VERSION) throw malformed(`unknown version ${envelope[0]}`);
  const ephPub = envelope.subarray(1, 33);
  const nonce = envelope.subarray(33, 33 + NONCE);
  const ct = envelope.subarray(33 + NONCE);
  try {
    const recipientPub = x25519.getPublicKey(recipientPrivateKey);
    const shared = x25519.getSharedSecret(recipientPrivateKey, ephPub);
    const key = envelopeKey(shared, ephPub, recipientPub, options.label);
    return xchacha20poly1305(key, nonce, options.aad).decrypt(ct);
  } catch {
    throw openFailed();
  }
}

/**
 * Symmetric wrapping under a 32-byte key (agent roots under a cluster key, state under a state
 * key). The key is separated per label by HKDF. Format: 0x01 ‖ nonce (24) ‖ ciphertext ‖ tag.
 */
export function wrap(key: Uint8Array, plaintext: Uint8Array, options: EnvelopeOptions): Uint8Array {
  if (key.length !== 32) throw new VeilError("KEY_INVALID", "A wrapping key is 32 bytes", {});
  const nonce = (options.random ?? randomBytes)(NONCE);
  const k = hkdf(key, undefined, utf8(LABELS.wrapPrefix + options.label), 32);
  return concatBytes(
    new Uint8Array([VERSION]),
    nonce,
    xchacha20poly1305(k, nonce, options.aad).encrypt(plaintext),
  );
}

export function unwrap(key: Uint8Array, wrapped: Uint8Array, options: EnvelopeOptions): Uint8Array {
  if (!(wrapped instanceof Uint8Array) || wrapped.length < 1 + NONCE + TAG) throw malformed("too short");
  if (wrapped[0] !== VERSION) throw malformed(`unknown version ${wrapped[0]}`);
  try {
    const k = hkdf(key, undefined, utf8(LABELS.wrapPrefix + options.label), 32);
    return xchacha20poly1305(k, wrapped.subarray(1, 1 + NONCE), options.aad).decrypt(
      wrapped.subarray(1 + NONCE),
    );
  } catch {
    throw openFailed();
  }
}
