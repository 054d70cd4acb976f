import { existsSync, readFileSync } from "node:fs";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { equalBytes, stateDigestTerm, stateHeadMac, u64be } from "../crypto/index.ts";
import { VeilError } from "../errors/index.ts";
import { writeFileDurably } from "./durable-file.ts";

/**
 * Rollback protection for agents' state (docs/adr/0019). The store is hostile: it may hand back
 * an older ciphertext of a row, drop a row, or be restored whole from an older copy. So every
 * entry carries the write version it was sealed at (in its AAD), and each agent has a head in
 * the store: a counter that every write raises and a digest of the (row, version) pairs, MAC'd
 * with the agent's row key. A reader checks the rows against the head, and the head against
 * the highest counter this worker has seen, which it keeps outside the store (the anchor).
 */
export type StateAnchor = {
  /** The highest head counter seen for `agent`, if any. */
  get(agent: string): bigint | undefined;
  /** Records that `agent`'s head reached `counter` (never lowers it). */
  raise(agent: string, counter: bigint): void;
};

export type StateHead = { counter: bigint; digest: bigint; mac: Uint8Array };

const HEAD_BYTES = 8 + 32 + 32;
const DIGEST_MODULUS = 1n << 256n;

function encodeHead(head: StateHead): Uint8Array {
  const out = new Uint8Array(HEAD_BYTES);
  out.set(u64be(head.counter), 0);
  out.set(Buffer.from(head.digest.toString(16).padStart(64, "0"), "hex"), 8);
  out.set(head.mac, 40);
  return out;
}

function decodeHead(bytes: Uint8Array): StateHead | undefined {
  if (bytes.length !== HEAD_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    counter: view.getBigUint64(0),
    digest: BigInt(`0x${Buffer.from(bytes.subarray(8, 40)).toString("hex")}`),
    mac: bytes.slice(40),
  };
}

/**
 * Whose head a head is: an agent's state (its id) or another store kept the same way, such as
 * a worker's fee ledger (`fees:ADDRESS`). The owner is MAC'd into the head and keys the anchor.
 */
const describeOwner = (owner: string) =>
  /^\d+$/.test(owner)
    ? `Agent ${owner}'s state store`
    : owner.startsWith("fees:")
      ? `Worker ${owner.slice(5)}'s fee ledger`
      : owner;

export const rollbackDetected = (owner: string, what: string) =>
  new VeilError("STATE_ROLLBACK_DETECTED", `${describeOwner(owner)} went back: ${what}`, {
    status: 500,
    hint: "The store was restored from an older copy or altered; the worker refuses it rather than serve old state. Restore the latest copy of the store.",
  });

/** One agent's rows as this worker last verified them against the head. */
export type VerifiedRows = {
  head: Uint8Array | undefined;
  counter: bigint;
  digest: bigint;
  versions: Map<string, bigint>;
};

/** A store kept under heads: the head bytes of an owner, and each of its rows' write version. */
export type HeadSource = {
  head(owner: string): Uint8Array | undefined;
  rowVersions(owner: string): { row: string; version: bigint | undefined }[];
};

/** A head a writer is about to write: its counter (the rows' version), digest and bytes. */
export type NextHead = { version: bigint; digest: bigint; bytes: Uint8Array };

export class StateVersions {
  readonly #known = new Map<string, VerifiedRows>();
  readonly #anchor: StateAnchor | undefined;

  constructor(anchor?: StateAnchor) {
    this.#anchor = anchor;
  }

  /**
   * The owner's rows, verified against its head: from memory while the head is the one last
   * verified, else re-read (another writer wrote, or this process just started). For a store
   * read synchronously, in one go (the fee ledger).
   */
  verified(store: HeadSource, owner: string, rowKey: Uint8Array): VerifiedRows {
    const bytes = store.head(owner);
    return this.current(owner, bytes) ?? this.check(owner, rowKey, bytes, store.rowVersions(owner));
  }

