import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { bytesToHex, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { deriveMasterPublicKey, deriveMasterSigningKey, randomBytes } from "../crypto/index.ts";
import { VeilError } from "../errors/index.ts";
import type { Enclave } from "../tee/index.ts";

/**
 * The master key of an epoch, sealed to this gatekeeper's enclave on disk. It is created by
 * the first gatekeeper of the network; later gatekeepers receive it from a sitting one
 * (join.ts), never from disk or from the chain.
 *
 * The host holds these files and may put old ones back. The chain is the anchor: only the key
 * of the chain's current epoch whose public key matches the one on chain is ever used (main.ts),
 * and a sealed key of an epoch the chain has moved past is destroyed on sight
 * (`destroyEndedEpochs`): a copy kept by the host cannot bring an ended epoch's key back into
 * use. A file sealed for one epoch and renamed to another does not open (the epoch is in the
 * sealing label).
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
    try {
      return await this.enclave.unseal(readFileSync(file), `master-key/${epoch}`);
    } catch (err) {
      throw new VeilError("KEY_STORE_CORRUPT", `The sealed master key ${file} does not open`, {
        cause: err,
        context: [`epoch ${epoch}`],
        hint: "It was altered, cut short, renamed from another epoch's file or sealed by another build. Remove it: the gatekeeper then receives the epoch's key from a sitting gatekeeper (or restore it from a copy).",
      });
    }
  }

  /** The epochs this store holds a sealed key for. */
  held(): bigint[] {
    if (!existsSync(this.dataDir)) return [];
    return readdirSync(this.dataDir)
      .map((name) => /^master-epoch-(\d+)\.sealed$/.exec(name)?.[1])
      .filter((e): e is string => e !== undefined)
      .map(BigInt)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * Destroys the sealed keys of epochs before `current` (the chain's): left by a crash between
   * a rotation's switch and its destruction, or put back by the host. Returns their epochs.
   */
  destroyEndedEpochs(current: bigint): bigint[] {
    const ended = this.held().filter((e) => e < current);
    for (const e of ended) this.destroy(e);
    return ended;
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

  /**
   * Keeps a master key (made here or received from a sitting gatekeeper), sealed to this
   * enclave. Written to a temporary file, synced and renamed, so that a crash leaves the old
   * file or the new one, never a torn key.
   */
  async store(epoch: bigint, key: Uint8Array): Promise<void> {
    const file = this.#file(epoch);
    const sealed = await this.enclave.seal(key, `master-key/${epoch}`);
    const tmp = `${file}.tmp-${process.pid}`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, sealed);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  }
}

export function masterPublicKeyHex(masterKey: Uint8Array): Hex {
  return bytesToHex(deriveMasterPublicKey(masterKey));
}

/** The master key's signing account: its address is on chain, it signs cluster certificates. */
export function masterSigningAccount(masterKey: Uint8Array) {
  return privateKeyToAccount(bytesToHex(deriveMasterSigningKey(masterKey)));
}
