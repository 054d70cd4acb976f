import {
  epochOfValue,
  openEpochState,
  sealEpochState,
  sealVersionedState,
  stateRowKey,
  versionOfValue,
} from "../crypto/index.ts";
import { VeilError } from "../errors/index.ts";
import { type StateStore, sameHead } from "./state-store.ts";
import { rollbackDetected, type VerifiedRows } from "./state-versions.ts";

export type StateQuota = {
  /** Sealed bytes an agent may keep in all. */
  maxBytes: number;
  /** Entries an agent may keep. */
  maxKeys: number;
  /** Longest key name, in UTF-8 bytes. */
  maxKeyBytes: number;
  /** Largest single value, in bytes. */
  maxValueBytes: number;
};

export const DEFAULT_STATE_QUOTA: StateQuota = {
  maxBytes: 16 * 1024 * 1024,
  maxKeys: 10_000,
  maxKeyBytes: 512,
  maxValueBytes: 1024 * 1024,
};

/**
 * The keys of one agent's state (ADR 0013). Rows are named under the stable, root-derived key,
 * so a rotation re-encrypts values in place; values are sealed under the key of the epoch they
 * were written in, which needs both the agent root and that epoch's cluster key.
 */
export type StateKeys = {
  /** Names rows (HMAC); stable across rotations. */
  readonly rowKey: Uint8Array;
  /** The epoch new entries are written under, and its key. */
  current(): { epoch: bigint; key: Uint8Array };
  /** The key of `epoch` while this worker still holds it, else undefined. */
  forEpoch(epoch: bigint): Uint8Array | undefined;
};

/** One fixed key (epoch 0): the dev server and tests that need no rotation. */
export function fixedStateKeys(stateKey: Uint8Array): StateKeys {
  return {
    rowKey: stateKey,
    current: () => ({ epoch: 0n, key: stateKey }),
    forEpoch: (epoch) => (epoch === 0n ? stateKey : undefined),
  };
}

/**
 * Re-encrypts every entry of an agent written under epoch `from` to epoch `to`, in one
 * transaction (a rotation, ADR 0013); from then on the store refuses writes sealed under an
 * older epoch than `to`. Returns the entries changed and their sealed bytes.
 */
