import { webcrypto } from "node:crypto";
import type { SubtleAnswer } from "./bridge.ts";

// Web Crypto for agents, on the host's own implementation (node:crypto's webcrypto, i.e.
// OpenSSL): the honest implementation of ECDSA, Ed25519, X25519, ECDH, AES, HKDF, PBKDF2 and
// RSA, rather than cryptography written again inside the isolate (ADR 0023). The isolate keeps
// each key as a JWK in a private field of its CryptoKey (prelude/crypto.ts); every operation
// sends the JWK with its arguments, and keys made here go back as JWKs. So the host holds no
// key between calls: nothing to leak from one realm to another, nothing to bound.

type Subtle = typeof webcrypto.subtle;
type Jwk = webcrypto.JsonWebKey;
// The algorithm parameters each operation takes; node:crypto checks them and says what is wrong.
type Algorithm = webcrypto.Algorithm & Record<string, unknown>;
type ImportAlgorithm = Parameters<Subtle["importKey"]>[2];
type SignAlgorithm = Parameters<Subtle["sign"]>[0];
type CipherAlgorithm = Parameters<Subtle["encrypt"]>[0];
type DeriveAlgorithm = Parameters<Subtle["deriveBits"]>[0];

/** A key as it crosses: what the isolate's CryptoKey holds. */
export type KeyCrossing = {
  /** The key as a JWK; HKDF and PBKDF2 keys, which Web Crypto never exports, as `raw` instead. */
  jwk?: Jwk;
  raw?: ArrayBuffer;
  algorithm: Record<string, unknown>;
  usages: webcrypto.KeyUsage[];
  type: webcrypto.KeyType;
};

export type CryptoAnswer = SubtleAnswer;

const subtle: Subtle = webcrypto.subtle;
/**
 * What one operation may cost the host, whose CPU is outside the agent's limits: PBKDF2 at
 * OWASP's recommended 600,000 iterations (~0.3 s here) and RSA keys up to 4096 bits.
 */
const MAX_PBKDF2_ITERATIONS = 600_000;
const MAX_RSA_BITS = 4096;
/** The most bytes one operation may take in (a request's body is bounded far below this). */
const MAX_INPUT_BYTES = 16 * 1024 * 1024;

function bytes(v: unknown): ArrayBuffer {
  if (!(v instanceof ArrayBuffer)) throw new TypeError("expected an ArrayBuffer");
  if (v.byteLength > MAX_INPUT_BYTES) throw new RangeError("the data is larger than 16 MiB");
  return v;
}

/** Parameters of an algorithm as the isolate sent them; byte fields must be ArrayBuffers. */
function algorithmOf(v: unknown): Algorithm {
  if (typeof v === "string") return { name: v };
  if (typeof v !== "object" || v === null) throw new TypeError("an algorithm must be a name or an object");
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === "public")
      out[k] = x; // replaced by an imported key below
    else if (x instanceof ArrayBuffer) out[k] = bytes(x);
    else if (["string", "number", "boolean"].includes(typeof x)) out[k] = x;
    else if (typeof x === "object" && x !== null && typeof (x as { name?: unknown }).name === "string")
      out[k] = { name: (x as { name: string }).name };
    else throw new TypeError(`the algorithm's ${k} is not a value Web Crypto takes`);
  }
  if (typeof out.name !== "string") throw new TypeError("an algorithm needs a name");
  // Host CPU is no agent's limit: the expensive parameters are bounded here (ADR 0023).
  if (typeof out.iterations === "number" && out.iterations > MAX_PBKDF2_ITERATIONS)
    throw new RangeError(`PBKDF2 iterations are limited to ${MAX_PBKDF2_ITERATIONS} in agents`);
  if (typeof out.modulusLength === "number" && out.modulusLength > MAX_RSA_BITS)
    throw new RangeError(`RSA keys are limited to ${MAX_RSA_BITS} bits in agents`);
  return out as Algorithm;
}

/** The key a JWK stands for, as the algorithm it was made for, extractable here only. */
function importCrossing(k: unknown): Promise<webcrypto.CryptoKey> {
  const key = k as KeyCrossing;
  const algorithm = algorithmOf(key?.algorithm) as ImportAlgorithm;
  if (key?.raw instanceof ArrayBuffer)
    return subtle.importKey("raw", bytes(key.raw), algorithm, false, key.usages);
  if (typeof key?.jwk !== "object" || key.jwk === null) throw new TypeError("not a key");
  return subtle.importKey("jwk", key.jwk, algorithm, true, key.usages);
}

/** Algorithms whose keys Web Crypto never exports: they cross as the bytes they were made from. */
const RAW_ONLY = new Set(["HKDF", "PBKDF2"]);

/** A key made here, as it goes back to the isolate (`raw`: the bytes it was imported from). */
async function crossing(key: webcrypto.CryptoKey, raw?: ArrayBuffer): Promise<KeyCrossing> {
  const material = RAW_ONLY.has(key.algorithm.name)
    ? { raw: raw ?? new ArrayBuffer(0) }
    : { jwk: await subtle.exportKey("jwk", key) };
  return {
    ...material,
    algorithm: JSON.parse(JSON.stringify(key.algorithm, (_k, v) => (v instanceof Uint8Array ? [...v] : v))),
    usages: [...key.usages],
    type: key.type,
  };
}