  /**
   * The lowest head counter a read of `owner` that starts now may find: the highest seen.
   * Taken before an asynchronous read, so that a read overtaken by a newer one in this process
   * is not taken for a rollback.
   */
  floor(owner: string): bigint {
    return this.#known.get(owner)?.counter ?? this.#anchor?.get(owner) ?? 0n;
  }

  /** What was verified of `owner` if `head` is still the head it was verified at. */
  current(owner: string, head: Uint8Array | undefined): VerifiedRows | undefined {
    const known = this.#known.get(owner);
    if (!known) return undefined;
    const same = head === undefined ? known.head === undefined : known.head && equalBytes(head, known.head);
    return same ? known : undefined;
  }

  /**
   * Verifies `rows` (read in one snapshot with `bytes`, the head) and remembers them: the head
   * is MAC'd by the owner's key, not below the highest counter seen, and its digest is exactly
   * these rows at these versions. Throws STATE_ROLLBACK_DETECTED or STATE_CORRUPT otherwise.
   */
  check(
    agent: string,
    rowKey: Uint8Array,
    bytes: Uint8Array | undefined,
    rows: readonly { row: string; version: bigint | undefined }[],
    floor: bigint = this.floor(agent),
  ): VerifiedRows {
    const known = this.#known.get(agent);
    let counter = 0n;
    let digest = 0n;
    if (bytes === undefined) {
      if (floor > 0n) throw rollbackDetected(agent, `its head is gone (this worker saw write ${floor})`);
    } else {
      const head = decodeHead(bytes);
      if (!head || !equalBytes(head.mac, stateHeadMac(rowKey, agent, head.counter, head.digest))) {
        throw new VeilError("STATE_CORRUPT", `${describeOwner(agent)}'s head is not one its key made`, {
          status: 500,
          hint: "The storage was altered; restore it from a copy.",
        });
      }
      if (head.counter < floor) {
        throw rollbackDetected(agent, `its head is at write ${head.counter}, this worker saw write ${floor}`);
      }
      counter = head.counter;
      digest = head.digest;
    }
    const versions = new Map<string, bigint>();
    let sum = 0n;
    for (const { row, version } of rows) {
      if (version === undefined || version > counter) {
        throw rollbackDetected(agent, `a row claims write ${version ?? "?"}, past the head's ${counter}`);
      }
      versions.set(row, version);
      sum = (sum + stateDigestTerm(rowKey, row, version)) % DIGEST_MODULUS;
    }
    if (sum !== digest) {
      throw rollbackDetected(
        agent,
        "its rows are not the ones its head counts (an entry was replaced by an older one, removed or added)",
      );
    }
    const next: VerifiedRows = { head: bytes, counter, digest, versions };
    // A reader that verified an older snapshot after a newer one never moves what is known back.
    if (!known || counter >= known.counter) this.#known.set(agent, next);
    if (counter > 0n) this.#anchor?.raise(agent, counter);
    return next;
  }

  /** The head after writing `row` at the next version (or deleting it, `remove`). */
  nextHead(known: VerifiedRows, owner: string, rowKey: Uint8Array, row: string, remove: boolean): NextHead {
    return this.nextHeadFor(known, owner, rowKey, [{ row, remove }]);
  }

  /** The head after one write of several rows, all at the next version. */
  nextHeadFor(
    known: VerifiedRows,
    owner: string,
    rowKey: Uint8Array,
    changes: readonly { row: string; remove: boolean }[],
  ): NextHead {
    const version = known.counter + 1n;
    let digest = known.digest;
    for (const { row, remove } of changes) {
      const old = known.versions.get(row);
      if (old !== undefined)
        digest = (digest - stateDigestTerm(rowKey, row, old) + DIGEST_MODULUS) % DIGEST_MODULUS;
      if (!remove) digest = (digest + stateDigestTerm(rowKey, row, version)) % DIGEST_MODULUS;
    }
    const mac = stateHeadMac(rowKey, owner, version, digest);
    return { version, digest, bytes: encodeHead({ counter: version, digest, mac }) };
  }

