import assert from "node:assert/strict";
import { test } from "node:test";
import { ReceiptPickup } from "../../src/gateway/receipt-pickup.ts";

// Streamed answers' trailers kept for browsers, which cannot read trailers (docs/adr/0025).

const nonce = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;

test("a kept receipt is found by its nonce within its minute, and not after", () => {
  const pickup = new ReceiptPickup({ ttlMs: 60_000 });
  pickup.keep(nonce(1), { "x-veil-receipt": "r1" }, 1_000);
  assert.deepEqual(pickup.get(nonce(1), 60_999), { "x-veil-receipt": "r1" });
  assert.equal(pickup.get(nonce(1), 61_000), undefined);
  assert.equal(pickup.get(nonce(2), 1_000), undefined);
});

test("it keeps at most max receipts, the oldest going first", () => {
  const pickup = new ReceiptPickup({ max: 3 });
  for (let i = 1; i <= 5; i++) pickup.keep(nonce(i), { n: String(i) }, 1_000 + i);
  assert.equal(pickup.get(nonce(1), 2_000), undefined);
  assert.equal(pickup.get(nonce(2), 2_000), undefined);
  assert.deepEqual(
    [3, 4, 5].map((i) => pickup.get(nonce(i), 2_000)?.n),
    ["3", "4", "5"],
  );
});

test("only a 32-byte hex nonce keys a receipt", () => {
  assert.ok(ReceiptPickup.isNonce(nonce(7)));
  for (const bad of [undefined, "", "0x12", `${nonce(7)}0`, nonce(0xab).toUpperCase().replace("0X", "0x")])
    assert.ok(!ReceiptPickup.isNonce(bad), String(bad));
});
