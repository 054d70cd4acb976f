import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { getAddress, recoverAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  concatBytes,
  equalBytes,
  ethAddressFromPublicKey,
  fromHex,
  generateX25519,
  keccak256,
  randomBytes,
  sha256,
  sha256Hex,
  signDigest,
  toHex,
  utf8,
  verifyDigest,
  x25519PublicKey,
} from "../../src/crypto/index.ts";
import { VeilError } from "../../src/errors/index.ts";

const isCode = (code: string) => (err: unknown) => err instanceof VeilError && err.code === code;

describe("bytes", () => {
  test("hex round trips, with or without 0x, either case", () => {
    const bytes = Uint8Array.of(0x00, 0x01, 0xab, 0xff);
    assert.equal(toHex(bytes), "0001abff");
    assert.deepEqual(fromHex("0001abff"), bytes);
    assert.deepEqual(fromHex("0x0001ABFF"), bytes);
    assert.deepEqual(fromHex("0X0001abff"), bytes);
    assert.deepEqual(fromHex(""), new Uint8Array(0));
    assert.equal(toHex(bytes.subarray(1, 3)), "01ab", "views are honoured");
  });

  test("bad hex is refused with INVALID_HEX", () => {
    for (const bad of ["0", "abc", "zz", "0x0g", " 00", "00 ", "0x", "0x0"]) {
      if (bad === "0x") continue; // empty after the prefix: zero bytes, valid
      assert.throws(() => fromHex(bad), isCode("INVALID_HEX"), bad);
    }
    assert.throws(() => fromHex(null as unknown as string), isCode("INVALID_HEX"));
  });

  test("utf8, concatBytes", () => {
    assert.equal(toHex(utf8("é✓")), "c3a9e29c93");
    assert.deepEqual(
      concatBytes(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3)),
      Uint8Array.of(1, 2, 3),
    );
    assert.deepEqual(concatBytes(), new Uint8Array(0));
  });

  test("equalBytes", () => {
    assert.ok(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2)));
    assert.ok(!equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3)));
    assert.ok(!equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3)));
    assert.ok(equalBytes(new Uint8Array(0), new Uint8Array(0)));
  });

  test("randomBytes gives the asked length and does not repeat", () => {
    assert.equal(randomBytes(0).length, 0);
    assert.equal(randomBytes(57).length, 57);
    assert.notDeepEqual(randomBytes(32), randomBytes(32));
  });
});

