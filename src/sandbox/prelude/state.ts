// ctx.state for agents: get/put/delete/list on the agent's own encrypted store. Values are
// encoded here, inside the isolate (a tag byte, then JSON text or raw bytes), so the host sees
// only names and bytes; the host encrypts them and enforces the quotas.

import type { StateOp } from "../bridge.ts";
import { TextDecoder, TextEncoder } from "./encoding.ts";
import type { Host } from "./host.ts";

const JSON_TAG = 0;
const BYTES_TAG = 1;
const enc = new TextEncoder();
const dec = new TextDecoder();

function encode(value: unknown): ArrayBuffer {
  let tag: number;
  let body: Uint8Array;
  if (value instanceof ArrayBuffer) {
    tag = BYTES_TAG;
    body = new Uint8Array(value);
  } else if (ArrayBuffer.isView(value)) {
    tag = BYTES_TAG;
    body = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  } else {
    if (value === undefined) throw new TypeError("ctx.state.put: value is undefined (use delete)");
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError("ctx.state.put: value cannot be stored (not JSON)");
    tag = JSON_TAG;
    body = enc.encode(text);
  }
  const out = new Uint8Array(1 + body.length);
  out[0] = tag;
  out.set(body, 1);
  return out.buffer;
}

function decode(buffer: ArrayBuffer): unknown {
  const bytes = new Uint8Array(buffer);
  if (bytes[0] === BYTES_TAG) return bytes.slice(1);
  return JSON.parse(dec.decode(bytes.subarray(1)));
}

type StateHost = NonNullable<Host["state"]>;

async function call(host: StateHost, [op, key, arg]: [StateOp, string, unknown?]): Promise<unknown> {
  const answer = await host(op, key, arg);
  if (!answer.ok) {
    const err = new Error(answer.message);
    (err as Error & { code?: string }).code = answer.code;
    throw err;
  }
  return answer.value;
}

const checkKey = (key: unknown): string => {
  if (typeof key !== "string" || key.length === 0)
    throw new TypeError("ctx.state: a key is a non-empty string");
  return key;
};

export type StateTransaction = {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): void;
  delete(key: string): Promise<boolean>;
};

export type AgentState = {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<boolean>;
  list(options?: { prefix?: string; limit?: number }): Promise<string[]>;
  transaction<T>(fn: (tx: StateTransaction) => T | Promise<T>): Promise<T>;
};

/** Times a transaction runs before it gives up to writers that keep coming first. */
const TRANSACTION_ATTEMPTS = 32;
/** Thrown inside a transaction whose reads saw two different states: it runs again. */
const MOVED = Object.freeze({ veilTransactionMoved: true });

/**
 * Runs `fn` on a snapshot-checked view: reads come from the store (or the transaction's own
 * writes), writes are kept until `fn` returns, then committed together only if nothing was
 * written since the reads (on any worker). Otherwise `fn` runs again on what is there now, so
 * `fn` must do nothing it cannot repeat (no fetch, no ctx.agents.call).
 */
async function transaction<T>(
  host: StateHost,
  wait: (ms: number) => Promise<void>,
  fn: (tx: StateTransaction) => T | Promise<T>,
): Promise<T> {
  if (typeof fn !== "function") throw new TypeError("ctx.state.transaction: pass a function");
  for (let attempt = 0; attempt < TRANSACTION_ATTEMPTS; attempt++) {
    // After a conflict, a random wait that doubles up to 100 ms: writers that keep meeting
    // spread out instead of colliding again in step.
    if (attempt > 0) await wait(Math.random() * Math.min(100, 2 ** attempt));
    let at: string | undefined;
    let moved = false;
    let done = false;
    const writes = new Map<string, ArrayBuffer | null>();
    const live = () => {
      if (done) throw new TypeError("ctx.state.transaction: the transaction is over");
    };
    const read = async (key: string): Promise<ArrayBuffer | undefined> => {
      const answer = (await call(host, ["read", key])) as { value?: ArrayBuffer; at: string };
      if (at === undefined) at = answer.at;
      else if (at !== answer.at) {
        moved = true;
        throw MOVED;
      }
      return answer.value;
    };
    const tx: StateTransaction = Object.freeze({
      async get(key: string) {
        live();
        const k = checkKey(key);
        if (writes.has(k)) {
          const v = writes.get(k);
          return v ? decode(v) : undefined;
        }
        const v = await read(k);
        return v instanceof ArrayBuffer ? decode(v) : undefined;
      },
      put(key: string, value: unknown) {
        live();
        writes.set(checkKey(key), encode(value));
      },
      async delete(key: string) {
        live();
        const k = checkKey(key);
        const existed = writes.has(k) ? writes.get(k) !== null : (await read(k)) !== undefined;
        writes.set(k, null);
        return existed;
      },
    });
    let result: T;
    try {
      result = await fn(tx);
    } catch (err) {
      done = true;
      if (err === MOVED || moved) continue;
      throw err;
    }
    done = true;
    if (moved) continue;
    if (await call(host, ["commit", at ?? "", [...writes]])) return result;
  }
  const err = new Error(
    `ctx.state.transaction: other writers came first ${TRANSACTION_ATTEMPTS} times in a row; try again later`,
  );
  (err as Error & { code?: string }).code = "STATE_CONFLICT";
  throw err;
}

export function makeState(
  host: StateHost | undefined,
  wait: (ms: number) => Promise<void>,
): AgentState | undefined {
  if (!host) return undefined;
  return Object.freeze({
    async get(key: string) {
      const v = await call(host, ["get", checkKey(key)]);
      return v instanceof ArrayBuffer ? decode(v) : undefined;
    },
    async put(key: string, value: unknown) {
      await call(host, ["put", checkKey(key), encode(value)]);
    },
    async delete(key: string) {
      return (await call(host, ["delete", checkKey(key)])) === true;
    },
    async list(options: { prefix?: string; limit?: number } = {}) {
      const prefix = options.prefix === undefined ? "" : String(options.prefix);
      const limit =
        options.limit === undefined ? 1000 : Math.max(0, Math.min(10_000, Number(options.limit) || 0));
      return (await call(host, ["list", prefix, limit])) as string[];
    },
    transaction<T>(fn: (tx: StateTransaction) => T | Promise<T>): Promise<T> {
      return transaction(host, wait, fn);
    },
  });
}
