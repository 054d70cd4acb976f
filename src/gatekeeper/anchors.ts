import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { type Hex, isAddress, isHex, recoverMessageAddress } from "viem";
import type { VeilChain } from "../chain/index.ts";
import type { NodeIdentity } from "../daemon/identity.ts";
import { VeilError } from "../errors/index.ts";
import { writeFileDurably } from "../storage/durable-file.ts";
import {
  ANCHOR_WINDOW_S,
  type AnchorCounters,
  type AnchorMessage,
  anchorDigest,
  canonicalCounters,
  type HeldAnchor,
} from "./protocol.ts";

// Workers' state counters, anchored off the worker's host (docs/adr/0019, 0020). A worker's own
// anchor file lives in its data directory, so a host that restores that directory together with
// the state store rolls both back. The worker therefore also sends its counters here, signed by
// its identity key, and takes back the highest at start: a restore of the worker's host alone is
// caught (STATE_ROLLBACK_DETECTED) for every write anchored before it.

/**
 * The counters this gatekeeper holds for each worker, in a file of its data directory MAC'd with
 * a key from its sealed identity; counters only ever rise.
 */
export class AnchorBook {
  readonly #path: string;
  readonly #key: Uint8Array;
  readonly #workers = new Map<string, AnchorCounters>();

  constructor(dataDir: string, macKey: Uint8Array) {
    this.#path = join(dataDir, "worker-anchors.json");
    this.#key = macKey;
    if (!existsSync(this.#path)) return;
    let parsed: { workers: Record<string, AnchorCounters>; mac: string };
    try {
      parsed = JSON.parse(readFileSync(this.#path, "utf8")) as typeof parsed;
    } catch {
      throw this.#corrupt("not JSON");
    }
    if (!parsed.workers || parsed.mac !== this.#mac(parsed.workers))
      throw this.#corrupt("its MAC does not match");
    for (const [worker, counters] of Object.entries(parsed.workers)) this.#workers.set(worker, counters);
  }

  get(worker: Hex): AnchorCounters {
    return { ...(this.#workers.get(worker.toLowerCase()) ?? {}) };
  }

  /** Raises the worker's counters to the ones given where higher; written before it returns. */
  merge(worker: Hex, given: AnchorCounters): void {
    const key = worker.toLowerCase();
    const held = { ...(this.#workers.get(key) ?? {}) };
    let raised = false;
    for (const [owner, value] of Object.entries(given)) {
      if (BigInt(value) > BigInt(held[owner] ?? "0")) {
        held[owner] = value;
        raised = true;
      }
    }
    if (!raised) return;
    this.#workers.set(key, held);
    const workers = Object.fromEntries(this.#workers);
    writeFileDurably(this.#path, JSON.stringify({ workers, mac: this.#mac(workers) }));
  }

  #mac(workers: Record<string, AnchorCounters>): string {
    const text = JSON.stringify(
      Object.entries(workers)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([w, c]) => [w, canonicalCounters(c)]),
    );
    return Buffer.from(hmac(sha256, this.#key, new TextEncoder().encode(text))).toString("hex");
  }

  #corrupt(problem: string): VeilError {
    return new VeilError(
      "STATE_ANCHOR_CORRUPT",
      `The workers' anchors ${this.#path} are damaged: ${problem}`,
      {
        hint: "Restore the file from a copy. Removing it forgets every worker's anchored counters: their restored stores would go unnoticed.",
      },
    );
  }
}

const refuse = (message: string, status = 400) =>
  new VeilError("ANCHOR_REQUEST_INVALID", message, {
    status,
    hint: "Workers send these themselves (signed by their identity key, with the current time).",
  });

const MAX_OWNERS = 100_000;

/** The gatekeeper's side: take a worker's counters, and hand back the ones it holds, signed. */
export class AnchorService {
  constructor(
    private readonly o: { chain: VeilChain; identity: NodeIdentity; book: AnchorBook; now?: () => number },
  ) {}

  async put(input: unknown): Promise<{ ok: true }> {
    const m = parseMessage(input, true);
    await this.#check(m, "put");
    // Only a worker the registry lists may anchor anything (so strangers cannot fill the book).
    if (!(await this.o.chain.getWorker(m.worker))) refuseUnlisted(m.worker);
    this.o.book.merge(m.worker, m.counters);
    return { ok: true };
  }

  async get(input: unknown): Promise<HeldAnchor> {
    const m = parseMessage(input, false);
    await this.#check(m, "get");
    const counters = this.o.book.get(m.worker);
    const at = m.at;
    const signature = await this.o.identity.account.signMessage({
      message: {
        raw: anchorDigest({
          chainId: this.o.chain.config.chainId,
          kind: "held",
          worker: m.worker,
          counters,
          at,
        }),
      },
    });
    return { worker: m.worker, counters, at, gatekeeper: this.o.identity.address, signature };
  }

  async #check(m: AnchorMessage, kind: "put" | "get"): Promise<void> {
    const now = Math.floor((this.o.now?.() ?? Date.now()) / 1000);
    if (Math.abs(now - m.at) > ANCHOR_WINDOW_S)
      throw refuse(`the message is ${now - m.at} s from this gatekeeper's clock`, 401);
    const digest = anchorDigest({ chainId: this.o.chain.config.chainId, kind, ...m });
    const signer = await recoverMessageAddress({ message: { raw: digest }, signature: m.signature }).catch(
      () => undefined,
    );
    if (!signer || signer.toLowerCase() !== m.worker.toLowerCase())
      throw refuse("it is not signed by the worker it names", 401);
  }
}

function refuseUnlisted(worker: Hex): never {
  throw new VeilError("WORKER_NOT_REGISTERED", `Worker ${worker} is not registered on chain`, {
    status: 403,
  });
}

function parseMessage(input: unknown, withCounters: boolean): AnchorMessage {
  if (typeof input !== "object" || input === null) throw refuse("not an object");
  const r = input as Record<string, unknown>;
  if (typeof r.worker !== "string" || !isAddress(r.worker)) throw refuse("worker must be an address");
  if (!Number.isSafeInteger(r.at)) throw refuse("at must be unix seconds");
  if (typeof r.signature !== "string" || !isHex(r.signature) || r.signature.length !== 132)
    throw refuse("signature");
  const counters: AnchorCounters = {};
  if (withCounters) {
    const c = r.counters;
    if (typeof c !== "object" || c === null || Array.isArray(c)) throw refuse("counters must be an object");
    const entries = Object.entries(c as Record<string, unknown>);
    if (entries.length > MAX_OWNERS) throw refuse("too many counters");
    for (const [owner, value] of entries) {
      if (owner.length > 200 || typeof value !== "string" || !/^\d{1,20}$/.test(value))
        throw refuse(`counter ${owner}`);
      counters[owner] = value;
    }
  }
  return { worker: r.worker as Hex, counters, at: r.at as number, signature: r.signature as Hex };
}
