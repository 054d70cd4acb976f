import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import {
  concatBytes,
  deriveAgentEpochKey,
  deriveClusterKey,
  deriveEpochStateKey,
  epochOfValue,
  fromHex,
  openEpochState,
  openSecretEpoch,
  randomBytes,
  sealEpochState,
  sealSecretEpoch,
  toHex,
  utf8,
} from "../../src/crypto/index.ts";
import { VeilError } from "../../src/errors/index.ts";

type Case = {
  agentId: string;
  epoch: string;
  clusterKey: string;
  stateKey: string;
  agentEpochKey: string;
  epochStateKey: string;
  state: { row: string; plaintext: string; nonce: string; sealed: string };
  secret: {
    name: string;
    clusterSigningKey: string;
    clusterSigningPublicKey: string;
    inner: string;
    ephemeralPrivateKey: string;
    nonce: string;
    sealed: string;
  };
};
const vectors = JSON.parse(readFileSync(new URL("./vectors.json", import.meta.url), "utf8")) as {
  epoch: { master: string; cases: Case[] };
};
const { cases } = vectors.epoch;

const isCode = (code: string) => (err: unknown) => {
  assert.ok(err instanceof VeilError, String(err));
  assert.equal(err.code, code, err.message);
  return true;
};
const u64 = (n: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n);
  return b;
};
/** u32 big-endian length, then the UTF-8 bytes (ASCII here, so length = characters). */
const lengthPrefixed = (s: string) => concatBytes(Uint8Array.of(0, 0, 0, s.length), utf8(s));

