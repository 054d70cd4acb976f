import {
  epochOfValue,
  openEpochState,
  sealEpochState,
  sealVersionedState,
  stateRowKey,
  versionOfValue,
} from "../crypto/index.ts";
import { VeilError } from "../errors/index.ts";
import type { SqliteStateStore } from "./state-store.ts";
import { rollbackDetected } from "./state-versions.ts";

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
 * transaction (a rotation, ADR 0013). Returns the entries changed and their sealed bytes.
 */
export function reencryptAgentState(
  store: SqliteStateStore,
  agentId: bigint,
  from: { epoch: bigint; key: Uint8Array },
  to: { epoch: bigint; key: Uint8Array },
): { rows: number; bytes: number } {
  let bytes = 0;
  const rows = store.rewrite(agentId.toString(), (row, value) => {
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

/**
 * One agent's `ctx.state`: each entry's name and value sealed together under the agent's state
 * key of the current epoch, at a row named by an HMAC of the name. The store never sees a name or a value; an entry
 * copied to another agent's or another name's row does not open.
 */
export class EncryptedAgentState {
  readonly #store: SqliteStateStore;
  readonly #agentId: bigint;
  readonly #agent: string;
  readonly #keys: StateKeys;
  readonly #quota: StateQuota;
  /** Sealed bytes written so far, for metering. */
  bytesWritten = 0;

  constructor(
    store: SqliteStateStore,
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
    const row = this.#row(name);
    // Read, then check against the verified head; a writer elsewhere may land in between, so a
    // mismatch is read once more before it counts as a rollback.
    for (let attempt = 0; ; attempt++) {
      const sealed = this.#store.get(this.#agent, row);
      const known = this.#store.versions.verified(this.#store, this.#agent, this.#keys.rowKey);
      const expected = known.versions.get(row);
      const version = sealed ? versionOfValue(sealed) : undefined;
      if (expected === version) return sealed ? this.#open(row, sealed).value : undefined;
      if (attempt > 0) {
        throw rollbackDetected(
          this.#agent,
          sealed
            ? `an entry is at write ${version}, its head counts write ${expected ?? "none"}`
            : `an entry its head counts (write ${expected}) is missing`,
        );
      }
    }
  }

  async put(name: string, value: Uint8Array): Promise<void> {
    const row = this.#row(name);
    if (value.length > this.#quota.maxValueBytes) {
      throw limit(`A state value is at most ${this.#quota.maxValueBytes} bytes; this one is ${value.length}`);
    }
    const nameBytes = enc.encode(name);
    const plain = new Uint8Array(2 + nameBytes.length + value.length);
    new DataView(plain.buffer).setUint16(0, nameBytes.length);
    plain.set(nameBytes, 2);
    plain.set(value, 2 + nameBytes.length);
    // Key choice and write happen in one synchronous step, so a rotation's re-encryption pass
    // (also synchronous) never misses an entry written under the ending epoch.
    const written = this.#writeVersioned(row, (version) => {
      const { epoch, key } = this.#keys.current();
      return sealVersionedState(key, epoch, version, this.#agentId, row, plain);
    });
    if (!written) {
      throw limit(
        `The agent's state would exceed its quota of ${this.#quota.maxBytes} bytes or ${this.#quota.maxKeys} keys`,
      );
    }
  }

  async delete(name: string): Promise<boolean> {
    const row = this.#row(name);
    const known = this.#store.versions.verified(this.#store, this.#agent, this.#keys.rowKey);
    if (!known.versions.has(row)) return false;
    this.#writeVersioned(row, undefined);
    return true;
  }

  /**
   * Writes a row (sealed by `seal` at the version given) or deletes it, with the agent's next
   * head, retrying when another writer moved the head first. False when over the quota.
   */
  #writeVersioned(row: string, seal: ((version: bigint) => Uint8Array) | undefined): boolean {
    const { versions } = this.#store;
    for (let attempt = 0; attempt < 100; attempt++) {
      const known = versions.verified(this.#store, this.#agent, this.#keys.rowKey);
      const next = versions.nextHead(known, this.#agent, this.#keys.rowKey, row, seal === undefined);
      const sealed = seal?.(next.version);
      const outcome = this.#store.writeVersioned(
        this.#agent,
        row,
        sealed,
        { expected: known.head, next: next.bytes },
        { maxBytes: this.#quota.maxBytes, maxRows: this.#quota.maxKeys },
      );
      if (outcome === "over-quota") return false;
      if (outcome === "written") {
        versions.wrote(this.#agent, known, row, next, seal === undefined);
        // Metered in the usage receipt (it was never counted before).
        this.bytesWritten += sealed?.length ?? 0;
        return true;
      }
    }
    throw new VeilError("STATE_BUSY", "The agent's state kept changing under this write", {
      status: 503,
      retryable: true,
      hint: "Many writers at once; retry.",
    });
  }

  async list(prefix: string, limit: number): Promise<string[]> {
    const names: string[] = [];
    const known = this.#store.versions.verified(this.#store, this.#agent, this.#keys.rowKey);
    for (const { row, value } of this.#store.rows(this.#agent)) {
      if (known.versions.get(row) !== versionOfValue(value)) {
        throw rollbackDetected(this.#agent, "an entry is not at the write its head counts");
      }
      const { name } = this.#open(row, value);
      if (name.startsWith(prefix)) names.push(name);
    }
    names.sort();
    return names.slice(0, Math.max(0, limit));
  }

  usage(): { bytes: number; keys: number } {
    const u = this.#store.usage(this.#agent);
    return { bytes: u.bytes, keys: u.rows };
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

const limit = (message: string) =>
  new VeilError("LIMIT_STATE_EXCEEDED", message, {
    status: 507,
    hint: "Delete entries you no longer need, or store less per entry.",
  });
const badKey = (message: string) =>
  new VeilError("STATE_KEY_INVALID", `Bad state key: ${message}`, { status: 400 });
