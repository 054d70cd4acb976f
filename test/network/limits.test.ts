import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { VeilError } from "../../src/errors/index.ts";
import {
  checkRequestedLimits,
  DEFAULT_AGENT_LIMITS,
  DEFAULT_NETWORK_MAXIMA,
  effectiveLimits,
} from "../../src/network/limits.ts";

describe("agent limits", () => {
  test("nothing asked: the defaults, and any public host", () => {
    assert.deepEqual(effectiveLimits(undefined), { ...DEFAULT_AGENT_LIMITS, egressHosts: ["*"] });
  });

  test("what the owner asks, zeros meaning the default, never above the network's maxima", () => {
    const e = effectiveLimits(
      { memoryMb: 64, cpuTimeMs: 0, wallTimeMs: 999_999_999, egressHosts: " api.example.com , *.openai.com" },
      DEFAULT_NETWORK_MAXIMA,
    );
    assert.equal(e.memoryMb, 64);
    assert.equal(e.cpuTimeMs, DEFAULT_AGENT_LIMITS.cpuTimeMs);
    assert.equal(
      e.wallTimeMs,
      DEFAULT_NETWORK_MAXIMA.wallTimeMs,
      "clamped: a worker never trusts the chain's number",
    );
    assert.deepEqual(e.egressHosts, ["api.example.com", "*.openai.com"]);
  });

  test("asking for more than the network allows, or for nonsense, is refused before anything is sent", () => {
    assert.throws(
      () => checkRequestedLimits({ memoryMb: 4096, cpuTimeMs: 10 }, DEFAULT_NETWORK_MAXIMA),
      (e: unknown) =>
        e instanceof VeilError && e.code === "LIMITS_OVER_NETWORK_MAXIMUM" && /memoryMb 4096/.test(e.message),
    );
    assert.throws(
      () => checkRequestedLimits({ cpuTimeMs: -1 }, DEFAULT_NETWORK_MAXIMA),
      (e: unknown) => e instanceof VeilError && e.code === "LIMITS_INVALID",
    );
    checkRequestedLimits({ memoryMb: 512, cpuTimeMs: 0 }, DEFAULT_NETWORK_MAXIMA);
  });
});