describe("hash", () => {
  test("sha256 and keccak256 known answers", () => {
    assert.equal(
      toHex(sha256(utf8("abc"))),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    assert.equal(
      sha256Hex(new Uint8Array(0)),
      "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    assert.equal(
      toHex(keccak256(new Uint8Array(0))),
      "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    );
  });
});

describe("X25519 keys", () => {
  test("generateX25519 gives fresh, consistent pairs", () => {
    const a = generateX25519();
    const b = generateX25519();
    assert.deepEqual(x25519PublicKey(a.privateKey), a.publicKey);
    assert.notDeepEqual(a.privateKey, b.privateKey);
  });

  test("x25519PublicKey refuses a key that is not 32 bytes", () => {
    assert.throws(() => x25519PublicKey(new Uint8Array(31)), isCode("KEY_INVALID"));
  });
});

describe("secp256k1 signatures", () => {
  const privateKey = fromHex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
  const publicKey = secp256k1.getPublicKey(privateKey, true);
  const digest = keccak256(utf8("hello"));

  test("the signature is r ‖ s ‖ v with v 27/28 and low s, and ecrecover finds the signer", async () => {
    const address = privateKeyToAccount(`0x${toHex(privateKey)}`).address;
    for (let i = 0; i < 20; i++) {
      const d = keccak256(utf8(`message ${i}`));
      const sig = signDigest(privateKey, d);
      assert.equal(sig.length, 65);
      assert.ok(sig[64] === 27 || sig[64] === 28);
      const s = BigInt(`0x${toHex(sig.subarray(32, 64))}`);
      assert.ok(s <= secp256k1.Point.CURVE().n / 2n, "low s");
      assert.equal(await recoverAddress({ hash: `0x${toHex(d)}`, signature: `0x${toHex(sig)}` }), address);
      assert.ok(verifyDigest(publicKey, d, sig));
    }
  });

  test("is deterministic (RFC 6979)", () => {
    assert.deepEqual(signDigest(privateKey, digest), signDigest(privateKey, digest));
  });

  test("verifyDigest accepts the uncompressed key too", () => {
    const sig = signDigest(privateKey, digest);
    assert.ok(verifyDigest(secp256k1.getPublicKey(privateKey, false), digest, sig));
  });

  test("verifyDigest refuses another key, another digest, a wrong v, high s and bad shapes", () => {
    const sig = signDigest(privateKey, digest);
    const other = secp256k1.getPublicKey(randomBytes(32), true);
    assert.ok(!verifyDigest(other, digest, sig));
    assert.ok(!verifyDigest(publicKey, keccak256(utf8("hellp")), sig));

    const flippedV = sig.slice();
    flippedV[64] = sig[64] === 27 ? 28 : 27;
    assert.ok(!verifyDigest(publicKey, digest, flippedV), "v must recover the same key");
    for (const v of [0, 1, 29, 35]) {
      const raw = sig.slice();
      raw[64] = v;
      assert.ok(!verifyDigest(publicKey, digest, raw), `v = ${v}`);
    }

    // The malleable twin (r, n - s, v ^ 1) is a valid ECDSA signature that Veil does not accept.
    const n = secp256k1.Point.CURVE().n;
    const s = BigInt(`0x${toHex(sig.subarray(32, 64))}`);
    const high = concatBytes(
      sig.subarray(0, 32),
      fromHex((n - s).toString(16).padStart(64, "0")),
      Uint8Array.of(sig[64] === 27 ? 28 : 27),
    );
    assert.ok(!verifyDigest(publicKey, digest, high));

    for (let i = 0; i < 64; i += 7) {
      const altered = sig.slice();
      altered[i]! ^= 1;
      assert.ok(!verifyDigest(publicKey, digest, altered), `byte ${i}`);
    }
    assert.ok(!verifyDigest(publicKey, digest, sig.subarray(0, 64)));
    assert.ok(!verifyDigest(publicKey, digest.subarray(0, 31), sig));
    assert.ok(!verifyDigest(new Uint8Array(33), digest, sig));
  });

  test("signDigest refuses digests that are not 32 bytes and invalid private keys", () => {
    assert.throws(() => signDigest(privateKey, new Uint8Array(31)), isCode("BAD_ARGUMENT"));
    assert.throws(() => signDigest(privateKey, new Uint8Array(33)), isCode("BAD_ARGUMENT"));
    assert.throws(() => signDigest(new Uint8Array(32), digest), isCode("KEY_INVALID"), "zero");
    const n = fromHex(secp256k1.Point.CURVE().n.toString(16).padStart(64, "0"));
    assert.throws(() => signDigest(n, digest), isCode("KEY_INVALID"), "the group order");
    try {
      signDigest(new Uint8Array(32), digest);
    } catch (err) {
      assert.ok(!(err as Error).message.includes("00".repeat(32)), "no key material in errors");
    }
  });

  test("ethAddressFromPublicKey gives viem's checksummed address", () => {
    for (let i = 0; i < 10; i++) {
      const priv = randomBytes(32);
      const expected = privateKeyToAccount(`0x${toHex(priv)}`).address;
      assert.equal(ethAddressFromPublicKey(secp256k1.getPublicKey(priv, true)), expected);
      assert.equal(ethAddressFromPublicKey(secp256k1.getPublicKey(priv, false)), expected);
      assert.equal(getAddress(expected.toLowerCase()), expected);
    }
    assert.throws(() => ethAddressFromPublicKey(new Uint8Array(33)), isCode("KEY_INVALID"));
  });
});
