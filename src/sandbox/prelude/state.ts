// ctx.state for agents: get/put/delete/list on the agent's own encrypted store. Values are
// encoded here, inside the isolate (a tag byte, then JSON text or raw bytes), so the host sees
// only names and bytes; the host encrypts them and enforces the quotas.
import { TextDecoder, TextEncoder } from "./encoding.ts";
import { callHost, type HostReference } from "./host.ts";

type HostAnswer = { ok: true; value?: unknown } | { ok: false; code: string; message: string };

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

async function call(ref: HostReference, args: unknown[]): Promise<unknown> {
  const answer = (await callHost(ref, args)) as HostAnswer;
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

export type AgentState = {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<boolean>;
  list(options?: { prefix?: string; limit?: number }): Promise<string[]>;
};

export function makeState(host: HostReference | undefined): AgentState | undefined {
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
  });
}
