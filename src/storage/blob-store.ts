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

/** The largest bundle a node accepts or fetches (the SDK builds at most 5 MiB; room to grow). */
export const MAX_BLOB_BYTES = 16 * 1024 * 1024;

/** Somewhere a bundle may be found by its hash: another node over HTTP, or a directory here. */
export type BlobSource = { name: string; get(hash: Hex): Promise<Uint8Array | undefined> };

/**
 * A node's `GET /v1/bundles/HASH` (gateways and workers serve the bundles they hold). What it
 * answers is only taken if its sha256 is the hash asked for.
 */
export function httpBlobSource(baseUrl: string, timeoutMs = 10_000): BlobSource {
  return {
    name: baseUrl,
    async get(hash) {
      const res = await fetch(`${baseUrl.replace(/\/$/, "")}/v1/bundles/${hash}`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (res.status !== 200) {
        await res.body?.cancel();
        return undefined;
      }
      const length = Number(res.headers.get("content-length") ?? "0");
      if (length > MAX_BLOB_BYTES) {
        await res.body?.cancel();
        return undefined;
      }
      const bytes = new Uint8Array(await res.arrayBuffer());
      return bytes.byteLength <= MAX_BLOB_BYTES ? bytes : undefined;
    },
  };
}

/** A directory blob store on this host as a source (the network's own, on its machine). */
export function directoryBlobSource(store: BlobStore, name: string): BlobSource {
  return { name, get: async (hash) => ((await store.has(hash)) ? store.get(hash) : undefined) };
}

/**
 * A node's bundles: those it holds, and any other fetched by hash from the sources (peers) on
 * first use, checked against the hash and then kept. A worker on another host gets an agent's
 * code this way, from the gateway it was uploaded to or from another worker that has it.
 */
export class PeerBlobStore implements BlobStore {
  readonly #local: BlobStore;
  readonly #sources: () => Promise<readonly BlobSource[]>;

  constructor(local: BlobStore, sources: () => Promise<readonly BlobSource[]>) {
    this.#local = local;
    this.#sources = sources;
  }

  put(bytes: Uint8Array): Promise<Hex> {
    return this.#local.put(bytes);
  }

  has(hash: Hex): Promise<boolean> {
    return this.#local.has(hash);
  }

  async get(hash: Hex): Promise<Uint8Array> {
    if (await this.#local.has(hash)) return this.#local.get(hash);
    const tried = new Set<string>();
    // `veil deploy` registers the version, then uploads: a worker that saw the registration
    // first asks again for a few seconds before it gives up (and retries later).
    for (let round = 0; round < 10; round++) {
      if (round > 0) await new Promise((r) => setTimeout(r, 500));
      for (const source of await this.#sources()) {
        let bytes: Uint8Array | undefined;
        try {
          bytes = await source.get(hash);
        } catch {
          bytes = undefined; // down or slow: the next source
        }
        tried.add(source.name);
        if (bytes && contentHash(bytes) === hash) {
          await this.#local.put(bytes);
          return bytes;
        }
      }
    }
    throw new VeilError("BLOB_NOT_FOUND", `No bundle ${hash} here or at ${tried.size} peers`, {
      status: 503,
      retryable: true,
      context: [...tried],
      hint: "The bundle was not uploaded yet (veil deploy uploads it to the gateway), or no peer that has it is reachable.",
    });
  }
}
