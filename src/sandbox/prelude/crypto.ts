// Web Crypto for agents: getRandomValues, randomUUID and crypto.subtle, on the host's node:crypto
// (the isolate has no entropy or cryptography of its own): digest directly, every other operation
// through host-crypto.ts, keys crossing as JWKs (ADR 0023).
import { DOMException } from "./encoding.ts";
import type { Host } from "./host.ts";

type BufferSource = ArrayBuffer | ArrayBufferView;

const toBuffer = (data: BufferSource): ArrayBuffer => {
  if (data instanceof ArrayBuffer) return data.slice(0);
  if (ArrayBuffer.isView(data))
    return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  throw new TypeError("Expected an ArrayBuffer or a typed array");
};

const HASHES: Record<string, string> = {
  "SHA-1": "sha1",
  "SHA-256": "sha256",
  "SHA-384": "sha384",
  "SHA-512": "sha512",
};

function hashName(alg: string | { name: string }): string {
  const name = (typeof alg === "string" ? alg : (alg?.name ?? "")).toUpperCase();
  const h = HASHES[name];
  if (!h) throw new DOMException(`Unrecognized algorithm name: ${name}`, "NotSupportedError");
  return h;
}

/** A key as it crosses to the host (host-crypto.ts): its JWK, algorithm, usages and type. */
type KeyCrossing = {
  jwk: Record<string, unknown>;
  algorithm: Record<string, unknown>;
  usages: string[];
  type: string;
};

