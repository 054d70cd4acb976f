import assert from "node:assert/strict";
import { test } from "node:test";
import { UsageMeter } from "../../src/worker/usage.ts";

// Each agent's calls and fees per time bucket, as the console plots them.

test("calls are counted per agent and bucket, fees summed, and only the last buckets kept", () => {
  let now = 1_000_000;
  const meter = new UsageMeter({ bucketMs: 10_000, keep: 3, now: () => now });
  meter.record(7n, 5n);
  meter.record(7n, 5n);
  meter.record(8n, 0n);
  now += 10_000;
  meter.record(7n, 0n);
  const seven = meter.report(7n);
  assert.deepEqual(seven.buckets, [
    { at: 1_000_000, requests: 2, fees: "10" },
    { at: 1_010_000, requests: 1, fees: "0" },
  ]);
  assert.deepEqual(seven.total, { requests: 3, fees: "10", since: 1_000_000 });
  assert.equal(meter.report(8n).total.requests, 1, "agents are counted apart");
  assert.deepEqual(meter.report(9n).buckets, [], "an agent never called has nothing");
  for (let i = 0; i < 5; i++) {
    now += 10_000;
    meter.record(7n, 1n);
  }
  const later = meter.report(7n);
  assert.equal(later.buckets.length, 3, "the oldest buckets go");
  assert.equal(later.buckets[0]!.at, now - 20_000);
  assert.deepEqual(later.total, { requests: 8, fees: "15", since: 1_000_000 }, "totals keep everything");
});
