import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Hex } from "viem";
import { VeilError } from "../errors/index.ts";

/** Content-addressed storage for agent bundles: the key is the sha256 of the bytes. */
export interface BlobStore {
  put(bytes: Uint8Array): Promise<Hex>;
  /** The bytes whose sha256 is `hash`; the hash is checked, so a tampered store is caught. */
  get(hash: Hex): Promise<Uint8Array>;
  has(hash: Hex): Promise<boolean>;
}

export function contentHash(bytes: Uint8Array): Hex {
  return `0x${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A local directory: `<root>/sha256/<first two hex>/<hash>`. The default on one machine. */
export class FsBlobStore implements BlobStore {
  constructor(readonly root: string) {}

  #path(hash: Hex): string {
    if (!/^0x[0-9a-f]{64}$/.test(hash)) {
      throw new VeilError("BLOB_HASH_INVALID", `"${hash}" is not a sha256 content hash`, { status: 400 });
    }
    return join(this.root, "sha256", hash.slice(2, 4), hash.slice(2));
  }

  async put(bytes: Uint8Array): Promise<Hex> {
    const hash = contentHash(bytes);
    const path = this.#path(hash);
    if (existsSync(path)) return hash;
    mkdirSync(join(path, ".."), { recursive: true });
    // Write then rename, so a reader never sees a partial blob under its final name.
    const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
    if (contentHash(readFileSync(path)) !== hash) {
      throw new VeilError("BLOB_WRITE_FAILED", `The blob store at ${this.root} did not keep ${hash} intact`);
    }
    return hash;
  }

  async get(hash: Hex): Promise<Uint8Array> {
    const path = this.#path(hash);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch {
      throw new VeilError("BLOB_NOT_FOUND", `No blob ${hash} in the blob store at ${this.root}`, {
        status: 404,
        retryable: true,
        hint: "The bundle was registered on chain but never stored; redeploy it with `veil deploy`.",
      });
    }
    if (contentHash(bytes) !== hash) {
      throw new VeilError("BLOB_CORRUPT", `The blob ${hash} in ${this.root} does not match its hash`, {
        status: 502,
        hint: "The blob store was altered; redeploy the bundle.",
      });
    }
    return bytes;
  }

  async has(hash: Hex): Promise<boolean> {
    return existsSync(this.#path(hash));
  }
}
