import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesToHex, hexToBytes, randomBytes } from "@noble/hashes/utils.js";
import { type Hex, keccak256, recoverMessageAddress, toBytes } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { KnownSigners, signedBy } from "../../src/crypto/known-signers.ts";

const N = secp256k1.Point.Fn.ORDER;
const account = privateKeyToAccount(`0x${bytesToHex(randomBytes(32))}`);
const other = privateKeyToAccount(`0x${bytesToHex(randomBytes(32))}`);

/** What recovery says: the reference the fast path must agree with. */
async function recovered(digest: Hex, signature: Hex): Promise<string | undefined> {
  try {
    return (await recoverMessageAddress({ message: { raw: digest }, signature })).toLowerCase();
  } catch {
    return undefined;
  }
}

/** Variations of a signature: some still valid (the malleated twin), most not. */
function variants(sig: Hex): Hex[] {
  const b = hexToBytes(sig.slice(2));
  const out: Uint8Array[] = [];
  for (const i of [0, 17, 31, 32, 50, 63]) {
    const c = b.slice();
    c[i] = (c[i] ?? 0) ^ 1;
    out.push(c);
  }
  const flipV = b.slice();
  flipV[64] = flipV[64] === 27 ? 28 : 27;
  out.push(flipV);
  // (r, n − s) with the other recovery bit is the same signer (malleability).
  const s = BigInt(`0x${bytesToHex(b.slice(32, 64))}`);
  const twin = b.slice();
  twin.set(hexToBytes((N - s).toString(16).padStart(64, "0")), 32);
  twin[64] = twin[64] === 27 ? 28 : 27;
  out.push(twin);
  const zeroS = b.slice();
  zeroS.fill(0, 32, 64);
  out.push(zeroS);
  const rIsN = b.slice();
  rIsN.set(hexToBytes(N.toString(16).padStart(64, "0")), 0);
  out.push(rIsN);
  const badV = b.slice();
  badV[64] = 29;
  out.push(badV);
  return out.map((x) => `0x${bytesToHex(x)}` as Hex);
}

describe("KnownSigners: fast checks of receipts from remembered keys", () => {
  test("agrees with full recovery on valid, tampered and malleated signatures, first seen and remembered", async () => {
    const signers = new KnownSigners();
    for (let round = 0; round < 12; round++) {
      const digest = keccak256(toBytes(`receipt ${round}`));
      const signature = await account.signMessage({ message: { raw: digest } });
      const cases: [Hex, Hex][] = [
        [digest, signature],
        ...variants(signature).map((v) => [digest, v] as [Hex, Hex]),
      ];
      cases.push([keccak256(toBytes(`other ${round}`)), signature]);
      for (const [d, sig] of cases) {
        const expected = (await recovered(d, sig)) === account.address.toLowerCase();
        assert.equal(
          signers.verify(account.address, hexToBytes(d.slice(2)), sig),
          expected,
          `${round} ${sig}`,
        );
      }
    }
  });

  test("a signature by another key is refused, whether or not the address was seen before", async () => {
    const digest = keccak256(toBytes("x"));
    const byOther = await other.signMessage({ message: { raw: digest } });
    const fresh = new KnownSigners();
    assert.equal(fresh.verify(account.address, hexToBytes(digest.slice(2)), byOther), false, "first sight");
    const seen = new KnownSigners();
    const mine = await account.signMessage({ message: { raw: digest } });
    assert.equal(seen.verify(account.address, hexToBytes(digest.slice(2)), mine), true);
    assert.equal(seen.verify(account.address, hexToBytes(digest.slice(2)), byOther), false, "remembered");
  });

  test("garbage never throws and never passes", () => {
    const digest = keccak256(toBytes("y"));
    for (const sig of [
      "",
      "0x",
      "0x1234",
      `0x${"zz".repeat(65)}`,
      `0x${"00".repeat(65)}`,
      `0x${"ff".repeat(65)}`,
    ])
      assert.equal(signedBy(account.address, digest, sig), false, sig);
    assert.equal(
      signedBy(account.address, "0x1234", `0x${"11".repeat(65)}`),
      false,
      "a digest that is not 32 bytes",
    );
  });
});
