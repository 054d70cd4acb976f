import { sha256 } from "@noble/hashes/sha2.js";
import { fromHex } from "./x509.ts";

/**
 * sha256(address (20 bytes) || X25519 public key (32 bytes)): the report data a node's
 * evidence must carry, binding the quote to the identity keys it registered on chain.
 * (@noble, not node:crypto: this is part of the browser build of verifyAgent.)
 */
export function identityReportData(address: `0x${string}`, encryptionPublicKey: Uint8Array): Uint8Array {
  const addr = fromHex(address.slice(2));
  const input = new Uint8Array(addr.length + encryptionPublicKey.length);
  input.set(addr);
  input.set(encryptionPublicKey, addr.length);
  return sha256(input);
}
