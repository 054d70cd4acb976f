import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { TeeType } from "../../src/chain/index.ts";
import type { NodeIdentity } from "../../src/daemon/identity.ts";
import { VeilError } from "../../src/errors/index.ts";
import { AnchorBook, AnchorService } from "../../src/gatekeeper/anchors.ts";
import { type AnchorCounters, anchorDigest } from "../../src/gatekeeper/protocol.ts";
import { hash32, signedWorkerRegistration, startTestChain, type TestChain } from "../helpers/chain.ts";

// The counters a gatekeeper holds for each worker (ADR 0020), from an attacker's side: only the
// worker's own key may anchor for it, counters never go down, old messages are refused, and a
// book altered on disk is refused by name.
let t: TestChain;
const dir = mkdtempSync(join(tmpdir(), "veil-anchors-"));
const workerKey: Hex = `0x${"5e".repeat(32)}`;
const worker = privateKeyToAccount(workerKey);
const gatekeeper = { account: privateKeyToAccount(`0x${"6f".repeat(32)}`) } as unknown as NodeIdentity;
let service: AnchorService;

before(async () => {
  t = await startTestChain();
  await t.as(0).allowMeasurement(TeeType.simulated, hash32(0x4d));
  await t
    .as(2)
    .registerWorker(await signedWorkerRegistration(t, { operator: 2, workerKey, measurement: hash32(0x4d) }));
  service = new AnchorService({
    chain: t.reader,
    identity: gatekeeper,
    book: new AnchorBook(dir, new Uint8Array(32)),
  });
});
after(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

const signed = async (counters: AnchorCounters, signer = worker, at = Math.floor(Date.now() / 1000)) => ({
  worker: worker.address,
  counters,
  at,
  signature: await signer.signMessage({
    message: {
      raw: anchorDigest({ chainId: t.config.chainId, kind: "put", worker: worker.address, counters, at }),
    },
  }),
});
const held = async () => {
  const at = Math.floor(Date.now() / 1000);
  const signature = await worker.signMessage({
    message: {
      raw: anchorDigest({ chainId: t.config.chainId, kind: "get", worker: worker.address, counters: {}, at }),
    },
  });
  return (await service.get({ worker: worker.address, at, signature })).counters;
};
const code = async (p: Promise<unknown>) => {
  try {
    await p;
    return "accepted";
  } catch (err) {
    assert.ok(err instanceof VeilError, String(err));
    return err.code;
  }
};

describe("the gatekeeper's book of workers' counters", () => {
  test("the worker anchors its counters and takes them back; they never go down", async () => {
    await service.put(await signed({ "1": "6", "fees:w": "2" }));
    assert.deepEqual(await held(), { "1": "6", "fees:w": "2" });
    await service.put(await signed({ "1": "3" })); // a host replaying an older message's counters
    assert.deepEqual(await held(), { "1": "6", "fees:w": "2" });
  });

  test("nobody but the worker's key anchors for it, and old messages are refused (attack)", async () => {
    const stranger = privateKeyToAccount(`0x${"77".repeat(32)}`);
    assert.equal(await code(service.put(await signed({ "1": "99" }, stranger))), "ANCHOR_REQUEST_INVALID");
    const old = await signed({ "1": "99" }, worker, Math.floor(Date.now() / 1000) - 600);
    assert.equal(await code(service.put(old)), "ANCHOR_REQUEST_INVALID");
    assert.deepEqual((await held())["1"], "6");
    assert.equal(
      await code(service.put({ worker: worker.address, counters: { "1": "-1" }, at: 0, signature: "0x" })),
      "ANCHOR_REQUEST_INVALID",
    );
  });

  test("a book altered on disk is refused by name, never read as empty", () => {
    const path = join(dir, "worker-anchors.json");
    writeFileSync(
      path,
      JSON.stringify({ workers: { [worker.address.toLowerCase()]: { "1": "1" } }, mac: "00" }),
    );
    assert.throws(
      () => new AnchorBook(dir, new Uint8Array(32)),
      (err: unknown) =>
        err instanceof VeilError && err.code === "STATE_ANCHOR_CORRUPT" && err.message.includes(path),
    );
  });
});
