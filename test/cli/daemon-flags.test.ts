import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { veil } from "../helpers/cli.ts";

// A daemon's bad flag is refused before it starts anything: no data directory made, nothing
// registered on chain, and the error names the flag.
describe("daemon flags", () => {
  test("the gateway's rate-limit flags are checked, in its own process and in a worker's", async () => {
    const gateway = await veil(["gateway", "--rate-limit", "-5"]);
    assert.notEqual(gateway.code, 0);
    assert.match(gateway.stderr, /BAD_ARGUMENT/);
    assert.match(gateway.stderr, /--rate-limit must be a number ≥ 0/);

    const data = join(mkdtempSync(join(tmpdir(), "veil-flags-")), "worker");
    const worker = await veil([
      "worker",
      "--data",
      data,
      "--operator-key",
      `0x${"11".repeat(32)}`,
      "--gateway-port",
      "0",
      "--gateway-rate-burst",
      "0",
    ]);
    assert.notEqual(worker.code, 0);
    assert.match(worker.stderr, /BAD_ARGUMENT/);
    assert.match(worker.stderr, /--gateway-rate-burst an integer ≥ 1/);
    assert.equal(existsSync(data), false, "the worker made nothing");
  });

  test("veil up on a chain others can reach refuses the simulated TEE unless told so (attack)", async () => {
    // Issue 18: every `veil up` network accepted simulated evidence, whose key is public; on an
    // --rpc testnet an unrelated account got the cluster key and read another owner's secret.
    const dir = join(mkdtempSync(join(tmpdir(), "veil-rpc-")), ".veil");
    const up = await veil(["up", "--rpc", "http://127.0.0.1:1", "--dir", dir]);
    assert.notEqual(up.code, 0);
    assert.match(up.stderr, /NETWORK_SIMULATED_NOT_ALLOWED/);
    assert.match(up.stderr, /--allow-simulated/);
    assert.equal(existsSync(dir), false, "nothing was made");
  });
});
