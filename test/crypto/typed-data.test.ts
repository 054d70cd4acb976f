import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { type Hex, hashTypedData, recoverTypedDataAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  encodeType,
  typedData,
  typedDataDigestHex,
  VEIL_TYPES,
  type VeilMessage,
  type VeilTypeName,
} from "../../src/crypto/typed-data.ts";
import { VeilError } from "../../src/errors/index.ts";

const hex = (n: number): Hex => `0x${randomBytes(n).toString("hex")}`;
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

/** A random value of a field's type, edges included (0, the type's maximum, odd strings). */
function randomValue(type: string): unknown {
  if (type === "address") return hex(20);
  if (type === "bool") return Math.random() < 0.5;
  if (type === "string") return pick(["", "gpt-4o", "http://127.0.0.1:1/v1", "ünïcødé ✓", "x".repeat(300)]);
  if (type === "bytes") return pick(["0x", hex(1), hex(33), hex(200)]);
  if (type.startsWith("bytes")) return hex(Number(type.slice(5)));
  const bits = BigInt(type.slice(4));
  const max = (1n << bits) - 1n;
  return pick([0n, 1n, max, BigInt(`0x${randomBytes(Number(bits) / 8).toString("hex")}`) & max]);
}

function randomMessage<T extends VeilTypeName>(name: T): VeilMessage<T> {
  return Object.fromEntries(VEIL_TYPES[name].map((f) => [f.name, randomValue(f.type)])) as VeilMessage<T>;
}

const names = Object.keys(VEIL_TYPES) as VeilTypeName[];

describe("Veil's EIP-712 typed data", () => {
  test("every digest equals viem's hashTypedData for random messages of every type", () => {
    for (const name of names) {
      for (let i = 0; i < 40; i++) {
        const domain = { chainId: pick([1, 31337, 2 ** 40]), verifyingContract: hex(20) };
        const message = randomMessage(name);
        assert.equal(
          typedDataDigestHex(domain, name, message),
          hashTypedData(typedData(domain, name, message) as Parameters<typeof hashTypedData>[0]),
          `${name} #${i}`,
        );
      }
    }
  });

  test("a wallet's signTypedData signs exactly the digest, and recovers to the signer", async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const domain = { chainId: 31337, verifyingContract: hex(20) };
    const message = randomMessage("Voucher");
    const request = typedData(domain, "Voucher", message);
    const signature = await account.signTypedData(request);
    assert.equal(signature, await account.sign({ hash: typedDataDigestHex(domain, "Voucher", message) }));
    assert.equal(await recoverTypedDataAddress({ ...request, signature }), account.address);
  });

  test("the type strings are the ones the Solidity side hashes", () => {
    assert.equal(
      encodeType("Voucher"),
      "Voucher(address payer,address worker,uint256 agentId,uint64 calls,uint192 amount)",
    );
  });

  test("a value that does not fit its field is refused, not truncated", () => {
    const domain = { chainId: 1, verifyingContract: hex(20) };
    const ok = randomMessage("Voucher");
    for (const [field, value] of [
      ["calls", 1n << 64n],
      ["calls", -1n],
      ["amount", "1e5"],
      ["payer", "0x1234"],
      ["agentId", 1.5],
    ] as const) {
      assert.throws(
        () => typedDataDigestHex(domain, "Voucher", { ...ok, [field]: value }),
        (e: unknown) => e instanceof VeilError && e.code === "TYPED_DATA_INVALID",
        `${field} = ${String(value)}`,
      );
    }
    assert.throws(
      () =>
        typedDataDigestHex(domain, "ProvisionRequest", {
          ...randomMessage("ProvisionRequest"),
          nonce: hex(32),
        }),
      (e: unknown) => e instanceof VeilError && e.code === "TYPED_DATA_INVALID",
    );
  });
});