async function withPublicKey(alg: Algorithm): Promise<Algorithm> {
  return alg.public === undefined ? alg : { ...alg, public: await importCrossing(alg.public) };
}

/** One Web Crypto operation for an agent. Errors come back as DOMException names and messages. */
export async function subtleOperation(op: unknown, a: unknown): Promise<CryptoAnswer> {
  const args = (Array.isArray(a) ? a : []) as unknown[];
  try {
    const usages = (v: unknown) => (Array.isArray(v) ? v.map(String) : []) as webcrypto.KeyUsage[];
    switch (op) {
      case "generateKey": {
        // The overload for any algorithm: node:crypto checks the parameters the name needs.
        const made: webcrypto.CryptoKeyPair | webcrypto.CryptoKey = await subtle.generateKey(
          algorithmOf(args[0]),
          true,
          usages(args[1]),
        );
        return {
          ok: true,
          result:
            "privateKey" in made
              ? { publicKey: await crossing(made.publicKey), privateKey: await crossing(made.privateKey) }
              : await crossing(made as webcrypto.CryptoKey),
        };
      }
      case "importKey": {
        const format = String(args[0]);
        const parsed = algorithmOf(args[2]);
        const algorithm = parsed as ImportAlgorithm;
        // HKDF and PBKDF2 keys are never extractable, not even here.
        const exportable = !RAW_ONLY.has(parsed.name.toUpperCase());
        const key =
          format === "jwk"
            ? await subtle.importKey("jwk", args[1] as Jwk, algorithm, true, usages(args[3]))
            : format === "raw" || format === "pkcs8" || format === "spki"
              ? await subtle.importKey(format, bytes(args[1]), algorithm, exportable, usages(args[3]))
              : (() => {
                  throw new TypeError(`key format ${format} is not one of raw, pkcs8, spki, jwk`);
                })();
        return { ok: true, result: await crossing(key, format === "raw" ? bytes(args[1]) : undefined) };
      }
      case "exportKey": {
        const key = await importCrossing(args[1]);
        const format = String(args[0]);
        if (format !== "jwk" && format !== "raw" && format !== "pkcs8" && format !== "spki")
          throw new TypeError(`key format ${format} is not one of raw, pkcs8, spki, jwk`);
        return {
          ok: true,
          result: format === "jwk" ? await subtle.exportKey("jwk", key) : await subtle.exportKey(format, key),
        };
      }
      case "sign":
        return {
          ok: true,
          result: await subtle.sign(
            algorithmOf(args[0]) as SignAlgorithm,
            await importCrossing(args[1]),
            bytes(args[2]),
          ),
        };
      case "verify":
        return {
          ok: true,
          result: await subtle.verify(
            algorithmOf(args[0]) as SignAlgorithm,
            await importCrossing(args[1]),
            bytes(args[2]),
            bytes(args[3]),
          ),
        };
      case "encrypt":
      case "decrypt":
        return {
          ok: true,
          result: await subtle[op](
            algorithmOf(args[0]) as CipherAlgorithm,
            await importCrossing(args[1]),
            bytes(args[2]),
          ),
        };
      case "deriveBits": {
        const alg = await withPublicKey(algorithmOf(args[0]));
        const length = args[2] === null || args[2] === undefined ? null : Number(args[2]);
        return {
          ok: true,
          result: await subtle.deriveBits(
            alg as DeriveAlgorithm,
            await importCrossing(args[1]),
            length as number,
          ),
        };
      }
      case "deriveKey": {
        const alg = await withPublicKey(algorithmOf(args[0]));
        const key = await subtle.deriveKey(
          alg as DeriveAlgorithm,
          await importCrossing(args[1]),
          algorithmOf(args[2]) as ImportAlgorithm,
          true,
          usages(args[3]),
        );
        return { ok: true, result: await crossing(key) };
      }
      case "wrapKey": {
        const format = String(args[0]);
        if (format !== "jwk" && format !== "raw" && format !== "pkcs8" && format !== "spki")
          throw new TypeError(`key format ${format} is not one of raw, pkcs8, spki, jwk`);
        return {
          ok: true,
          result: await subtle.wrapKey(
            format,
            await importCrossing(args[1]),
            await importCrossing(args[2]),
            algorithmOf(args[3]) as CipherAlgorithm,
          ),
        };
      }
      case "unwrapKey": {
        const format = String(args[0]);
        if (format !== "jwk" && format !== "raw" && format !== "pkcs8" && format !== "spki")
          throw new TypeError(`key format ${format} is not one of raw, pkcs8, spki, jwk`);
        const key = await subtle.unwrapKey(
          format,
          bytes(args[1]),
          await importCrossing(args[2]),
          algorithmOf(args[3]) as CipherAlgorithm,
          algorithmOf(args[4]) as ImportAlgorithm,
          true,
          usages(args[5]),
        );
        return { ok: true, result: await crossing(key) };
      }
      default:
        return {
          ok: false,
          name: "NotSupportedError",
          message: `crypto.subtle.${String(op)} is not supported`,
        };
    }
  } catch (err) {
    const e = err as { name?: string; message?: string };
    return {
      ok: false,
      name: typeof e?.name === "string" && e.name !== "Error" ? e.name : "OperationError",
      message: String(e?.message ?? err),
    };
  }
}
