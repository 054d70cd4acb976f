import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { x25519 } from "@noble/curves/ed25519.js";
import { bytesToHex, type Hex, type PrivateKeyAccount } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Enclave } from "../tee/index.ts";
import { identityReportData } from "../tee/report-data.ts";

/**
 * A TEE node's identity (worker or gatekeeper): a secp256k1 signing key, whose EVM address
 * names the node on chain, and an X25519 key that keys are encrypted to. Both are made inside
 * the enclave and kept sealed to it; the attestation binds their hash (see reportData).
 */
export class NodeIdentity {
  readonly account: PrivateKeyAccount;
  readonly encryptionPublicKey: Uint8Array;
  readonly #encryptionPrivateKey: Uint8Array;

  private constructor(signingKey: Hex, encryptionPrivateKey: Uint8Array) {
    this.account = privateKeyToAccount(signingKey);
    this.#encryptionPrivateKey = encryptionPrivateKey;
    this.encryptionPublicKey = x25519.getPublicKey(encryptionPrivateKey);
  }

  get address(): Hex {
    return this.account.address;
  }

  get encryptionKeyHex(): Hex {
    return bytesToHex(this.encryptionPublicKey);
  }

  /** For opening envelopes addressed to this node; never leaves the process. */
  encryptionPrivateKey(): Uint8Array {
    return this.#encryptionPrivateKey;
  }

  /** The report data its attestation must carry. */
  reportData(): Uint8Array {
    return identityReportData(this.address, this.encryptionPublicKey);
  }

  /** Loads the identity sealed in `dataDir`, or makes and seals a new one. */
  static async loadOrCreate(enclave: Enclave, dataDir: string): Promise<NodeIdentity> {
    // Without sealing that survives a restart, a node is a new node each time it starts.
    if (!enclave.persistentSealing) return new NodeIdentity(bytesToHex(randomBytes(32)), randomBytes(32));
    const file = join(dataDir, "identity.sealed");
    if (existsSync(file)) {
      const raw = await enclave.unseal(readFileSync(file), "node-identity");
      return new NodeIdentity(bytesToHex(raw.subarray(0, 32)), raw.subarray(32, 64));
    }
    const signing = randomBytes(32);
    const encryption = randomBytes(32);
    writeFileSync(file, await enclave.seal(Buffer.concat([signing, encryption]), "node-identity"), {
      mode: 0o600,
    });
    return new NodeIdentity(bytesToHex(signing), encryption);
  }
}

export { identityReportData } from "../tee/report-data.ts";
