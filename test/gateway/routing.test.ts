import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { privateKeyToAccount } from "viem/accounts";
import { TeeType } from "../../src/chain/index.ts";
import { Router } from "../../src/gateway/routing.ts";
import {
  hash32,
  recordVerified,
  signedWorkerRegistration,
  startTestChain,
  type TestChain,
} from "../helpers/chain.ts";

// Issue 18, attack 1: an operator registers a worker with made-up evidence. The gateway must not
// route callers' requests (readable in the clear to that host) to it.
let t: TestChain;
const measurement = hash32(0x4d);
before(async () => {
  t = await startTestChain();
  await t.as(0).allowMeasurement(TeeType.simulated, measurement);
});
after(async () => {
  await t?.close();
});

describe("the gateway routes only to workers a gatekeeper verified", () => {
  test("a worker registered with evidence nobody checked gets no traffic until it is verified", async () => {
    const honestKey = `0x${"a1".repeat(32)}` as const;
    const fakeKey = `0x${"a2".repeat(32)}` as const;
    for (const [operator, key, endpoint] of [
      [2, honestKey, "http://127.0.0.1:1"],
      [3, fakeKey, "http://127.0.0.1:2"],
    ] as const) {
      await t
        .as(operator)
        .registerWorker(
          await signedWorkerRegistration(t, { operator, workerKey: key, measurement, endpoint }),
        );
    }
    await recordVerified(t, privateKeyToAccount(honestKey).address);

    const router = new Router(t.reader);
    const routed = await router.workers();
    assert.deepEqual(
      routed.map((w) => w.url),
      ["http://127.0.0.1:1"],
      "only the verified worker is routed; the one with made-up evidence is not",
    );
  });
});
