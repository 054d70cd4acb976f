import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { gasWithHeadroom } from "../../src/chain/gas.ts";

describe("gasWithHeadroom", () => {
  test("a write gets 30% and 60k over its estimate, enough for another party's transaction landing first", () => {
    assert.equal(gasWithHeadroom(58_544n), 136_107n);
    assert.ok(gasWithHeadroom(21_000n) > 21_000n + 50_000n);
  });
  test("a large batch stays under a common block gas limit; one estimated above it is sent as estimated", () => {
    assert.equal(gasWithHeadroom(25_000_000n), 29_000_000n);
    assert.equal(gasWithHeadroom(29_500_000n), 29_500_000n);
  });
});
