import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { VeilError } from "../errors/index.ts";

/** AES-256-GCM under a key derived from `root` and the label; iv || ciphertext || tag. */
export function sealWithKey(root: Uint8Array, label: string, plaintext: Uint8Array): Uint8Array {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", labelKey(root, label), iv);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, ct, cipher.getAuthTag()]);
}

export function unsealWithKey(root: Uint8Array, label: string, sealed: Uint8Array): Uint8Array {
  try {
    const buf = Buffer.from(sealed);
    if (buf.length < 28) throw new Error("too short");
    const decipher = createDecipheriv("aes-256-gcm", labelKey(root, label), buf.subarray(0, 12));
    decipher.setAuthTag(buf.subarray(buf.length - 16));
    return Buffer.concat([decipher.update(buf.subarray(12, buf.length - 16)), decipher.final()]);
  } catch (err) {
    throw new VeilError("UNSEAL_FAILED", `Sealed data "${label}" could not be opened by this enclave`, {
      cause: err,
      hint: "It was sealed by another enclave, build or data directory, or it was altered.",
    });
  }
}

function labelKey(root: Uint8Array, label: string): Buffer {
  return createHash("sha256").update(root).update("veil/seal/").update(label).digest();
}
