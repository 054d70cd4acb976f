import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  generateX25519,
  open,
  randomBytes,
  SEAL_OVERHEAD,
  seal,
  toHex,
  unwrap,
  utf8,
  WRAP_OVERHEAD,
  wrap,
} from "../../src/crypto/index.ts";
import { VeilError } from "../../src/errors/index.ts";

const refusedWith =
  (code: string) =>
  (err: unknown): boolean => {
    assert.ok(err instanceof VeilError, `expected a VeilError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.ok(err.hint, "every refusal carries a hint");
    return true;
  };
const OPEN_FAILED = refusedWith("ENVELOPE_OPEN_FAILED");
const MALFORMED = refusedWith("ENVELOPE_MALFORMED");

function catchError(fn: () => unknown): VeilError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VeilError);
    return err;
  }
  assert.fail("expected a refusal");
}

const alice = generateX25519();
const mallory = generateX25519();
const message = utf8("the cluster key for epoch 7");
const opts = { label: "cluster-key", aad: utf8("cluster-1|7") };

describe("seal / open", () => {
  test("round trips, for empty, small and large messages", () => {
    for (const size of [0, 1, 1024, 1 << 20]) {
      const plaintext = randomBytes(size);
      const envelope = seal(alice.publicKey, plaintext, opts);
      assert.equal(envelope.length, plaintext.length + SEAL_OVERHEAD);
      assert.equal(envelope[0], 0x01);
      assert.deepEqual(open(alice.privateKey, envelope, opts), plaintext);
    }
  });

  test("round trips without associated data, and an empty aad equals none", () => {
    const envelope = seal(alice.publicKey, message, { label: "x" });
    assert.deepEqual(open(alice.privateKey, envelope, { label: "x" }), message);
    assert.deepEqual(open(alice.privateKey, envelope, { label: "x", aad: new Uint8Array(0) }), message);
  });

  test("the default randomness is fresh: the same message seals differently each time", () => {
    const a = seal(alice.publicKey, message, opts);
    const b = seal(alice.publicKey, message, opts);
    assert.notEqual(toHex(a.subarray(1, 33)), toHex(b.subarray(1, 33)), "ephemeral keys differ");
    assert.notEqual(toHex(a.subarray(33, 57)), toHex(b.subarray(33, 57)), "nonces differ");
  });

  test("a party without the key cannot open", () => {
    const envelope = seal(alice.publicKey, message, opts);
    assert.throws(() => open(mallory.privateKey, envelope, opts), OPEN_FAILED);
  });

  test("the wrong label or associated data cannot open", () => {
    const envelope = seal(alice.publicKey, message, opts);
    assert.throws(() => open(alice.privateKey, envelope, { ...opts, label: "secret" }), OPEN_FAILED);
    assert.throws(() => open(alice.privateKey, envelope, { ...opts, label: "cluster-key " }), OPEN_FAILED);
    assert.throws(() => open(alice.privateKey, envelope, { ...opts, aad: utf8("cluster-1|8") }), OPEN_FAILED);
    assert.throws(() => open(alice.privateKey, envelope, { label: opts.label }), OPEN_FAILED);
  });

  test("a flipped bit anywhere is refused: version, ephemeral key, nonce, ciphertext, tag", () => {
    const envelope = seal(alice.publicKey, message, opts);
    const classOf = (i: number) =>
      i === 0
        ? "version"
        : i < 33
          ? "ephPub"
          : i < 57
            ? "nonce"
            : i < envelope.length - 16
              ? "ciphertext"
              : "tag";
    const seen = new Set<string>();
    for (let i = 0; i < envelope.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const altered = envelope.slice();
        altered[i]! ^= bit;
        assert.throws(() => open(alice.privateKey, altered, opts), i === 0 ? MALFORMED : OPEN_FAILED);
      }
      seen.add(classOf(i));
    }
    assert.deepEqual(seen, new Set(["version", "ephPub", "nonce", "ciphertext", "tag"]));
  });

  test("a low-order ephemeral key is refused like any other alteration", () => {
    const envelope = seal(alice.publicKey, message, opts);
    const altered = envelope.slice();
    altered.fill(0, 1, 33);
    assert.throws(() => open(alice.privateKey, altered, opts), OPEN_FAILED);
  });

  test("truncation and extension are refused", () => {
    const envelope = seal(alice.publicKey, message, opts);
    for (let n = 0; n < envelope.length; n++) {
      const cut = envelope.subarray(0, n);
      assert.throws(() => open(alice.privateKey, cut, opts), n < SEAL_OVERHEAD ? MALFORMED : OPEN_FAILED);
    }
    const longer = new Uint8Array(envelope.length + 1);
    longer.set(envelope);
    assert.throws(() => open(alice.privateKey, longer, opts), OPEN_FAILED);
  });

  test("an unknown version is refused as malformed", () => {
    const envelope = seal(alice.publicKey, message, opts);
    for (const version of [0x00, 0x02, 0xff]) {
      const altered = envelope.slice();
      altered[0] = version;
      assert.throws(() => open(alice.privateKey, altered, opts), MALFORMED);
    }
  });

  test("refusals do not say which check failed, and carry no key material", () => {
    const envelope = seal(alice.publicKey, message, opts);
    const tampered = envelope.slice();
    tampered[tampered.length - 1]! ^= 1;
    const errors = [
      catchError(() => open(mallory.privateKey, envelope, opts)),
      catchError(() => open(alice.privateKey, envelope, { ...opts, label: "other" })),
      catchError(() => open(alice.privateKey, envelope, { ...opts, aad: utf8("other") })),
      catchError(() => open(alice.privateKey, tampered, opts)),
    ];
    const secrets = [alice.privateKey, mallory.privateKey, alice.publicKey].map(toHex);
    for (const err of errors) {
      assert.equal(err.message, errors[0]!.message);
      assert.equal(err.hint, errors[0]!.hint);
      assert.deepEqual(err.context, []);
      assert.equal(err.cause, undefined, "noble's error is not passed on");
      const text = JSON.stringify(err.toJSON()) + err.message;
      for (const s of secrets) assert.ok(!text.includes(s));
    }
  });

  test("bad arguments are refused before any cryptography", () => {
    const isCode = (code: string) => (err: unknown) => err instanceof VeilError && err.code === code;
    assert.throws(() => seal(alice.publicKey.subarray(0, 31), message, opts), isCode("KEY_INVALID"));
    assert.throws(() => seal(new Uint8Array(32), message, opts), isCode("KEY_INVALID"), "low-order point");
    assert.throws(() => seal(alice.publicKey, message, { label: "" }), isCode("BAD_ARGUMENT"));
    assert.throws(() => seal(alice.publicKey, "text" as unknown as Uint8Array, opts), isCode("BAD_ARGUMENT"));
    assert.throws(
      () => seal(alice.publicKey, message, { ...opts, random: () => new Uint8Array(8) }),
      isCode("BAD_ARGUMENT"),
    );
    assert.throws(
      () => open(new Uint8Array(16), seal(alice.publicKey, message, opts), opts),
      isCode("KEY_INVALID"),
    );
    assert.throws(() => open(alice.privateKey, "01" as unknown as Uint8Array, opts), MALFORMED);
  });
});

describe("wrap / unwrap", () => {
  const key = randomBytes(32);
  const wopts = { label: "agent-root", aad: utf8("agent-root|7|0") };

  test("round trips", () => {
    for (const size of [0, 32, 4096]) {
      const plaintext = randomBytes(size);
      const wrapped = wrap(key, plaintext, wopts);
      assert.equal(wrapped.length, size + WRAP_OVERHEAD);
      assert.deepEqual(unwrap(key, wrapped, wopts), plaintext);
    }
  });

  test("another key, label or associated data cannot unwrap", () => {
    const wrapped = wrap(key, message, wopts);
    assert.throws(() => unwrap(randomBytes(32), wrapped, wopts), OPEN_FAILED);
    assert.throws(() => unwrap(key, wrapped, { ...wopts, label: "state" }), OPEN_FAILED);
    assert.throws(() => unwrap(key, wrapped, { ...wopts, aad: utf8("agent-root|8|0") }), OPEN_FAILED);
  });

  test("a flipped bit anywhere, truncation and an unknown version are refused", () => {
    const wrapped = wrap(key, message, wopts);
    for (let i = 0; i < wrapped.length; i++) {
      const altered = wrapped.slice();
      altered[i]! ^= 0x01;
      assert.throws(() => unwrap(key, altered, wopts), i === 0 ? MALFORMED : OPEN_FAILED);
    }
    for (let n = 0; n < wrapped.length; n++) {
      const cut = wrapped.subarray(0, n);
      assert.throws(() => unwrap(key, cut, wopts), n < WRAP_OVERHEAD ? MALFORMED : OPEN_FAILED);
    }
  });

  test("a sealed envelope and a wrapped value are not interchangeable", () => {
    const x = generateX25519();
    // Same 32 bytes used as an X25519 private key and as a wrapping key.
    const envelope = seal(x.publicKey, message, { label: "same" });
    assert.throws(() => unwrap(x.privateKey, envelope, { label: "same" }), OPEN_FAILED);
    const wrapped = wrap(x.privateKey, message, { label: "same" });
    assert.throws(
      () => open(x.privateKey, wrapped, { label: "same" }),
      (err: unknown) =>
        err instanceof VeilError && ["ENVELOPE_MALFORMED", "ENVELOPE_OPEN_FAILED"].includes(err.code),
    );
  });

  test("wrapping keys must be 32 bytes", () => {
    const isKeyInvalid = (err: unknown) => err instanceof VeilError && err.code === "KEY_INVALID";
    assert.throws(() => wrap(new Uint8Array(16), message, wopts), isKeyInvalid);
    assert.throws(() => unwrap(new Uint8Array(16), wrap(key, message, wopts), wopts), isKeyInvalid);
  });
});
