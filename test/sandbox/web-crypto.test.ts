// Issue 19: Web Crypto in agents beyond digest and HMAC (ECDSA P-256, Ed25519, X25519, AES-GCM,
// HKDF, PBKDF2, import/export raw, spki, pkcs8, jwk), held to Node's own Web Crypto: what the
// agent signs, encrypts or derives, Node verifies, decrypts or derives alike, and the reverse.
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { after, describe, test } from "node:test";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";

const subtle = webcrypto.subtle;
const meta = { id: "21", name: "crypto", codeHash: `0x${"21".repeat(32)}` };
const hex = (b: ArrayBuffer | Uint8Array) =>
  Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString("hex");
const unhex = (h: string) => new Uint8Array(Buffer.from(h, "hex"));

// The agent runs the body of its handler on the JSON it is sent, and answers what it returns.
const AGENT = `
const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
const te = new TextEncoder();
const cases = {
  async ecdsa({ message, peerSpki, peerSignature }) {
    const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
    const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, te.encode(message));
    const spki = await crypto.subtle.exportKey("spki", pair.publicKey);
    const peer = await crypto.subtle.importKey("spki", unhex(peerSpki), { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
    const peerOk = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, peer, unhex(peerSignature), te.encode(message));
    let exportPrivate;
    try { await crypto.subtle.exportKey("pkcs8", pair.privateKey); exportPrivate = "exported"; } catch (e) { exportPrivate = e.name; }
    return { signature: hex(signature), spki: hex(spki), peerOk, exportPrivate, leaked: JSON.stringify(pair.privateKey).includes('"d"'), algorithm: pair.privateKey.algorithm, usages: pair.publicKey.usages };
  },
  async ed25519({ message, peerRaw, peerSignature }) {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
    const signature = await crypto.subtle.sign("Ed25519", pair.privateKey, te.encode(message));
    const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
    const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
    const peer = await crypto.subtle.importKey("raw", unhex(peerRaw), "Ed25519", true, ["verify"]);
    return { signature: hex(signature), raw: hex(raw), jwkKty: jwk.kty, jwkCrv: jwk.crv, peerOk: await crypto.subtle.verify("Ed25519", peer, unhex(peerSignature), te.encode(message)) };
  },
  async x25519({ peerRaw }) {
    const pair = await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"]);
    const peer = await crypto.subtle.importKey("raw", unhex(peerRaw), { name: "X25519" }, true, []);
    const shared = await crypto.subtle.deriveBits({ name: "X25519", public: peer }, pair.privateKey, 256);
    return { raw: hex(await crypto.subtle.exportKey("raw", pair.publicKey)), shared: hex(shared) };
  },
  async aesGcm({ key, iv, aad, message }) {
    const k = await crypto.subtle.importKey("raw", unhex(key), "AES-GCM", false, ["encrypt", "decrypt"]);
    const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv: unhex(iv), additionalData: unhex(aad) }, k, te.encode(message));
    const opened = new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv: unhex(iv), additionalData: unhex(aad) }, k, sealed));
    let tampered;
    const bad = new Uint8Array(sealed).slice(); bad[0] ^= 1;
    try { await crypto.subtle.decrypt({ name: "AES-GCM", iv: unhex(iv), additionalData: unhex(aad) }, k, bad); tampered = "opened"; } catch (e) { tampered = e.name; }
    let wrongUse;
    const signOnly = await crypto.subtle.importKey("raw", unhex(key), "AES-GCM", false, ["encrypt"]);
    try { await crypto.subtle.decrypt({ name: "AES-GCM", iv: unhex(iv) }, signOnly, sealed); wrongUse = "decrypted"; } catch (e) { wrongUse = e.name; }
    return { sealed: hex(sealed), opened, tampered, wrongUse };
  },
  async wrap({ kek, jwk }) {
    const wrapping = await crypto.subtle.importKey("raw", unhex(kek), "AES-KW", false, ["wrapKey", "unwrapKey"]);
    const inner = await crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
    const aes = await crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, true, ["encrypt"]);
    const wrappedAes = await crypto.subtle.wrapKey("raw", aes, wrapping, "AES-KW");
    const back = await crypto.subtle.unwrapKey("raw", wrappedAes, wrapping, "AES-KW", "AES-GCM", true, ["encrypt"]);
    const sameAes = hex(await crypto.subtle.exportKey("raw", back)) === hex(await crypto.subtle.exportKey("raw", aes));
    // A PKCS#8 private key under AES-GCM: wrapping is export-then-encrypt.
    const gcm = await crypto.subtle.importKey("raw", unhex(kek), "AES-GCM", false, ["wrapKey", "unwrapKey"]);
    const iv = new Uint8Array(12);
    const wrappedEc = await crypto.subtle.wrapKey("pkcs8", inner, gcm, { name: "AES-GCM", iv });
    let locked;
    const stuck = await crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
    try { await crypto.subtle.wrapKey("pkcs8", stuck, gcm, { name: "AES-GCM", iv }); locked = "wrapped"; } catch (e) { locked = e.name; }
    let noUsage;
    const plain = await crypto.subtle.importKey("raw", unhex(kek), "AES-KW", false, ["wrapKey"]);
    try { await crypto.subtle.unwrapKey("raw", wrappedAes, plain, "AES-KW", "AES-GCM", true, ["encrypt"]); noUsage = "unwrapped"; } catch (e) { noUsage = e.name; }
    return { wrappedAes: hex(wrappedAes), aes: hex(await crypto.subtle.exportKey("raw", aes)), sameAes, wrappedEc: hex(wrappedEc), locked, noUsage };
  },
  async kdf({ secret, salt, info, password }) {
    const base = await crypto.subtle.importKey("raw", unhex(secret), "HKDF", false, ["deriveBits", "deriveKey"]);
    const hkdf = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: unhex(salt), info: unhex(info) }, base, 256);
    const pw = await crypto.subtle.importKey("raw", te.encode(password), "PBKDF2", false, ["deriveBits"]);
    const pbkdf2 = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: unhex(salt), iterations: 1000 }, pw, 256);
    const aes = await crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: unhex(salt), info: unhex(info) }, base, { name: "AES-GCM", length: 256 }, true, ["encrypt"]);
    let unknown;
    try { await crypto.subtle.generateKey({ name: "NOPE-1" }, true, ["sign"]); unknown = "made"; } catch (e) { unknown = e.name; }
    // The host's CPU is not the agent's: an hour of PBKDF2 is refused before it starts.
    let costly;
    const started = Date.now();
    try { await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt: unhex(salt), iterations: 1e9 }, pw, 256); costly = "derived"; } catch (e) { costly = e.name + ": " + e.message; }
    return { hkdf: hex(hkdf), pbkdf2: hex(pbkdf2), aes: hex(await crypto.subtle.exportKey("raw", aes)), unknown, costly, costlyMs: Date.now() - started };
  },
};
export default { async fetch(request) {
  const name = new URL(request.url).pathname.slice(1);
  return Response.json(await cases[name](await request.json()));
} };`;

