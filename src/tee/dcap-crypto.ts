import { p256 } from "@noble/curves/nist.js";
import { sha256 } from "@noble/hashes/sha2.js";

/**
 * The two primitives DCAP verification needs. In Node they come from node:crypto (OpenSSL:
 * ~0.1 ms per P-256 verification, against ~3.5 ms for @noble/curves on this machine); in a
 * browser from @noble (audited, synchronous, which Web Crypto is not). node:crypto is reached
 * through `process.getBuiltinModule`, never a static import, so that a browser bundle of the
 * verifier pulls in no Node built-in.
 */
export type DcapCrypto = {
  name: "node" | "noble";
  sha256(data: Uint8Array): Uint8Array;
  /** ECDSA P-256 with SHA-256. `publicKey` is the 64-byte x ‖ y, `signature` the 64-byte r ‖ s. */
  verifyP256(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
};

export const nobleCrypto: DcapCrypto = {
  name: "noble",
  sha256: (data) => sha256(data),
  verifyP256(publicKey, message, signature) {
    const point = new Uint8Array(65);
    point[0] = 4;
    point.set(publicKey, 1);
    try {
      // Intel's signatures are not low-S normalised; ECDSA itself accepts both.
      return p256.verify(signature, message, point, { lowS: false, prehash: true, format: "compact" });
    } catch {
      return false;
    }
  },
};

type NodeCrypto = typeof import("node:crypto");
type KeyObject = import("node:crypto").KeyObject;

/** SubjectPublicKeyInfo prefix of an uncompressed P-256 key. */
const SPKI_P256_PREFIX = Uint8Array.from([
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
  0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
]);

function nodeCryptoFrom(c: NodeCrypto): DcapCrypto {
  // Importing a key costs as much as a verification; the same few keys (Intel's CAs, a
  // platform's PCK key, a QE's attestation key) sign everything, so keep them.
  const keys = new Map<string, KeyObject>();
  const keyOf = (publicKey: Uint8Array): KeyObject => {
    const id = String.fromCharCode(...publicKey);
    let k = keys.get(id);
    if (!k) {
      const der = new Uint8Array(SPKI_P256_PREFIX.length + 64);
      der.set(SPKI_P256_PREFIX);
      der.set(publicKey, SPKI_P256_PREFIX.length);
      k = c.createPublicKey({ key: Buffer.from(der), format: "der", type: "spki" });
      if (keys.size >= 256) keys.delete(keys.keys().next().value as string);
      keys.set(id, k);
    }
    return k;
  };
  return {
    name: "node",
    sha256: (data) => new Uint8Array(c.createHash("sha256").update(data).digest()),
    verifyP256(publicKey, message, signature) {
      if (publicKey.length !== 64 || signature.length !== 64) return false;
      try {
        return c.verify("sha256", message, { key: keyOf(publicKey), dsaEncoding: "ieee-p1363" }, signature);
      } catch {
        return false;
      }
    },
  };
}

let chosen: DcapCrypto | undefined;

/** node:crypto when running in Node, @noble otherwise. */
export function dcapCrypto(): DcapCrypto {
  if (!chosen) {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const nodeCrypto = proc?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;
    chosen = nodeCrypto ? nodeCryptoFrom(nodeCrypto) : nobleCrypto;
  }
  return chosen;
}