  /** Takes a write this worker made as verified, without re-reading. */
  wrote(agent: string, known: VerifiedRows, row: string, next: NextHead, remove: boolean): void {
    this.wroteAll(agent, known, [{ row, remove }], next);
  }

  /** Takes a write of several rows this worker made as verified. */
  wroteAll(
    agent: string,
    known: VerifiedRows,
    changes: readonly { row: string; remove: boolean }[],
    next: NextHead,
  ): void {
    const versions = new Map(known.versions);
    for (const { row, remove } of changes) {
      if (remove) versions.delete(row);
      else versions.set(row, next.version);
    }
    const current = this.#known.get(agent);
    if (!current || next.version >= current.counter)
      this.#known.set(agent, { head: next.bytes, counter: next.version, digest: next.digest, versions });
    this.#anchor?.raise(agent, next.version);
  }
}

/**
 * The anchor in a file of the worker's data directory, MAC'd with a key only its TEE holds
 * (derived from its sealed identity). A restore of the state store alone is caught across
 * restarts; against a restore of the worker's data directory with it, the worker also anchors
 * these counters at the gatekeepers and takes theirs back at start (src/worker/anchoring.ts).
 */
export class FileStateAnchor implements StateAnchor {
  readonly #path: string;
  readonly #key: Uint8Array;
  readonly #counters = new Map<string, bigint>();
  #changes = 0;

  constructor(path: string, macKey: Uint8Array) {
    this.#path = path;
    this.#key = macKey;
    if (!existsSync(path)) return;
    const text = readFileSync(path, "utf8");
    let parsed: { counters: Record<string, string>; mac: string };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw this.#corrupt("not JSON");
    }
    if (!parsed.counters || parsed.mac !== this.#mac(parsed.counters))
      throw this.#corrupt("its MAC does not match");
    for (const [agent, counter] of Object.entries(parsed.counters))
      this.#counters.set(agent, BigInt(counter));
  }

  get(agent: string): bigint | undefined {
    return this.#counters.get(agent);
  }

  raise(agent: string, counter: bigint): void {
    this.merge({ [agent]: counter.toString() });
  }

  /** Every counter, as decimal strings (what the worker anchors at the gatekeepers too). */
  snapshot(): Record<string, string> {
    return Object.fromEntries([...this.#counters].map(([a, c]) => [a, c.toString()]));
  }

  /** How many times a counter was raised: a cheap way to tell whether there is news to anchor. */
  get changes(): number {
    return this.#changes;
  }

  /** Raises each counter to the one given where that is higher (one write for all). */
  merge(given: Record<string, string>): void {
    let raised = false;
    for (const [agent, value] of Object.entries(given)) {
      if (!/^\d{1,20}$/.test(value)) continue;
      const counter = BigInt(value);
      if ((this.#counters.get(agent) ?? 0n) >= counter) continue;
      this.#counters.set(agent, counter);
      raised = true;
    }
    if (!raised) return;
    this.#changes++;
    const counters = this.snapshot();
    writeFileDurably(this.#path, JSON.stringify({ counters, mac: this.#mac(counters) }));
  }

  #mac(counters: Record<string, string>): string {
    const canonical = JSON.stringify(Object.entries(counters).sort(([a], [b]) => (a < b ? -1 : 1)));
    return Buffer.from(hmac(sha256, this.#key, new TextEncoder().encode(canonical))).toString("hex");
  }

  #corrupt(problem: string): VeilError {
    return new VeilError("STATE_ANCHOR_CORRUPT", `The state anchor ${this.#path} is damaged: ${problem}`, {
      hint: "It was altered or cut short. Without it the worker cannot tell old state from new: restore it, or remove it to trust the state store as it is.",
    });
  }
}
