// WebCryptoAPI conformance in the sandbox. Known answers: hash-test-vectors (NIST's byte-oriented
// messages with their SHA digests, RFC 4231's HMAC cases, RFC 6070's PBKDF2 cases), read from
// node_modules at test time; the rest are published RFC and NIST vectors (facts) and behaviour
// after WPT's WebCryptoAPI/ coverage (errors by name, tampering, usages, round trips).
import type { webcrypto } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { type Case, conformance, type SandboxFn } from "./harness.ts";

const require = createRequire(import.meta.url);
const vectorsDir = join(require.resolve("hash-test-vectors/package.json"), "..");
const readJson = <T>(name: string): T => JSON.parse(readFileSync(join(vectorsDir, name), "utf8")) as T;

const HASHES = { "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512" } as const;

// Helpers are repeated inside each function: a function crosses into the sandbox alone.
const fns: Record<string, SandboxFn> = {
  async digest({ alg, hex }: { alg: string; hex: string }) {
    const bytes = new Uint8Array((hex.match(/../g) ?? []).map((h) => Number.parseInt(h, 16)));
    const d = new Uint8Array(await crypto.subtle.digest(alg, bytes));
    return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
  },
  async hmac({ hash, key, data, mac }: { hash: string; key: string; data: string; mac?: string }) {
    const bin = (h: string) => new Uint8Array((h.match(/../g) ?? []).map((x) => Number.parseInt(x, 16)));
    const k = await crypto.subtle.importKey("raw", bin(key), { name: "HMAC", hash }, false, [
      "sign",
      "verify",
    ]);
    if (mac !== undefined) return crypto.subtle.verify("HMAC", k, bin(mac), bin(data));
    const d = new Uint8Array(await crypto.subtle.sign("HMAC", k, bin(data)));
    return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
  },
  async pbkdf2(v: { hash: string; password: string; salt: string; iterations: number; bytes: number }) {
    const enc = new TextEncoder();
    const k = await crypto.subtle.importKey("raw", enc.encode(v.password), "PBKDF2", false, ["deriveBits"]);
    const bits = await crypto.subtle.deriveBits(
      { name: "PBKDF2", hash: v.hash, salt: enc.encode(v.salt), iterations: v.iterations },
      k,
      v.bytes * 8,
    );
    return [...new Uint8Array(bits)].map((b) => b.toString(16).padStart(2, "0")).join("");
  },
  async hkdf(v: { hash: string; ikm: string; salt: string; info: string; bytes: number }) {
    const bin = (h: string) => new Uint8Array((h.match(/../g) ?? []).map((x) => Number.parseInt(x, 16)));
    const k = await crypto.subtle.importKey("raw", bin(v.ikm), "HKDF", false, ["deriveBits"]);
    const bits = await crypto.subtle.deriveBits(
      { name: "HKDF", hash: v.hash, salt: bin(v.salt), info: bin(v.info) },
      k,
      v.bytes * 8,
    );
    return [...new Uint8Array(bits)].map((b) => b.toString(16).padStart(2, "0")).join("");
  },
  async aesGcm(v: {
    key: string;
    iv: string;
    plain: string;
    aad: string;
    op: "encrypt" | "decrypt";
    sealed?: string;
  }) {
    const bin = (h: string) => new Uint8Array((h.match(/../g) ?? []).map((x) => Number.parseInt(x, 16)));
    const hex = (b: ArrayBuffer) =>
      [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
    const k = await crypto.subtle.importKey("raw", bin(v.key), "AES-GCM", false, ["encrypt", "decrypt"]);
    const alg = { name: "AES-GCM", iv: bin(v.iv), additionalData: bin(v.aad), tagLength: 128 };
    if (v.op === "encrypt") return hex(await crypto.subtle.encrypt(alg, k, bin(v.plain)));
    return hex(await crypto.subtle.decrypt(alg, k, bin(v.sealed ?? "")));
  },
  async ed25519(v: { d: string; x: string; message: string; signature: string }) {
    const bin = (h: string) => new Uint8Array((h.match(/../g) ?? []).map((x) => Number.parseInt(x, 16)));
    const b64u = (h: string) =>
      btoa(String.fromCharCode(...bin(h)))
        .replace(/\+/g, "-")
        .replace(/\//g, "_")
        .replace(/=+$/, "");
    const jwk = { kty: "OKP", crv: "Ed25519", x: b64u(v.x) };
    const priv = await crypto.subtle.importKey("jwk", { ...jwk, d: b64u(v.d) }, "Ed25519", false, ["sign"]);
    const pub = await crypto.subtle.importKey("jwk", jwk, "Ed25519", true, ["verify"]);
    const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", priv, bin(v.message)));
    const tampered = bin(v.signature);
    tampered[0] = (tampered[0] ?? 0) ^ 1;
    return {
      signature: [...sig].map((b) => b.toString(16).padStart(2, "0")).join(""),
      verifies: await crypto.subtle.verify("Ed25519", pub, bin(v.signature), bin(v.message)),
      tamperedVerifies: await crypto.subtle.verify("Ed25519", pub, tampered, bin(v.message)),
      raw: [...new Uint8Array(await crypto.subtle.exportKey("raw", pub))]
        .map((b) => b.toString(16).padStart(2, "0"))
        .join(""),
    };
  },
  async ecdsaKnown(v: { x: string; y: string; message: string; r: string; s: string }) {
    const bin = (h: string) => new Uint8Array((h.match(/../g) ?? []).map((x) => Number.parseInt(x, 16)));
    const raw = new Uint8Array([4, ...bin(v.x), ...bin(v.y)]);
    const pub = await crypto.subtle.importKey("raw", raw, { name: "ECDSA", namedCurve: "P-256" }, false, [
      "verify",
    ]);
    const alg = { name: "ECDSA", hash: "SHA-256" };
    const msg = new TextEncoder().encode(v.message);
    const sig = bin(v.r + v.s);
    const other = new TextEncoder().encode(`${v.message}!`);
    return {
      verifies: await crypto.subtle.verify(alg, pub, sig, msg),
      otherMessage: await crypto.subtle.verify(alg, pub, sig, other),
    };
  },
  async ecdsaRoundTrip(curve: string) {
    const hash = curve === "P-384" ? "SHA-384" : "SHA-256";
    const { publicKey, privateKey } = (await crypto.subtle.generateKey(
      { name: "ECDSA", namedCurve: curve },
      false,
      ["sign", "verify"],
    )) as { publicKey: webcrypto.CryptoKey; privateKey: webcrypto.CryptoKey };
    const msg = new TextEncoder().encode("veil");
    const sig = await crypto.subtle.sign({ name: "ECDSA", hash }, privateKey, msg);
    const jwk = await crypto.subtle.exportKey("jwk", publicKey);
    return {
      signatureBytes: sig.byteLength,
      verifies: await crypto.subtle.verify({ name: "ECDSA", hash }, publicKey, sig, msg),
      publicType: publicKey.type,
      privateExtractable: privateKey.extractable,
      usages: [publicKey.usages, privateKey.usages],
      jwk: [jwk.kty, jwk.crv],
    };
  },
  async errorName(which: string) {
    const subtle = crypto.subtle;
    const hmacKey = () =>
      subtle.importKey("raw", new Uint8Array(16), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const attempts: Record<string, () => Promise<unknown>> = {
      unknownDigest: () => subtle.digest("SHA-3", new Uint8Array(1)),
      md5Digest: () => subtle.digest("MD5", new Uint8Array(1)),
      hmacVerifyWithSignOnlyKey: async () =>
        subtle.verify("HMAC", await hmacKey(), new Uint8Array(32), new Uint8Array(1)),
      exportNonExtractable: async () => subtle.exportKey("raw", await hmacKey()),
      aesKeyOfWrongLength: () => subtle.importKey("raw", new Uint8Array(15), "AES-GCM", false, ["encrypt"]),
      aesGcmTamperedTag: async () => {
        const k = await subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["encrypt", "decrypt"]);
        const iv = new Uint8Array(12);
        const sealed = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv }, k, new Uint8Array(8)));
        sealed[sealed.length - 1] = (sealed[sealed.length - 1] ?? 0) ^ 1;
        return subtle.decrypt({ name: "AES-GCM", iv }, k, sealed);
      },
      encryptWithoutUsage: async () => {
        const k = await subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["decrypt"]);
        return subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, k, new Uint8Array(1));
      },
      hkdfExtractable: () => subtle.importKey("raw", new Uint8Array(16), "HKDF", true, ["deriveBits"]),
      emptyUsagesSecretKey: () => subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, []),
      unknownUsage: () => subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["fly" as never]),
      ecdsaBadCurve: () => subtle.generateKey({ name: "ECDSA", namedCurve: "P-191" }, false, ["sign"]),
      getRandomValuesFloat: async () => crypto.getRandomValues(new Float64Array(2) as unknown as Uint8Array),
      getRandomValuesTooLarge: async () => crypto.getRandomValues(new Uint8Array(65537)),
    };
    const attempt = attempts[which];
    if (!attempt) throw new Error(`no attempt ${which}`);
    return attempt();
  },
  async derivedAesKey() {
    const base = await crypto.subtle.importKey("raw", new Uint8Array(32), "HKDF", false, ["deriveKey"]);
    const key = await crypto.subtle.deriveKey(
      { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new Uint8Array(0) },
      base,
      { name: "AES-GCM", length: 256 },
      true,
      ["encrypt"],
    );
    return {
      algorithm: key.algorithm,
      type: key.type,
      usages: key.usages,
      raw: (await crypto.subtle.exportKey("raw", key)).byteLength,
    };
  },
  randomUUID() {
    const ids = Array.from({ length: 32 }, () => crypto.randomUUID());
    return {
      shaped: ids.every((id) =>
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id),
      ),
      distinct: new Set(ids).size,
    };
  },
};

