import { createHash } from "node:crypto";

/**
 * sha256(address (20 bytes) || X25519 public key (32 bytes)): the report data a node's
 * evidence must carry, binding the quote to the identity keys it registered on chain.
 */
export function identityReportData(address: `0x${string}`, encryptionPublicKey: Uint8Array): Uint8Array {
  return createHash("sha256")
    .update(Buffer.from(address.slice(2), "hex"))
    .update(encryptionPublicKey)
    .digest();
}
