import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { x25519 } from "@noble/curves/ed25519.js";
import {
  combineMasterShares,
  deriveMasterPublicKey,
  fromHex,
  openContribution,
  SEALED_SHARE_BYTES,
  sealContribution,
  toHex,
} from "../../src/crypto/index.ts";
import { VeilError } from "../../src/errors/index.ts";

type Vectors = {
  rotation: {
    master: {
      shares: string[];
      transcript: string;
      epoch: string;
      masterKey: string;
      masterPublicKey: string;
    }[];
    contribution: {
      epoch: string;
      from: string;
      recipients: { address: string; privateKey: string; publicKey: string }[];
      share: string;
      contribution: string;
    };
  };
};
const vectors = JSON.parse(readFileSync(new URL("./vectors.json", import.meta.url), "utf8")) as Vectors;

describe("rotation: contributory master key", () => {
  test("the master key of a rotation matches the published vectors", () => {
    assert.ok(vectors.rotation.master.length >= 3);
    for (const v of vectors.rotation.master) {
      const key = combineMasterShares(v.shares.map(fromHex), fromHex(v.transcript), BigInt(v.epoch));
      assert.equal(toHex(key), v.masterKey);
      assert.equal(toHex(deriveMasterPublicKey(key)), v.masterPublicKey);
    }
  });

  test("every share counts, and so do the transcript and the epoch", () => {
    const v = vectors.rotation.master.find((m) => m.shares.length === 3)!;
    const shares = v.shares.map(fromHex);
    const base = toHex(combineMasterShares(shares, fromHex(v.transcript), BigInt(v.epoch)));
    for (let i = 0; i < shares.length; i++) {
      const changed = shares.map((s, j) => (j === i ? Uint8Array.from(s, (x) => x ^ 1) : s));
      assert.notEqual(toHex(combineMasterShares(changed, fromHex(v.transcript), BigInt(v.epoch))), base);
    }
    assert.notEqual(
      toHex(combineMasterShares([...shares].reverse(), fromHex(v.transcript), BigInt(v.epoch))),
      base,
    );
    assert.notEqual(toHex(combineMasterShares(shares, new Uint8Array(32), BigInt(v.epoch))), base);
    assert.notEqual(toHex(combineMasterShares(shares, fromHex(v.transcript), BigInt(v.epoch) + 1n)), base);
  });

  test("a contribution matches its vector, opens for each recipient, and for no one else", () => {
    const v = vectors.rotation.contribution;
    const bytes = fromHex(v.contribution);
    assert.equal(bytes.length, v.recipients.length * SEALED_SHARE_BYTES);
    v.recipients.forEach((r, position) => {
      assert.equal(toHex(x25519.getPublicKey(fromHex(r.privateKey))), r.publicKey);
      const share = openContribution(
        bytes,
        BigInt(v.epoch),
        v.from,
        { address: r.address, position, privateKey: fromHex(r.privateKey) },
        v.recipients.length,
      );
      assert.equal(toHex(share), v.share);
    });
    const fail = (err: unknown) => err instanceof VeilError && err.code === "ENVELOPE_OPEN_FAILED";
    const r0 = v.recipients[0]!;
    // A stranger's key, another epoch, another sender, another slot: nothing opens.
    assert.throws(
      () =>
        openContribution(
          bytes,
          BigInt(v.epoch),
          v.from,
          { address: r0.address, position: 0, privateKey: new Uint8Array(32).fill(7) },
          2,
        ),
      fail,
    );
    assert.throws(
      () =>
        openContribution(
          bytes,
          BigInt(v.epoch) + 1n,
          v.from,
          { address: r0.address, position: 0, privateKey: fromHex(r0.privateKey) },
          2,
        ),
      fail,
    );
    assert.throws(
      () =>
        openContribution(
          bytes,
          BigInt(v.epoch),
          r0.address.replace("aa", "ab"),
          { address: r0.address, position: 0, privateKey: fromHex(r0.privateKey) },
          2,
        ),
      fail,
    );
    assert.throws(
      () =>
        openContribution(
          bytes,
          BigInt(v.epoch),
          v.from,
          { address: r0.address, position: 1, privateKey: fromHex(r0.privateKey) },
          2,
        ),
      fail,
    );
    assert.throws(
      () =>
        openContribution(
          bytes.subarray(1),
          BigInt(v.epoch),
          v.from,
          { address: r0.address, position: 0, privateKey: fromHex(r0.privateKey) },
          2,
        ),
      (err: unknown) => err instanceof VeilError && err.code === "ROTATION_CONTRIBUTION_INVALID",
    );
    // Fresh randomness gives another ciphertext of the same share.
    const again = sealContribution(
      fromHex(v.share),
      BigInt(v.epoch),
      v.from,
      v.recipients.map((r) => ({ address: r.address, encryptionKey: fromHex(r.publicKey) })),
    );
    assert.notEqual(toHex(again), v.contribution);
  });
});