describe("Web Crypto in the sandbox, held to Node's", () => {
  let sandbox: IsolateSandbox;
  after(() => sandbox?.dispose());
  const call = async (name: string, body: unknown): Promise<Record<string, unknown>> => {
    sandbox ??= await IsolateSandbox.create({ meta, code: AGENT });
    const r = await sandbox.invoke({
      method: "POST",
      url: `https://crypto.agents.veil/${name}`,
      headers: [["content-type", "application/json"]],
      body: new TextEncoder().encode(JSON.stringify(body)),
    });
    const text = new TextDecoder().decode(r.body);
    assert.equal(r.status, 200, text);
    return JSON.parse(text);
  };
  const message = "pay 10 VEIL to 0xabc";
  const bytes = new TextEncoder().encode(message);

  test("ECDSA P-256: each side verifies the other's signature; private keys stay in", async () => {
    const mine = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
    const got = await call("ecdsa", {
      message,
      peerSpki: hex(await subtle.exportKey("spki", mine.publicKey)),
      peerSignature: hex(await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, mine.privateKey, bytes)),
    });
    assert.equal(got.peerOk, true);
    const theirs = await subtle.importKey(
      "spki",
      unhex(got.spki as string),
      { name: "ECDSA", namedCurve: "P-256" },
      true,
      ["verify"],
    );
    assert.equal(
      await subtle.verify({ name: "ECDSA", hash: "SHA-256" }, theirs, unhex(got.signature as string), bytes),
      true,
    );
    assert.equal(got.exportPrivate, "InvalidAccessError");
    assert.equal(got.leaked, false);
    assert.deepEqual(got.algorithm, { name: "ECDSA", namedCurve: "P-256" });
    assert.deepEqual(got.usages, ["verify"]);
  });

  test("Ed25519 both ways, and a JWK export", async () => {
    const mine = (await subtle.generateKey({ name: "Ed25519" }, true, [
      "sign",
      "verify",
    ])) as webcrypto.CryptoKeyPair;
    const got = await call("ed25519", {
      message,
      peerRaw: hex(await subtle.exportKey("raw", mine.publicKey)),
      peerSignature: hex(await subtle.sign("Ed25519", mine.privateKey, bytes)),
    });
    assert.equal(got.peerOk, true);
    const theirs = await subtle.importKey("raw", unhex(got.raw as string), "Ed25519", true, ["verify"]);
    assert.equal(await subtle.verify("Ed25519", theirs, unhex(got.signature as string), bytes), true);
    assert.deepEqual([got.jwkKty, got.jwkCrv], ["OKP", "Ed25519"]);
  });

  test("X25519: the agent and Node derive the same secret", async () => {
    const mine = (await subtle.generateKey({ name: "X25519" }, true, [
      "deriveBits",
    ])) as webcrypto.CryptoKeyPair;
    const got = await call("x25519", { peerRaw: hex(await subtle.exportKey("raw", mine.publicKey)) });
    const theirs = await subtle.importKey("raw", unhex(got.raw as string), { name: "X25519" }, true, []);
    const shared = await subtle.deriveBits({ name: "X25519", public: theirs } as never, mine.privateKey, 256);
    assert.equal(got.shared, hex(shared));
  });

  test("wrapKey and unwrapKey: Node unwraps what the agent wrapped (AES-KW, AES-GCM over PKCS#8)", async () => {
    const kek = webcrypto.getRandomValues(new Uint8Array(16));
    const ec = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
    const jwk = await subtle.exportKey("jwk", ec.privateKey);
    const got = await call("wrap", { kek: hex(kek), jwk });
    const kw = await subtle.importKey("raw", kek, "AES-KW", false, ["unwrapKey"]);
    const aes = await subtle.unwrapKey(
      "raw",
      unhex(got.wrappedAes as string),
      kw,
      "AES-KW",
      "AES-GCM",
      true,
      ["encrypt"],
    );
    assert.equal(hex(new Uint8Array(await subtle.exportKey("raw", aes))), got.aes);
    assert.equal(got.sameAes, true);
    const gcm = await subtle.importKey("raw", kek, "AES-GCM", false, ["unwrapKey"]);
    const back = await subtle.unwrapKey(
      "pkcs8",
      unhex(got.wrappedEc as string),
      gcm,
      { name: "AES-GCM", iv: new Uint8Array(12) },
      { name: "ECDSA", namedCurve: "P-256" },
      true,
      ["sign"],
    );
    assert.equal((await subtle.exportKey("jwk", back)).d, jwk.d);
    assert.equal(got.locked, "InvalidAccessError");
    assert.equal(got.noUsage, "InvalidAccessError");
  });

  test("AES-GCM: Node opens what the agent sealed; tampering and a wrong usage are refused", async () => {
    const key = webcrypto.getRandomValues(new Uint8Array(32));
    const iv = webcrypto.getRandomValues(new Uint8Array(12));
    const aad = new TextEncoder().encode("header");
    const got = await call("aesGcm", { key: hex(key), iv: hex(iv), aad: hex(aad), message });
    const k = await subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
    const opened = await subtle.decrypt(
      { name: "AES-GCM", iv, additionalData: aad },
      k,
      unhex(got.sealed as string),
    );
    assert.equal(new TextDecoder().decode(opened), message);
    assert.equal(got.opened, message);
    assert.equal(got.tampered, "OperationError");
    assert.equal(got.wrongUse, "InvalidAccessError");
  });

  test("HKDF, PBKDF2 and deriveKey give Node's bytes; an unknown algorithm is NotSupportedError", async () => {
    const secret = webcrypto.getRandomValues(new Uint8Array(32));
    const salt = webcrypto.getRandomValues(new Uint8Array(16));
    const info = new TextEncoder().encode("veil");
    const got = await call("kdf", {
      secret: hex(secret),
      salt: hex(salt),
      info: hex(info),
      password: "hunter2",
    });
    const base = await subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]);
    const hkdf = await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, base, 256);
    const pw = await subtle.importKey("raw", new TextEncoder().encode("hunter2"), "PBKDF2", false, [
      "deriveBits",
    ]);
    const pbkdf2 = await subtle.deriveBits(
      { name: "PBKDF2", hash: "SHA-256", salt, iterations: 1000 },
      pw,
      256,
    );
    assert.equal(got.hkdf, hex(hkdf));
    assert.equal(got.pbkdf2, hex(pbkdf2));
    assert.equal(got.aes, hex(hkdf), "an HKDF-derived AES key is those same bits");
    assert.equal(got.unknown, "NotSupportedError");
    assert.match(String(got.costly), /RangeError: PBKDF2 iterations are limited to 600000 in agents/);
    assert.ok(Number(got.costlyMs) < 1_000);
  });
});
