import { secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesToNumberBE } from "@noble/curves/utils.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, concatBytes, hexToBytes } from "@noble/hashes/utils.js";

/**
 * Checks EVM signatures of 32-byte digests (EIP-712 digests signed as they are, or EIP-191
 * personal messages as viem's `signMessage({ message: { raw } })` makes) from signers seen before, fast. Recovering the signer is a full secp256k1 recovery each time
 * (~1 ms here); a caller that checks many receipts from the same agent and worker keys can
 * verify against the remembered public key instead, with a precomputed multiplication table for
 * it, which is several times cheaper. The first signature from an address is recovered (and must
 * name the address); later ones are verified with the same rules noble's `verify` applies to a
 * recovered-format signature (r, s in range, R = u1·G + u2·P not infinity, R.x ≡ r, and the
 * recovery bit matching R), so the answer is the one recovery would give.
 */
type Point = InstanceType<typeof secp256k1.Point>;

const { Point, Signature } = secp256k1;
const Fn = Point.Fn;
const PREFIX = new TextEncoder().encode("\x19Ethereum Signed Message:\n32");
/**
 * Signers remembered at most. Each holds a table of 6-bit windows (43 × 32 points, ~140 KB):
 * measured here, a verification with 6-bit windows takes ~0.43 ms against ~0.6 ms with 4-bit
 * ones (7 and 8 bits gain nothing more).
 */
const MAX_SIGNERS = 128;
const WINDOW_BITS = 6;

function personalHash(digest: Uint8Array): Uint8Array {
  return keccak_256(concatBytes(PREFIX, digest));
}

function addressOf(point: Point): string {
  const uncompressed = point.toBytes(false);
  return `0x${bytesToHex(keccak_256(uncompressed.subarray(1)).subarray(12))}`;
}

/** r ‖ s ‖ v (v 27/28 or 0/1) → the signature and its recovery bit, or undefined if malformed. */
function parse(signature: Uint8Array): { sig: InstanceType<typeof Signature>; recovery: number } | undefined {
  if (signature.length !== 65) return undefined;
  const v = signature[64]!;
  const recovery = v >= 27 ? v - 27 : v;
  if (recovery !== 0 && recovery !== 1) return undefined;
  try {
    return {
      sig: Signature.fromBytes(signature.subarray(0, 64), "compact").addRecoveryBit(recovery),
      recovery,
    };
  } catch {
    return undefined;
  }
}

export class KnownSigners {
  readonly #points = new Map<string, Point>();

  /**
   * Whether `signature` over the 32-byte `digest` (as a personal message) is by `address`.
   * Never throws on malformed input: a bad signature is simply not the address's.
   */
  verify(
    address: string,
    digest: Uint8Array,
    signature: Uint8Array | string,
    /** EIP-191: the digest was signed as a personal message; otherwise as it is (EIP-712). */
    personal = true,
  ): boolean {
    const sigBytes = typeof signature === "string" ? safeHex(signature) : signature;
    if (!sigBytes || digest.length !== 32) return false;
    const parsed = parse(sigBytes);
    if (!parsed) return false;
    const key = address.toLowerCase();
    const hash = personal ? personalHash(digest) : digest;
    const known = this.#points.get(key);
    if (!known) return this.#learn(key, parsed.sig, hash);
    const { r, s } = parsed.sig;
    const h = Fn.create(bytesToNumberBE(hash));
    const is = Fn.inv(s);
    const R = Point.BASE.multiplyUnsafe(Fn.create(h * is)).add(known.multiplyUnsafe(Fn.create(r * is)));
    if (R.is0()) return false;
    const { x, y } = R.toAffine();
    if (Fn.create(x) !== r) return false;
    const bit = (y & 1n ? 1 : 0) | (x === r ? 0 : 2);
    return bit === parsed.recovery;
  }

  #learn(key: string, sig: InstanceType<typeof Signature>, hash: Uint8Array): boolean {
    let point: Point;
    try {
      point = sig.recoverPublicKey(hash);
    } catch {
      return false;
    }
    if (addressOf(point) !== key) return false;
    if (this.#points.size >= MAX_SIGNERS) {
      const oldest = this.#points.keys().next().value;
      if (oldest !== undefined) this.#points.delete(oldest);
    }
    this.#points.set(key, point.precompute(WINDOW_BITS, false));
    return true;
  }
}

function safeHex(hex: string): Uint8Array | undefined {
  if (!/^0x([0-9a-fA-F]{2})*$/.test(hex)) return undefined;
  return hexToBytes(hex.slice(2));
}

/** The process's remembered signers (agents' and workers' receipt keys, signed callers). */
export const knownSigners = new KnownSigners();
const shared = knownSigners;

/** 65 bytes of hex (r ‖ s ‖ v): anything else cannot be a signature. */
export function isSignatureHex(value: unknown): value is `0x${string}` {
  return typeof value === "string" && /^0x[0-9a-fA-F]{130}$/.test(value);
}

/** Whether `signature` over the 32-byte hex `digest` (EIP-712 typed data: signed as it is) is by `address`. */
export function signedBy(address: string, digest: string, signature: string): boolean {
  const bytes = safeHex(digest);
  return bytes !== undefined && shared.verify(address, bytes, signature, false);
}

/** Whether `signature` over the 32-byte hex `digest` as an EIP-191 personal message is by `address`. */
export function personalSignedBy(address: string, digest: string, signature: string): boolean {
  const bytes = safeHex(digest);
  return bytes !== undefined && shared.verify(address, bytes, signature, true);
}
