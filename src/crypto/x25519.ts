import type { KeyObject } from "node:crypto";
import { x25519 } from "@noble/curves/ed25519.js";
import { randomBytes } from "./bytes.ts";
import { nodeCrypto } from "./platform.ts";

// X25519 through node:crypto (OpenSSL): a key agreement takes about 0.06 ms here against about
// 1.5 ms for the pure-JS implementation, which matters on every encrypted invocation. Measured
// too: importing a raw key is cheap as JWK (0.02 ms) and slow as DER (0.16 ms public, 0.75 ms
// private), so public keys go in as JWK, ephemeral keys are generated as KeyObjects, and
// long-lived private keys are imported once and cached. In a browser (the web console seals
// requests and opens answers) there is no node:crypto: @noble's X25519 instead (platform.ts).

const PKCS8_PREFIX = Uint8Array.of(
  0x30,
  0x2e,
  0x02,
  0x01,
  0x00,
  0x30,
  0x05,
  0x06,
  0x03,
  0x2b,
  0x65,
  0x6e,
  0x04,
  0x22,
  0x04,
  0x20,
);

/** Where this runs in Node: node:crypto, always there. */
const node = () => nodeCrypto as NonNullable<typeof nodeCrypto>;

function privateKeyObject(raw: Uint8Array): KeyObject {
  return node().createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: "der", type: "pkcs8" });
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  return node().createPublicKey({
    key: { kty: "OKP", crv: "X25519", x: Buffer.from(raw).toString("base64url") },
    format: "jwk",
  });
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const x = key.export({ format: "jwk" }).x;
  if (typeof x !== "string") throw new Error("X25519 key without x");
  return new Uint8Array(Buffer.from(x, "base64url"));
}

/** A one-time private key: a KeyObject in Node (it never leaves OpenSSL), its bytes in a browser. */
export type EphemeralKey = KeyObject | Uint8Array;

/** A fresh key pair for one envelope. */
export function x25519Ephemeral(): { privateKey: EphemeralKey; publicKey: Uint8Array } {
  if (!nodeCrypto) {
    const privateKey = randomBytes(32);
    return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
  }
  const pair = nodeCrypto.generateKeyPairSync("x25519");
  return { privateKey: pair.privateKey, publicKey: rawPublicKey(pair.publicKey) };
}

export function x25519SharedWith(privateKey: EphemeralKey, publicKey: Uint8Array): Uint8Array {
  if (privateKey instanceof Uint8Array) return x25519Shared(privateKey, publicKey);
  return new Uint8Array(node().diffieHellman({ privateKey, publicKey: publicKeyObject(publicKey) }));
}

/**
 * Long-lived private keys (an agent's, a worker's) are opened again and again: keep their
 * KeyObjects. Bounded, so a stream of distinct keys cannot grow it without end.
 */
const recipients = new Map<string, { key: KeyObject; publicKey: Uint8Array }>();
const MAX_CACHED = 1024;

function recipient(raw: Uint8Array): { key: KeyObject; publicKey: Uint8Array } {
  const id = Buffer.from(raw).toString("base64");
  let entry = recipients.get(id);
  if (!entry) {
    const key = privateKeyObject(raw);
    entry = { key, publicKey: publicKeyBytes(key) };
    if (recipients.size >= MAX_CACHED) recipients.delete(recipients.keys().next().value as string);
    recipients.set(id, entry);
  }
  return entry;
}

/**
 * A key pair just made here (a caller's one-time reply key): remembered with its KeyObject, so
 * opening the answer does not import the private key again (0.75 ms as DER).
 */
export function x25519Remember(privateKey: Uint8Array, key: KeyObject, publicKey: Uint8Array): void {
  const id = Buffer.from(privateKey).toString("base64");
  if (recipients.has(id)) return;
  if (recipients.size >= MAX_CACHED) recipients.delete(recipients.keys().next().value as string);
  recipients.set(id, { key, publicKey });
}

function publicKeyBytes(privateKey: KeyObject): Uint8Array {
  return rawPublicKey(node().createPublicKey(privateKey));
}

export function x25519PublicKeyOf(privateKey: Uint8Array): Uint8Array {
  if (!nodeCrypto) return x25519.getPublicKey(privateKey);
  return publicKeyBytes(privateKeyObject(privateKey));
}

/** The shared secret; throws for a low-order public key (an all-zero result). */
export function x25519Shared(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  if (!nodeCrypto) return nobleShared(privateKey, publicKey);
  return new Uint8Array(
    node().diffieHellman({ privateKey: privateKeyObject(privateKey), publicKey: publicKeyObject(publicKey) }),
  );
}

/** For a recipient's long-lived key: its public key and the shared secret, from the cache. */
export function x25519Receive(
  privateKey: Uint8Array,
  ephemeralPublicKey: Uint8Array,
): { shared: Uint8Array; publicKey: Uint8Array } {
  if (!nodeCrypto) {
    return {
      shared: nobleShared(privateKey, ephemeralPublicKey),
      publicKey: x25519.getPublicKey(privateKey),
    };
  }
  const r = recipient(privateKey);
  return {
    shared: new Uint8Array(
      node().diffieHellman({ privateKey: r.key, publicKey: publicKeyObject(ephemeralPublicKey) }),
    ),
    publicKey: r.publicKey,
  };
}

/** @noble's X25519, which throws for a low-order public key (an all-zero result) as OpenSSL does. */
function nobleShared(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return x25519.getSharedSecret(privateKey, publicKey);
}