function cases(): Case[] {
  const out: Case[] = [];
  type Digests = { input: string } & Record<string, string>;
  readJson<Digests[]>("index.json").forEach((v, i) => {
    const hex = Buffer.from(v.input, "base64").toString("hex");
    for (const [alg, key] of Object.entries(HASHES))
      out.push({
        name: `digest ${alg} of NIST byte message ${i} (${hex.length / 2} bytes)`,
        fn: "digest",
        input: { alg, hex },
        expect: v[key],
      });
  });
  type Hmac = { key: string; data: string } & Record<string, string>;
  const truncate = readJson<{ truncate?: number }[]>("key-data.json");
  readJson<Hmac[]>("hmac.json").forEach((v, i) => {
    const cut = truncate[i]?.truncate;
    for (const [hash, key] of Object.entries(HASHES)) {
      const mac = v[key]!;
      const name = `HMAC ${hash} RFC 4231 case ${i + 1}`;
      if (cut)
        out.push({
          name: `${name} (first ${cut} bytes)`,
          fn: "hmac",
          input: { hash, key: v.key, data: v.data },
          expect: { prefix: mac },
        });
      else {
        out.push({
          name: `${name} sign`,
          fn: "hmac",
          input: { hash, key: v.key, data: v.data },
          expect: mac,
        });
        out.push({
          name: `${name} verify`,
          fn: "hmac",
          input: { hash, key: v.key, data: v.data, mac },
          expect: true,
        });
      }
    }
  });
  type Pbkdf2 = { password: string; salt: string; iterations: number; length: number; sha1: string };
  for (const [i, v] of readJson<Pbkdf2[]>("pbkdf2.json").entries())
    out.push({
      name: `PBKDF2 SHA-1 RFC 6070 case ${i + 1} (${v.iterations} iterations)`,
      fn: "pbkdf2",
      input: { hash: "SHA-1", password: v.password, salt: v.salt, iterations: v.iterations, bytes: v.length },
      expect: v.sha1,
    });
  out.push(...ownVectors());
  return out.map((c) =>
    c.expect && typeof c.expect === "object" && "prefix" in c.expect ? prefixCase(c) : c,
  );
}

