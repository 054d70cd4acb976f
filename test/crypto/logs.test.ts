import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { deriveOwnerLogKey, openLogBatch, randomBytes, sealLogBatch, utf8 } from "../../src/crypto/index.ts";
import { VeilError } from "../../src/errors/index.ts";

describe("agent log batches", () => {
  const owner = deriveOwnerLogKey(randomBytes(32));
  const lines = utf8(JSON.stringify([{ at: 1, level: "log", message: "hello" }]));

  test("the owner's log key is derived from the account key, the same every time", () => {
    const accountKey = randomBytes(32);
    assert.deepEqual(deriveOwnerLogKey(accountKey), deriveOwnerLogKey(accountKey));
    assert.notDeepEqual(deriveOwnerLogKey(accountKey).publicKey, owner.publicKey);
  });

  test("only the owner opens a batch, and only as the agent it was sealed for", () => {
    const sealed = sealLogBatch(owner.publicKey, 7n, lines);
    assert.deepEqual(openLogBatch(owner.privateKey, 7n, sealed), lines);
    const stranger = deriveOwnerLogKey(randomBytes(32));
    assert.throws(() => openLogBatch(stranger.privateKey, 7n, sealed), VeilError);
    assert.throws(() => openLogBatch(owner.privateKey, 8n, sealed), VeilError, "moved to another agent");
    const altered = sealed.slice();
    altered[altered.length - 1]! ^= 1;
    assert.throws(() => openLogBatch(owner.privateKey, 7n, altered), VeilError);
  });
});
