import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bytesToHex, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { deriveMasterPublicKey, deriveMasterSigningKey, randomBytes } from "../crypto/index.ts";
import type { Enclave } from "../tee/index.ts";

/**
 * The master key of an epoch, sealed to this gatekeeper's enclave on disk. It is created by
 * the first gatekeeper of the network; later gatekeepers receive it from a sitting one
 * (join.ts), never from disk or from the chain.
 */
export class MasterKeyStore {
  constructor(
    private readonly enclave: Enclave,
    private readonly dataDir: string,
  ) {}

  #file(epoch: bigint): string {
    return join(this.dataDir, `master-epoch-${epoch}.sealed`);
  }

  async load(epoch: bigint): Promise<Uint8Array | undefined> {
    const file = this.#file(epoch);
    if (!existsSync(file)) return undefined;
    return this.enclave.unseal(readFileSync(file), `master-key/${epoch}`);
  }

  async create(epoch: bigint): Promise<Uint8Array> {
    const key = randomBytes(32);
    await this.store(epoch, key);
    return key;
  }

  /**
   * Destroys the sealed master key of an ended epoch: the file is overwritten, then removed,
   * so that this gatekeeper can no longer produce it (ADR 0010).
   */
  destroy(epoch: bigint): void {
    const file = this.#file(epoch);
    if (!existsSync(file)) return;
    writeFileSync(file, new Uint8Array(readFileSync(file).length));
    rmSync(file);
  }

  has(epoch: bigint): boolean {
    return existsSync(this.#file(epoch));
  }

  /** Keeps a master key received from a sitting gatekeeper, sealed to this enclave. */
  async store(epoch: bigint, key: Uint8Array): Promise<void> {
    writeFileSync(this.#file(epoch), await this.enclave.seal(key, `master-key/${epoch}`), { mode: 0o600 });
  }
}

export function masterPublicKeyHex(masterKey: Uint8Array): Hex {
  return bytesToHex(deriveMasterPublicKey(masterKey));
}

/** The master key's signing account: its address is on chain, it signs cluster certificates. */
export function masterSigningAccount(masterKey: Uint8Array) {
  return privateKeyToAccount(bytesToHex(deriveMasterSigningKey(masterKey)));
}