/** A truncated HMAC (RFC 4231 case 5): the whole MAC is computed, its first bytes are the vector. */
function prefixCase(c: Case): Case {
  const { prefix } = c.expect as { prefix: string };
  return { ...c, fn: "hmacPrefix", input: { ...(c.input as object), chars: prefix.length }, expect: prefix };
}
fns.hmacPrefix = async (v: { hash: string; key: string; data: string; chars: number }) => {
  const bin = (h: string) => new Uint8Array((h.match(/../g) ?? []).map((x) => Number.parseInt(x, 16)));
  const k = await crypto.subtle.importKey("raw", bin(v.key), { name: "HMAC", hash: v.hash }, false, ["sign"]);
  const d = new Uint8Array(await crypto.subtle.sign("HMAC", k, bin(v.data)));
  return [...d]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("")
    .slice(0, v.chars);
};

/** RFC 5869 (HKDF), RFC 7914 §11 (PBKDF2-HMAC-SHA-256), GCM's specification (AES-GCM), RFC 8032 (Ed25519), RFC 6979 (ECDSA). */
function ownVectors(): Case[] {
  const rep = (h: string, n: number) => h.repeat(n);
  const seq = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => (from + i).toString(16).padStart(2, "0")).join("");
  const gcmKey = "feffe9928665731c6d6a8f9467308308";
  const gcmIv = "cafebabefacedbaddecaf888";
  const gcmPlain =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
  const gcmSealed =
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985" +
    "4d5c2af327cd64a62cf35abd2ba6fab4";
  const out: Case[] = [
    {
      name: "HKDF SHA-256 RFC 5869 case 1",
      fn: "hkdf",
      input: { hash: "SHA-256", ikm: rep("0b", 22), salt: seq(0, 12), info: seq(0xf0, 0xf9), bytes: 42 },
      expect: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    },
    {
      name: "HKDF SHA-256 RFC 5869 case 3 (no salt, no info)",
      fn: "hkdf",
      input: { hash: "SHA-256", ikm: rep("0b", 22), salt: "", info: "", bytes: 42 },
      expect: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    },
    {
      name: "HKDF SHA-1 RFC 5869 case 4",
      fn: "hkdf",
      input: { hash: "SHA-1", ikm: rep("0b", 11), salt: seq(0, 12), info: seq(0xf0, 0xf9), bytes: 42 },
      expect: "085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d305f3f896",
    },
    {
      name: "PBKDF2 SHA-256 RFC 7914 case 1",
      fn: "pbkdf2",
      input: { hash: "SHA-256", password: "passwd", salt: "salt", iterations: 1, bytes: 64 },
      expect:
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783",
    },
    {
      name: "PBKDF2 SHA-256 RFC 7914 case 2 (80,000 iterations)",
      fn: "pbkdf2",
      input: { hash: "SHA-256", password: "Password", salt: "NaCl", iterations: 80000, bytes: 64 },
      expect:
        "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d",
    },
    {
      name: "AES-GCM 128 GCM spec test case 2 encrypt",
      fn: "aesGcm",
      input: { key: rep("00", 16), iv: rep("00", 12), plain: rep("00", 16), aad: "", op: "encrypt" },
      expect: "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf",
    },
    {
      name: "AES-GCM 128 GCM spec test case 3 encrypt",
      fn: "aesGcm",
      input: { key: gcmKey, iv: gcmIv, plain: gcmPlain, aad: "", op: "encrypt" },
      expect: gcmSealed,
    },
    {
      name: "AES-GCM 128 GCM spec test case 3 decrypt",
      fn: "aesGcm",
      input: { key: gcmKey, iv: gcmIv, plain: "", aad: "", op: "decrypt", sealed: gcmSealed },
      expect: gcmPlain,
    },
    {
      name: "Ed25519 RFC 8032 test 1: sign, verify, tampered, export",
      fn: "ed25519",
      input: {
        d: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        x: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        message: "",
        signature:
          "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
      },
      expect: {
        signature:
          "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        verifies: true,
        tamperedVerifies: false,
        raw: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
      },
    },
    {
      name: "ECDSA P-256 SHA-256 RFC 6979 A.2.5 signature verifies",
      fn: "ecdsaKnown",
      input: {
        x: "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6",
        y: "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299",
        message: "sample",
        r: "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
        s: "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8",
      },
      expect: { verifies: true, otherMessage: false },
    },
    {
      name: "HKDF deriveKey makes an AES-GCM 256 key",
      fn: "derivedAesKey",
      expect: { algorithm: { name: "AES-GCM", length: 256 }, type: "secret", usages: ["encrypt"], raw: 32 },
    },
    {
      name: "randomUUID gives version 4 UUIDs, distinct",
      fn: "randomUUID",
      expect: { shaped: true, distinct: 32 },
    },
  ];
  for (const curve of ["P-256", "P-384"])
    out.push({
      name: `ECDSA ${curve} generateKey, sign, verify, export`,
      fn: "ecdsaRoundTrip",
      input: curve,
      expect: {
        signatureBytes: curve === "P-256" ? 64 : 96,
        verifies: true,
        publicType: "public",
        privateExtractable: false,
        usages: [["verify"], ["sign"]],
        jwk: ["EC", curve],
      },
    });
  const errors: [string, string][] = [
    ["unknownDigest", "NotSupportedError"],
    ["md5Digest", "NotSupportedError"],
    ["hmacVerifyWithSignOnlyKey", "InvalidAccessError"],
    ["exportNonExtractable", "InvalidAccessError"],
    ["aesKeyOfWrongLength", "DataError"],
    ["aesGcmTamperedTag", "OperationError"],
    ["encryptWithoutUsage", "InvalidAccessError"],
    ["hkdfExtractable", "SyntaxError"],
    ["emptyUsagesSecretKey", "SyntaxError"],
    ["unknownUsage", "TypeError"],
    ["ecdsaBadCurve", "NotSupportedError"],
    ["getRandomValuesFloat", "TypeMismatchError"],
    ["getRandomValuesTooLarge", "QuotaExceededError"],
  ];
  for (const [which, name] of errors)
    out.push({
      name: `error: ${which} is a ${name}`,
      fn: "errorName",
      input: which,
      expect: { throws: name },
    });
  return out;
}

conformance("webcrypto", fns, cases);