export async function reencryptAgentState(
  store: StateStore,
  agentId: bigint,
  from: { epoch: bigint; key: Uint8Array },
  to: { epoch: bigint; key: Uint8Array },
): Promise<{ rows: number; bytes: number }> {
  let bytes = 0;
  const rows = await store.rewrite(agentId.toString(), to.epoch, (row, value) => {
    if (epochOfValue(value) !== from.epoch) return undefined;
    const plain = openEpochState(from.key, agentId, row, value);
    // The entry keeps its write version: the agent's head counts it as it was.
    const version = versionOfValue(value) ?? 0n;
    const next =
      version > 0n
        ? sealVersionedState(to.key, to.epoch, version, agentId, row, plain)
        : sealEpochState(to.key, to.epoch, agentId, row, plain);
    bytes += next.length;
    return next;
  });
  return { rows, bytes };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** How many times a read or write starts over when other writers keep moving the head. */
const MAX_ATTEMPTS = 100;

/** The most entries one `ctx.state.transaction` may write. */
export const MAX_TRANSACTION_WRITES = 128;

/**
 * One agent's `ctx.state`: each entry's name and value sealed together under the agent's state
 * key of the current epoch, at a row named by an HMAC of the name. The store never sees a name or a value; an entry
 * copied to another agent's or another name's row does not open.
 *
 * Consistency (docs/adr/0024): every read goes to the store, so a read after an acknowledged
 * write sees it on any worker sharing the store; a write is a compare-and-set on the agent's
 * head, so none is lost; `commit` applies a transaction's writes only if nothing was written
 * since its reads (the caller retries it otherwise).
 */
export class EncryptedAgentState {
  readonly #store: StateStore;
  readonly #agentId: bigint;
  readonly #agent: string;
  readonly #keys: StateKeys;
  readonly #quota: StateQuota;
  /** Sealed bytes written so far, for metering. */
  bytesWritten = 0;

  constructor(
    store: StateStore,
    agentId: bigint,
    keys: Uint8Array | StateKeys,
    quota: StateQuota = DEFAULT_STATE_QUOTA,
  ) {
    this.#store = store;
    this.#agentId = agentId;
    this.#agent = agentId.toString();
    this.#keys = keys instanceof Uint8Array ? fixedStateKeys(keys) : keys;
    this.#quota = quota;
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    return (await this.read(name)).value;
  }

  /**
   * An entry's value and the agent's write counter it was read at: what a transaction's reads
   * are checked against when it commits.
   */
  async read(name: string): Promise<{ value: Uint8Array | undefined; at: bigint }> {
    const row = this.#row(name);
    const { versions } = this.#store;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const floor = versions.floor(this.#agent);
      const { value: sealed, head } = await this.#store.read(this.#agent, row);
      const known = await this.#verifiedAt(head, floor);
      // The head moved between reading the row and reading the others' versions: read again.
      if (!known) continue;
      const expected = known.versions.get(row);
      const version = sealed ? versionOfValue(sealed) : undefined;
      if (expected !== version) {
        throw rollbackDetected(
          this.#agent,
          sealed
            ? `an entry is at write ${version}, its head counts write ${expected ?? "none"}`
            : `an entry its head counts (write ${expected}) is missing`,
        );
      }
      return { value: sealed ? this.#open(row, sealed).value : undefined, at: known.counter };
    }
    throw busy();
  }

  async put(name: string, value: Uint8Array): Promise<void> {
    const outcome = await this.#write([this.#change(name, value)], undefined);
    if (outcome === "over-quota") throw overQuota(this.#quota);
  }

  async delete(name: string): Promise<boolean> {
    const row = this.#row(name);
    const known = await this.#latest();
    if (!known.versions.has(row)) return false;
    await this.#write([{ row, plain: undefined }], undefined);
    return true;
  }

  /**
   * Applies a transaction's writes (`undefined` deletes) in one write, if the agent's counter is
   * still `at` (what its reads saw; undefined when it read nothing). False when another write
   * came first: the transaction must run again on what is there now.
   */
  async commit(
    at: bigint | undefined,
    writes: readonly [string, Uint8Array | undefined][],
  ): Promise<boolean> {
    if (writes.length > MAX_TRANSACTION_WRITES) {
      throw limit(
        `A transaction writes at most ${MAX_TRANSACTION_WRITES} entries; this one writes ${writes.length}`,
      );
    }
    const changes = writes.map(([name, value]) =>
      value === undefined ? { row: this.#row(name), plain: undefined } : this.#change(name, value),
    );
    if (new Set(changes.map((c) => c.row)).size !== changes.length) {
      throw badKey("a transaction writes each entry once");
    }
    if (changes.length === 0) return at === undefined || (await this.#latest()).counter === at;
    let expected: VerifiedRows | undefined;
    if (at !== undefined) {
      expected = await this.#latest();
      if (expected.counter !== at) return false;
    }
    const outcome = await this.#write(changes, expected);
    if (outcome === "over-quota") throw overQuota(this.#quota);
    return outcome === "written";
  }

  async list(prefix: string, limit: number): Promise<string[]> {
    const { versions } = this.#store;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const floor = versions.floor(this.#agent);
      const { head, rows } = await this.#store.rows(this.#agent);
      const known = await this.#verifiedAt(head, floor);
      if (!known) continue;
      const names: string[] = [];
      for (const { row, value } of rows) {
        if (known.versions.get(row) !== versionOfValue(value)) {
          throw rollbackDetected(this.#agent, "an entry is not at the write its head counts");
        }
        const { name } = this.#open(row, value);
        if (name.startsWith(prefix)) names.push(name);
      }
      if (rows.length !== known.versions.size) {
        throw rollbackDetected(
          this.#agent,
          `it has ${rows.length} entries, its head counts ${known.versions.size}`,
        );
      }
      names.sort();
      return names.slice(0, Math.max(0, limit));
    }
    throw busy();
  }

  async usage(): Promise<{ bytes: number; keys: number }> {
    const u = await this.#store.usage(this.#agent);
    return { bytes: u.bytes, keys: u.rows };
  }

  /** The plain text of an entry (its name, then its value) at its row, checked against the quota. */
  #change(name: string, value: Uint8Array): { row: string; plain: Uint8Array } {
    const row = this.#row(name);
    if (value.length > this.#quota.maxValueBytes) {
      throw limit(`A state value is at most ${this.#quota.maxValueBytes} bytes; this one is ${value.length}`);
    }
    const nameBytes = enc.encode(name);
    const plain = new Uint8Array(2 + nameBytes.length + value.length);
    new DataView(plain.buffer).setUint16(0, nameBytes.length);
    plain.set(nameBytes, 2);
    plain.set(value, 2 + nameBytes.length);
    return { row, plain };
  }

  /**
   * Writes rows (sealed under the current epoch's key at the next version) or deletes them, with
   * the agent's next head. Without `expected`, retries on the latest head when another writer
   * moved it first; with it (a transaction), that is a "conflict" for the caller to retry.
   */
  async #write(
    changes: readonly { row: string; plain: Uint8Array | undefined }[],
    expected: VerifiedRows | undefined,
  ): Promise<"written" | "over-quota" | "conflict"> {
    const { versions } = this.#store;
    const shape = changes.map((c) => ({ row: c.row, remove: c.plain === undefined }));
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const known = expected ?? (await this.#latest());
      const next = versions.nextHeadFor(known, this.#agent, this.#keys.rowKey, shape);
      const { epoch, key } = this.#keys.current();
      const writes = changes.map((c) => ({
        row: c.row,
        value:
          c.plain === undefined
            ? undefined
            : sealVersionedState(key, epoch, next.version, this.#agentId, c.row, c.plain),
      }));
      const outcome = await this.#store.write(
        this.#agent,
        writes,
        { expected: known.head, next: next.bytes },
        { maxBytes: this.#quota.maxBytes, maxRows: this.#quota.maxKeys },
        epoch,
      );
      if (outcome === "over-quota") return outcome;
      if (outcome === "written") {
        versions.wroteAll(this.#agent, known, shape, next);
        // Metered in the usage receipt.
        for (const w of writes) this.bytesWritten += w.value?.length ?? 0;
        return "written";
      }
      if (outcome === "epoch-moved") {
        // Another worker re-encrypted this agent's state to a newer epoch than this one holds:
        // a rotation this worker has not finished yet.
        if (this.#keys.current().epoch === epoch) throw epochAhead(epoch);
        continue;
      }
      if (expected) return "conflict";
    }
    throw busy();
  }

  /** The agent's rows verified at its latest head. */
  async #latest(): Promise<VerifiedRows> {
    const { versions } = this.#store;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const floor = versions.floor(this.#agent);
      const head = await this.#store.head(this.#agent);
      const known = await this.#verifiedAt(head, floor);
      if (known) return known;
    }
    throw busy();
  }

  /**
   * The rows verified at `head`: from memory if it is the head last verified, else from a
   * snapshot of the store, if that is still at `head` (undefined when it moved on meanwhile).
   */
  async #verifiedAt(head: Uint8Array | undefined, floor: bigint): Promise<VerifiedRows | undefined> {
    const { versions } = this.#store;
    const current = versions.current(this.#agent, head);
    if (current) return current;
    const snapshot = await this.#store.snapshot(this.#agent);
    if (!sameHead(snapshot.head, head)) return undefined;
    return versions.check(this.#agent, this.#keys.rowKey, snapshot.head, snapshot.rows, floor);
  }

  #row(name: string): string {
    if (typeof name !== "string" || name.length === 0) throw badKey("a state key is a non-empty string");
    if (enc.encode(name).length > this.#quota.maxKeyBytes) {
      throw badKey(`a state key is at most ${this.#quota.maxKeyBytes} bytes of UTF-8`);
    }
    return stateRowKey(this.#keys.rowKey, name);
  }

  #open(row: string, sealed: Uint8Array): { name: string; value: Uint8Array } {
    const epoch = epochOfValue(sealed);
    const key = epoch === undefined ? undefined : this.#keys.forEpoch(epoch);
    if (epoch !== undefined && key === undefined) {
      const current = this.#keys.current().epoch;
      throw epoch > current
        ? new VeilError(
            "STATE_EPOCH_AHEAD",
            `A state entry was written under epoch ${epoch}; this worker is on ${current}`,
            {
              status: 503,
              retryable: true,
              hint: "A key rotation is in progress; retry shortly.",
            },
          )
        : new VeilError(
            "STATE_EPOCH_ENDED",
            `A state entry is still under ended epoch ${epoch}, whose keys are destroyed`,
            {
              status: 500,
              hint: "It was not re-encrypted during the rotation (its worker was offline); it cannot be read.",
            },
          );
    }
    let plain: Uint8Array;
    try {
      if (key === undefined) throw new Error("not an epoch-bound entry");
      plain = openEpochState(key, this.#agentId, row, sealed);
    } catch (err) {
      throw new VeilError("STATE_CORRUPT", "A state entry does not open with this agent's state key", {
        cause: err,
        status: 500,
        hint: "The storage was altered, or the entry belongs to another agent.",
      });
    }
    const n = new DataView(plain.buffer, plain.byteOffset).getUint16(0);
    return { name: dec.decode(plain.subarray(2, 2 + n)), value: plain.slice(2 + n) };
  }
}

const busy = () =>
  new VeilError("STATE_BUSY", "The agent's state kept changing under this operation", {
    status: 503,
    retryable: true,
    hint: "Many writers at once; retry.",
  });
const epochAhead = (epoch: bigint) =>
  new VeilError(
    "STATE_EPOCH_AHEAD",
    `The agent's state was moved past epoch ${epoch} by a key rotation this worker has not finished`,
    {
      status: 503,
      retryable: true,
      hint: "A key rotation is in progress; retry shortly.",
    },
  );
const overQuota = (quota: StateQuota) =>
  limit(`The agent's state would exceed its quota of ${quota.maxBytes} bytes or ${quota.maxKeys} keys`);
const limit = (message: string) =>
  new VeilError("LIMIT_STATE_EXCEEDED", message, {
    status: 507,
    hint: "Delete entries you no longer need, or store less per entry.",
  });
const badKey = (message: string) =>
  new VeilError("STATE_KEY_INVALID", `Bad state key: ${message}`, { status: 400 });
