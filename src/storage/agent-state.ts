import { openStateValue, sealStateValue, stateRowKey } from "../crypto/index.ts";
import { VeilError } from "../errors/index.ts";
import type { SqliteStateStore } from "./state-store.ts";

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

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * One agent's `ctx.state`: each entry's name and value sealed together under the agent's state
 * key, at a row named by an HMAC of the name. The store never sees a name or a value; an entry
 * copied to another agent's or another name's row does not open.
 */
export class EncryptedAgentState {
  readonly #store: SqliteStateStore;
  readonly #agentId: bigint;
  readonly #agent: string;
  readonly #key: Uint8Array;
  readonly #quota: StateQuota;
  /** Sealed bytes written so far, for metering. */
  bytesWritten = 0;

  constructor(
    store: SqliteStateStore,
    agentId: bigint,
    stateKey: Uint8Array,
    quota: StateQuota = DEFAULT_STATE_QUOTA,
  ) {
    this.#store = store;
    this.#agentId = agentId;
    this.#agent = agentId.toString();
    this.#key = stateKey;
    this.#quota = quota;
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    const row = this.#row(name);
    const sealed = this.#store.get(this.#agent, row);
    if (!sealed) return undefined;
    return this.#open(row, sealed).value;
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
    const sealed = sealStateValue(this.#key, this.#agentId, row, plain);
    if (
      !this.#store.putWithin(this.#agent, row, sealed, {
        maxBytes: this.#quota.maxBytes,
        maxRows: this.#quota.maxKeys,
      })
    ) {
      throw limit(
        `The agent's state would exceed its quota of ${this.#quota.maxBytes} bytes or ${this.#quota.maxKeys} keys`,
      );
    }
  }

  async delete(name: string): Promise<boolean> {
    return this.#store.delete(this.#agent, this.#row(name));
  }

  async list(prefix: string, limit: number): Promise<string[]> {
    const names: string[] = [];
    for (const { row, value } of this.#store.rows(this.#agent)) {
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
    return stateRowKey(this.#key, name);
  }

  #open(row: string, sealed: Uint8Array): { name: string; value: Uint8Array } {
    let plain: Uint8Array;
    try {
      plain = openStateValue(this.#key, this.#agentId, row, sealed);
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
