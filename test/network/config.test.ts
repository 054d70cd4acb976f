import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { VeilError } from "../../src/errors/index.ts";
import { loadNetwork, type NetworkFile, saveNetwork } from "../../src/network/config.ts";

const dir = mkdtempSync(join(tmpdir(), "veil-net-"));
const addr = (n: number) => `0x${n.toString(16).padStart(40, "0")}`;
const valid: NetworkFile = {
  version: 1,
  name: "t",
  chain: {
    rpcUrl: "http://127.0.0.1:8545",
    chainId: 31337,
    embedded: true,
    contracts: {
      agentRegistry: addr(1) as `0x${string}`,
      agentKeys: addr(5) as `0x${string}`,
      workerRegistry: addr(2) as `0x${string}`,
      gatekeeperRegistry: addr(3) as `0x${string}`,
      attestationPolicy: addr(4) as `0x${string}`,
    },
  },
  gateway: { url: "http://127.0.0.1:8546" },
  gatekeepers: [],
  workers: [],
  blobStore: { kind: "fs", path: dir },
  tee: { backend: "simulated", insecure: true, measurement: `0x${"00".repeat(32)}` },
};

function codeFor(content: string): string {
  const file = join(dir, `n-${Math.random()}.json`);
  writeFileSync(file, content);
  try {
    loadNetwork(file);
  } catch (err) {
    assert.ok(err instanceof VeilError);
    assert.ok(err.hint, "every network error has a hint");
    return err.code;
  }
  return "OK";
}

test("a saved network file loads back as it was", () => {
  const file = join(dir, "network.json");
  saveNetwork(file, valid);
  assert.deepEqual(loadNetwork(file), valid);
});

test("VEIL_NETWORK is used when no path is given", () => {
  const file = join(dir, "env.json");
  saveNetwork(file, valid);
  const before = process.env.VEIL_NETWORK;
  process.env.VEIL_NETWORK = file;
  try {
    assert.equal(loadNetwork().name, "t");
  } finally {
    if (before === undefined) delete process.env.VEIL_NETWORK;
    else process.env.VEIL_NETWORK = before;
  }
});

test("a missing file is NETWORK_NOT_FOUND", () => {
  assert.throws(
    () => loadNetwork(join(dir, "nope.json")),
    (e: unknown) => e instanceof VeilError && e.code === "NETWORK_NOT_FOUND",
  );
});

test("malformed files are NETWORK_CONFIG_INVALID, naming the problem", () => {
  assert.equal(codeFor("{not json"), "NETWORK_CONFIG_INVALID");
  assert.equal(codeFor("[]"), "NETWORK_CONFIG_INVALID");
  assert.equal(codeFor(JSON.stringify({ ...valid, version: 2 })), "NETWORK_CONFIG_INVALID");
  assert.equal(
    codeFor(JSON.stringify({ ...valid, chain: { ...valid.chain, rpcUrl: "ftp://x" } })),
    "NETWORK_CONFIG_INVALID",
  );
  assert.equal(
    codeFor(
      JSON.stringify({
        ...valid,
        chain: { ...valid.chain, contracts: { ...valid.chain.contracts, agentRegistry: "0x12" } },
      }),
    ),
    "NETWORK_CONFIG_INVALID",
  );
  assert.equal(codeFor(JSON.stringify({ ...valid, blobStore: { kind: "s3" } })), "NETWORK_CONFIG_INVALID");
  assert.equal(codeFor(JSON.stringify({ ...valid, gateway: { url: 5 } })), "NETWORK_CONFIG_INVALID");
});

test("a network file's economy addresses are checked; a bad one is NETWORK_CONFIG_INVALID", () => {
  const withEconomy = { ...valid, chain: { ...valid.chain, economy: { token: addr(9), stakePool: "0x12" } } };
  assert.equal(codeFor(JSON.stringify(withEconomy)), "NETWORK_CONFIG_INVALID");
  const good = { ...valid, chain: { ...valid.chain, economy: { token: addr(9), stakePool: addr(10) } } };
  const file = join(dir, "economy-ok.json");
  writeFileSync(file, JSON.stringify(good));
  assert.equal(loadNetwork(file).chain.economy?.token, addr(9));
});