describe("epoch-bound data keys (ADR 0013)", () => {
  test("the derivations match the published vectors and their written-out HKDF", () => {
    assert.equal(cases.length, 3);
    for (const c of cases) {
      const id = BigInt(c.agentId);
      const epoch = BigInt(c.epoch);
      assert.equal(toHex(deriveClusterKey(fromHex(vectors.epoch.master), "default", epoch)), c.clusterKey);
      const agentEpochKey = deriveAgentEpochKey(fromHex(c.clusterKey), id, epoch);
      assert.equal(toHex(agentEpochKey), c.agentEpochKey);
      const epochStateKey = deriveEpochStateKey(fromHex(c.stateKey), agentEpochKey, id, epoch);
      assert.equal(toHex(epochStateKey), c.epochStateKey);
      // The same, from the specification in the vectors' description (not from src/crypto).
      const spec = hkdf(
        sha256,
        fromHex(c.clusterKey),
        undefined,
        concatBytes(utf8("veil/v1/agent/epoch"), lengthPrefixed(c.agentId), u64(epoch)),
        32,
      );
      assert.equal(toHex(spec), c.agentEpochKey);
    }
    // Every epoch and agent has its own keys.
    assert.equal(new Set(cases.map((c) => c.agentEpochKey)).size, cases.length);
    assert.equal(new Set(cases.map((c) => c.epochStateKey)).size, cases.length);
  });

  test("state entries and secret layers match their vectors and open only as sealed", () => {
    for (const c of cases) {
      const id = BigInt(c.agentId);
      const epoch = BigInt(c.epoch);
      const key = fromHex(c.epochStateKey);
      const nonce = fromHex(c.state.nonce);
      const sealed = sealEpochState(key, epoch, id, c.state.row, fromHex(c.state.plaintext), {
        random: () => nonce,
      });
      assert.equal(toHex(sealed), c.state.sealed);
      assert.equal(epochOfValue(sealed), epoch);
      assert.equal(toHex(openEpochState(key, id, c.state.row, sealed)), c.state.plaintext);
      const refused = [
        () => openEpochState(randomBytes(32), id, c.state.row, sealed),
        () => openEpochState(key, id + 1n, c.state.row, sealed),
        () => openEpochState(key, id, `${c.state.row}0`, sealed),
      ];
      for (const f of refused) assert.throws(f, isCode("ENVELOPE_OPEN_FAILED"));
      // Relabelling the entry to another epoch breaks it: the epoch is in the associated data.
      const relabelled = sealed.slice();
      relabelled[8] = (relabelled[8] ?? 0) ^ 1;
      assert.throws(() => openEpochState(key, id, c.state.row, relabelled), isCode("ENVELOPE_OPEN_FAILED"));

      const eph = fromHex(c.secret.ephemeralPrivateKey);
      const sNonce = fromHex(c.secret.nonce);
      const draws = [eph, sNonce];
      const secret = sealSecretEpoch(
        fromHex(c.secret.clusterSigningPublicKey),
        epoch,
        id,
        c.secret.name,
        fromHex(c.secret.inner),
        {
          random: () => draws.shift() as Uint8Array,
        },
      );
      assert.equal(toHex(secret), c.secret.sealed);
      assert.equal(
        toHex(openSecretEpoch(fromHex(c.secret.clusterSigningKey), id, c.secret.name, secret)),
        c.secret.inner,
      );
      // The layer written out: ECDH x-coordinate, HKDF(salt = eph ‖ recipient), XChaCha20-Poly1305.
      const ephPub = secp256k1.getPublicKey(eph, true);
      const shared = secp256k1
        .getSharedSecret(eph, fromHex(c.secret.clusterSigningPublicKey), true)
        .subarray(1);
      const k = hkdf(
        sha256,
        shared,
        concatBytes(ephPub, fromHex(c.secret.clusterSigningPublicKey)),
        utf8("veil/v1/secret/epoch"),
        32,
      );
      const ct = xchacha20poly1305(
        k,
        sNonce,
        utf8(`secret-epoch|${c.agentId}|${c.secret.name}|${c.epoch}`),
      ).encrypt(fromHex(c.secret.inner));
      assert.equal(toHex(concatBytes(Uint8Array.of(2), u64(epoch), ephPub, sNonce, ct)), c.secret.sealed);
      for (const f of [
        () => openSecretEpoch(randomBytes(32), id, c.secret.name, secret),
        () => openSecretEpoch(fromHex(c.secret.clusterSigningKey), id + 1n, c.secret.name, secret),
        () => openSecretEpoch(fromHex(c.secret.clusterSigningKey), id, "OTHER", secret),
      ]) {
        assert.throws(f, isCode("ENVELOPE_OPEN_FAILED"));
      }
    }
  });

  test("the key of one epoch opens nothing sealed under the next", () => {
    const [e1, e2] = cases as [Case, Case];
    assert.equal(e1.agentId, e2.agentId);
    const id = BigInt(e2.agentId);
    // The thief holds the agent root (so its state key) and epoch 1's cluster key.
    const thief = deriveEpochStateKey(
      fromHex(e1.stateKey),
      deriveAgentEpochKey(fromHex(e1.clusterKey), id, 2n),
      id,
      2n,
    );
    assert.throws(
      () => openEpochState(thief, id, e2.state.row, fromHex(e2.state.sealed)),
      isCode("ENVELOPE_OPEN_FAILED"),
    );
    assert.throws(
      () =>
        openSecretEpoch(fromHex(e1.secret.clusterSigningKey), id, e2.secret.name, fromHex(e2.secret.sealed)),
      isCode("ENVELOPE_OPEN_FAILED"),
    );
  });

  test("malformed values and keys are typed errors", () => {
    assert.throws(
      () => openEpochState(randomBytes(32), 1n, "r", Uint8Array.of(1, 2, 3)),
      isCode("ENVELOPE_MALFORMED"),
    );
    assert.throws(
      () => openSecretEpoch(randomBytes(32), 1n, "N", new Uint8Array(20)),
      isCode("ENVELOPE_MALFORMED"),
    );
    assert.throws(() => deriveAgentEpochKey(new Uint8Array(16), 1n, 1n), isCode("KEY_INVALID"));
    assert.throws(() => sealSecretEpoch(new Uint8Array(33), 1n, 1n, "N", utf8("x")), isCode("KEY_INVALID"));
    assert.equal(epochOfValue(Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 1)), undefined);
  });
});
