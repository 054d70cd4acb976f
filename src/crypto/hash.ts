import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { toHex } from "./bytes.ts";

export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

export function sha256Hex(data: Uint8Array): `0x${string}` {
  return `0x${toHex(sha256(data))}`;
}

export function keccak256(data: Uint8Array): Uint8Array {
  return keccak_256(data);
}