const deepFreeze = <T>(v: T): T => {
  if (v && typeof v === "object") {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
};

/**
 * A Web Crypto key. Its material (a JWK) stays in a private field, out of agent code's reach;
 * only the host's crypto reads it, for the one operation it is sent with.
 */
export class CryptoKey {
  readonly #crossing: KeyCrossing;
  readonly type: string;
  readonly algorithm: Record<string, unknown>;
  readonly extractable: boolean;
  readonly usages: string[];

  constructor(crossing: KeyCrossing, extractable: boolean, key: symbol) {
    if (key !== KEY) throw new TypeError("Illegal constructor");
    this.#crossing = crossing;
    this.type = crossing.type;
    this.algorithm = deepFreeze({ ...crossing.algorithm });
    this.extractable = extractable;
    this.usages = Object.freeze([...crossing.usages]) as string[];
    Object.freeze(this);
  }

  static crossing(key: unknown): KeyCrossing {
    if (!(key instanceof CryptoKey)) throw new TypeError("Expected a CryptoKey");
    return key.#crossing;
  }
}

const KEY = Symbol("CryptoKey");

export function makeCrypto(host: Host): object {
  const random = host.random;
  const getRandomValues = <T extends ArrayBufferView>(array: T): T => {
    if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array) {
      throw new DOMException("getRandomValues needs an integer typed array", "TypeMismatchError");
    }
    if (array.byteLength > 65536)
      throw new DOMException("getRandomValues is limited to 65536 bytes", "QuotaExceededError");
    if (!random) throw new Error("no entropy source");
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(
      new Uint8Array(random(array.byteLength)),
    );
    return array;
  };
  const randomUUID = (): string => {
    const b = getRandomValues(new Uint8Array(16));
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  };
  // Everything but digest runs on the host's Web Crypto (host-crypto.ts): keys cross as JWKs.
  const run = async (op: string, args: unknown[]): Promise<unknown> => {
    if (!host.subtle) throw new DOMException(`crypto.subtle.${op} is not available`, "NotSupportedError");
    const answer = await host.subtle(op, args);
    if (!answer.ok) throw new DOMException(answer.message, answer.name);
    return answer.result;
  };
  /** An algorithm as it crosses: byte fields as ArrayBuffers, a `public` key as its crossing. */
  const algorithm = (alg: unknown): unknown => {
    if (typeof alg === "string") return { name: alg };
    if (typeof alg !== "object" || alg === null) throw new TypeError("An algorithm is a name or an object");
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(alg)) {
      if (k === "public") out[k] = CryptoKey.crossing(v);
      else if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) out[k] = toBuffer(v);
      else if (typeof v === "object" && v !== null) out[k] = { name: String((v as { name?: unknown }).name) };
      else out[k] = v;
    }
    return out;
  };
  const keyOf = (c: unknown, extractable: boolean) => new CryptoKey(c as KeyCrossing, extractable, KEY);
  const usable = (key: unknown, usage: string) => {
    const c = CryptoKey.crossing(key);
    if (!c.usages.includes(usage))
      throw new DOMException(`The key may not be used to ${usage}`, "InvalidAccessError");
    return c;
  };
  const subtle = {
    async digest(algorithm: string | { name: string }, data: BufferSource): Promise<ArrayBuffer> {
      return host.digest!(hashName(algorithm), toBuffer(data));
    },
    async generateKey(alg: unknown, extractable: boolean, usages: string[]): Promise<unknown> {
      const made = (await run("generateKey", [algorithm(alg), [...usages]])) as
        | KeyCrossing
        | { publicKey: KeyCrossing; privateKey: KeyCrossing };
      if ("publicKey" in made) {
        // A public key is always extractable (Web Crypto, generateKey).
        return Object.freeze({
          publicKey: keyOf(made.publicKey, true),
          privateKey: keyOf(made.privateKey, Boolean(extractable)),
        });
      }
      return keyOf(made, Boolean(extractable));
    },
    async importKey(
      format: string,
      keyData: unknown,
      alg: unknown,
      extractable: boolean,
      usages: string[],
    ): Promise<CryptoKey> {
      let data: unknown;
      if (format === "jwk") {
        if (typeof keyData !== "object" || keyData === null) throw new TypeError("A JWK must be an object");
        const jwk = { ...(keyData as Record<string, unknown>) };
        if (jwk.ext === false && extractable)
          throw new DOMException("The JWK is not extractable (ext: false)", "DataError");
        delete jwk.ext;
        data = jwk;
      } else data = toBuffer(keyData as BufferSource);
      const made = await run("importKey", [String(format), data, algorithm(alg), [...usages]]);
      return keyOf(made, Boolean(extractable));
    },
    async exportKey(format: string, key: CryptoKey): Promise<unknown> {
      const c = CryptoKey.crossing(key);
      if (!key.extractable) throw new DOMException("The key is not extractable", "InvalidAccessError");
      const out = await run("exportKey", [String(format), c]);
      if (format === "jwk") return { ...(out as object), ext: true };
      return out;
    },
    async sign(alg: unknown, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer> {
      return (await run("sign", [algorithm(alg), usable(key, "sign"), toBuffer(data)])) as ArrayBuffer;
    },
    async verify(
      alg: unknown,
      key: CryptoKey,
      signature: BufferSource,
      data: BufferSource,
    ): Promise<boolean> {
      return (await run("verify", [
        algorithm(alg),
        usable(key, "verify"),
        toBuffer(signature),
        toBuffer(data),
      ])) as boolean;
    },
    async encrypt(alg: unknown, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer> {
      return (await run("encrypt", [algorithm(alg), usable(key, "encrypt"), toBuffer(data)])) as ArrayBuffer;
    },
    async decrypt(alg: unknown, key: CryptoKey, data: BufferSource): Promise<ArrayBuffer> {
      return (await run("decrypt", [algorithm(alg), usable(key, "decrypt"), toBuffer(data)])) as ArrayBuffer;
    },
    async deriveBits(alg: unknown, key: CryptoKey, length?: number | null): Promise<ArrayBuffer> {
      return (await run("deriveBits", [
        algorithm(alg),
        usable(key, "deriveBits"),
        length ?? null,
      ])) as ArrayBuffer;
    },
    async deriveKey(
      alg: unknown,
      key: CryptoKey,
      derived: unknown,
      extractable: boolean,
      usages: string[],
    ): Promise<CryptoKey> {
      const made = await run("deriveKey", [
        algorithm(alg),
        usable(key, "deriveKey"),
        algorithm(derived),
        [...usages],
      ]);
      return keyOf(made, Boolean(extractable));
    },
    async wrapKey(
      format: string,
      key: CryptoKey,
      wrappingKey: CryptoKey,
      wrapAlg: unknown,
    ): Promise<ArrayBuffer> {
      const c = CryptoKey.crossing(key);
      if (!key.extractable) throw new DOMException("The key is not extractable", "InvalidAccessError");
      return (await run("wrapKey", [
        String(format),
        c,
        usable(wrappingKey, "wrapKey"),
        algorithm(wrapAlg),
      ])) as ArrayBuffer;
    },
    async unwrapKey(
      format: string,
      wrapped: BufferSource,
      unwrappingKey: CryptoKey,
      unwrapAlg: unknown,
      keyAlg: unknown,
      extractable: boolean,
      usages: string[],
    ): Promise<CryptoKey> {
      const made = await run("unwrapKey", [
        String(format),
        toBuffer(wrapped),
        usable(unwrappingKey, "unwrapKey"),
        algorithm(unwrapAlg),
        algorithm(keyAlg),
        [...usages],
      ]);
      return keyOf(made, Boolean(extractable));
    },
  };
  return Object.freeze({ getRandomValues, randomUUID, subtle: Object.freeze(subtle) });
}
