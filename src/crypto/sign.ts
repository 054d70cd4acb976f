import { x25519 } from "@noble/curves/ed25519.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { randomBytes, toHex, utf8 } from "./bytes.ts";
import { keccak256 } from "./hash.ts";

export function generateX25519(): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const privateKey = randomBytes(32);
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

export function x25519PublicKey(privateKey: Uint8Array): Uint8Array {
  return x25519.getPublicKey(privateKey);
}

/** Signs a 32-byte digest: r ‖ s ‖ v with v = 27/28, as Ethereum's ecrecover expects. */
export function signDigest(privateKey: Uint8Array, digest: Uint8Array): Uint8Array {
  const sig = secp256k1.sign(digest, privateKey, { prehash: false, format: "recovered" });
  // noble's "recovered" format is recovery byte ‖ r ‖ s.
  const out = new Uint8Array(65);
  out.set(sig.subarray(1, 65), 0);
  out[64] = (sig[0] ?? 0) + 27;
  return out;
}

export function verifyDigest(publicKey: Uint8Array, digest: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 65) return false;
  try {
    return secp256k1.verify(signature.subarray(0, 64), digest, publicKey, { prehash: false, lowS: true });
  } catch {
    return false;
  }
}

/** The checksummed EVM address of a secp256k1 public key (compressed or not). */
export function ethAddressFromPublicKey(publicKey: Uint8Array): `0x${string}` {
  const uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  const hex = toHex(keccak256(uncompressed.subarray(1)).subarray(12));
  // EIP-55 checksum: upper-case each letter whose nibble in keccak(lower-case hex) is >= 8.
  const hash = toHex(keccak256(utf8(hex)));
  let out = "0x";
  for (let i = 0; i < hex.length; i++)
    out += Number.parseInt(hash[i]!, 16) >= 8 ? hex[i]!.toUpperCase() : hex[i];
  return out as `0x${string}`;
}
