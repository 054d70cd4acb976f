import { x25519 } from "@noble/curves/ed25519.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { VeilError } from "../errors/index.ts";
import { concatBytes, equalBytes, randomBytes, toHex, utf8 } from "./bytes.ts";
import { keccak256 } from "./hash.ts";
import { nodeCrypto } from "./platform.ts";
import { x25519Remember } from "./x25519.ts";

export type KeyPair = { privateKey: Uint8Array; publicKey: Uint8Array };

const keyInvalid = (what: string) =>
  new VeilError("KEY_INVALID", what, { hint: "Derive keys with the crypto component's functions." });

/**
 * A fresh X25519 key pair (OpenSSL's generator in Node: about 20 times faster than deriving in
 * JS; @noble in a browser).
 */
export function generateX25519(): KeyPair {
  if (!nodeCrypto) {
    const privateKey = randomBytes(32);
    return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
  }
  const key = nodeCrypto.generateKeyPairSync("x25519").privateKey;
  const jwk = key.export({ format: "jwk" });
  if (typeof jwk.d !== "string" || typeof jwk.x !== "string") throw new Error("X25519 key export failed");
  const pair = {
    privateKey: new Uint8Array(Buffer.from(jwk.d, "base64url")),
    publicKey: new Uint8Array(Buffer.from(jwk.x, "base64url")),
  };
  // Opening with it next (a reply to a sealed request) then needs no import of the key.
  x25519Remember(pair.privateKey, key, pair.publicKey);
  return pair;
}

export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== 32)
    throw keyInvalid("An X25519 private key is 32 bytes");
  return x25519.getPublicKey(privateKey);
}

function requireDigest(digest: Uint8Array): void {
  if (!(digest instanceof Uint8Array) || digest.length !== 32) {
    throw new VeilError("BAD_ARGUMENT", "A digest to sign is 32 bytes", {
      hint: "Hash the message first (keccak256 for anything a contract will ecrecover).",
    });
  }
}

/**
 * Signs a 32-byte digest: r ‖ s ‖ v, low-s, v = 27/28 — what Ethereum's ecrecover and OpenZeppelin's
 * ECDSA.recover expect, and byte-for-byte what viem's `sign({ hash, privateKey })` returns
 * (RFC 6979 deterministic nonces, no extra entropy).
 */
export function signDigest(privateKey: Uint8Array, digest: Uint8Array): Uint8Array {
  requireDigest(digest);
  if (!(privateKey instanceof Uint8Array) || !secp256k1.utils.isValidSecretKey(privateKey))
    throw keyInvalid("A secp256k1 private key is 32 bytes, non-zero and below the group order");
  const sig = secp256k1.sign(digest, privateKey, { prehash: false, lowS: true, format: "recovered" });
  // noble's "recovered" format is recovery byte ‖ r ‖ s; Ethereum puts v last and adds 27.
  const out = new Uint8Array(65);
  out.set(sig.subarray(1, 65), 0);
  out[64] = sig[0]! + 27;
  return out;
}

/**
 * True when `signature` (r ‖ s ‖ v) is a low-s signature of `digest` by `publicKey` whose v
 * recovers that same key — so that whatever passes here also passes ecrecover on chain.
 */
export function verifyDigest(publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array): boolean {
  if (!(signature instanceof Uint8Array) || signature.length !== 65) return false;
  if (!(digest instanceof Uint8Array) || digest.length !== 32) return false;
  const v = signature[64]!;
  if (v !== 27 && v !== 28) return false;
  try {
    const rs = signature.subarray(0, 64);
    if (!secp256k1.verify(rs, digest, publicKey, { prehash: false, lowS: true })) return false;
    const recovered = secp256k1.recoverPublicKey(concatBytes(Uint8Array.of(v - 27), rs), digest, {
      prehash: false,
    });
    return equalBytes(recovered, secp256k1.Point.fromBytes(publicKey).toBytes(true));
  } catch {
    return false;
  }
}

/** The EIP-55 checksummed EVM address of a secp256k1 public key (compressed or not). */
export function ethAddressFromPublicKey(publicKey: Uint8Array): `0x${string}` {
  let uncompressed: Uint8Array;
  try {
    uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  } catch {
    throw keyInvalid("Not a secp256k1 public key (33 bytes compressed or 65 uncompressed)");
  }
  return checksumAddress(toHex(keccak256(uncompressed.subarray(1)).subarray(12)));
}

/** EIP-55: an address (0x optional, any case) with its checksum capitals. */
export function checksumAddress(address: string): `0x${string}` {
  const hex = address.replace(/^0x/, "").toLowerCase();
  // EIP-55: upper-case each letter whose nibble in keccak(lower-case hex) is >= 8.
  const hash = toHex(keccak256(utf8(hex)));
  let out = "0x";
  for (let i = 0; i < hex.length; i++)
    out += Number.parseInt(hash[i]!, 16) >= 8 ? hex[i]!.toUpperCase() : hex[i];
  return out as `0x${string}`;
}
