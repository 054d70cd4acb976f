import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { VeilError } from "../errors/index.ts";
import { NodeBuffer, nodeCrypto } from "./platform.ts";

// Browser-safe (the web console seals requests with it): Buffer and node:crypto only when
// running in Node (platform.ts), @noble and web APIs otherwise.

export function toHex(bytes: Uint8Array): string {
  if (!NodeBuffer) return bytesToHex(bytes);
  return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

export function fromHex(hex: string): Uint8Array {
  if (typeof hex !== "string") {
    throw new VeilError("INVALID_HEX", "The value is not a hex string", {
      hint: "Pass hex digits, 0x-prefixed or not.",
    });
  }
  const clean = hex.startsWith("0x") || hex.startsWith("0X") ? hex.slice(2) : hex;
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new VeilError("INVALID_HEX", "The value is not an even-length hex string", {
      hint: "Pass hex digits, 0x-prefixed or not.",
    });
  }
  return NodeBuffer ? new Uint8Array(NodeBuffer.from(clean, "hex")) : hexToBytes(clean);
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Constant-time comparison (for MACs, keys and digests). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if (nodeCrypto) return nodeCrypto.timingSafeEqual(a, b);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

export function randomBytes(n: number): Uint8Array {
  if (nodeCrypto) return new Uint8Array(nodeCrypto.randomBytes(n));
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65536 bytes a call.
  for (let i = 0; i < n; i += 65_536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65_536)));
  return out;
}

const MAX_U64 = (1n << 64n) - 1n;

/**
 * 8-byte big-endian encoding of an integer in [0, 2^64). Out-of-range values are refused rather
 * than wrapped, because a wrapped epoch would silently derive another epoch's key.
 */
export function u64be(value: bigint | number): Uint8Array {
  const valid =
    typeof value === "bigint" ? value >= 0n && value <= MAX_U64 : Number.isSafeInteger(value) && value >= 0;
  if (!valid) {
    throw new VeilError("BAD_ARGUMENT", "Expected an integer between 0 and 2^64 - 1", {
      context: [`got: ${String(value)}`],
      hint: "Epochs and counters are unsigned 64-bit integers.",
    });
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value));
  return out;
}

/** A length-prefixed (u32 big-endian) string, so that concatenations cannot be ambiguous. */
export function lengthPrefixed(text: string): Uint8Array {
  const bytes = utf8(text);
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}
