// Web Crypto for agents: getRandomValues, randomUUID, and crypto.subtle digest and HMAC, on the
// host's node:crypto (the isolate has no entropy or hashes of its own).
import { DOMException } from "./encoding.ts";
import type { HostHooks } from "./host.ts";

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

export class CryptoKey {
  readonly #raw: ArrayBuffer;
  readonly type = "secret";
  readonly algorithm: { name: "HMAC"; hash: { name: string }; length: number };
  readonly extractable: boolean;
  readonly usages: string[];

  constructor(raw: ArrayBuffer, hash: string, extractable: boolean, usages: string[]) {
    this.#raw = raw;
    this.algorithm = { name: "HMAC", hash: { name: hash }, length: raw.byteLength * 8 };
    this.extractable = extractable;
    this.usages = usages;
    Object.freeze(this);
  }

  static raw(key: CryptoKey): ArrayBuffer {
    return key.#raw;
  }
}

export function makeCrypto(host: HostHooks): object {
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
  const subtle = {
    async digest(algorithm: string | { name: string }, data: BufferSource): Promise<ArrayBuffer> {
      return host.digest!(hashName(algorithm), toBuffer(data));
    },
    async importKey(
      format: string,
      keyData: BufferSource,
      algorithm: { name: string; hash: string | { name: string } },
      extractable: boolean,
      usages: string[],
    ): Promise<CryptoKey> {
      if (format !== "raw")
        throw new DOMException(`Key format ${format} is not supported`, "NotSupportedError");
      if (String(algorithm?.name).toUpperCase() !== "HMAC") {
        throw new DOMException(
          `Algorithm ${algorithm?.name} is not supported (HMAC is)`,
          "NotSupportedError",
        );
      }
      const hash = typeof algorithm.hash === "string" ? algorithm.hash : algorithm.hash?.name;
      hashName(hash);
      return new CryptoKey(toBuffer(keyData), String(hash).toUpperCase(), Boolean(extractable), [...usages]);
    },
    async exportKey(format: string, key: CryptoKey): Promise<ArrayBuffer> {
      if (format !== "raw")
        throw new DOMException(`Key format ${format} is not supported`, "NotSupportedError");
      if (!key.extractable) throw new DOMException("The key is not extractable", "InvalidAccessError");
      return CryptoKey.raw(key).slice(0);
    },
    async sign(
      algorithm: string | { name: string },
      key: CryptoKey,
      data: BufferSource,
    ): Promise<ArrayBuffer> {
      const name = (typeof algorithm === "string" ? algorithm : (algorithm?.name ?? "")).toUpperCase();
      if (name !== "HMAC" || !(key instanceof CryptoKey))
        throw new DOMException("Only HMAC keys can sign", "InvalidAccessError");
      if (!key.usages.includes("sign")) throw new DOMException("The key may not sign", "InvalidAccessError");
      return host.hmac!(hashName(key.algorithm.hash.name), CryptoKey.raw(key), toBuffer(data));
    },
    async verify(
      algorithm: string | { name: string },
      key: CryptoKey,
      signature: BufferSource,
      data: BufferSource,
    ): Promise<boolean> {
      if (!(key instanceof CryptoKey) || !key.usages.includes("verify")) {
        throw new DOMException("The key may not verify", "InvalidAccessError");
      }
      const name = (typeof algorithm === "string" ? algorithm : (algorithm?.name ?? "")).toUpperCase();
      if (name !== "HMAC") throw new DOMException("Only HMAC is supported", "NotSupportedError");
      const expected = new Uint8Array(
        host.hmac!(hashName(key.algorithm.hash.name), CryptoKey.raw(key), toBuffer(data)),
      );
      const given = new Uint8Array(toBuffer(signature));
      if (given.length !== expected.length) return false;
      let diff = 0;
      for (let i = 0; i < given.length; i++) diff |= given[i]! ^ expected[i]!;
      return diff === 0;
    },
  };
  return Object.freeze({ getRandomValues, randomUUID, subtle: Object.freeze(subtle) });
}
