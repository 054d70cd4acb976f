import assert from "node:assert/strict";
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { MasterKeyStore } from "../../src/gatekeeper/index.ts";
import { SimulatedEnclave } from "../../src/tee/index.ts";

// The gatekeeper's host holds the sealed master keys. What it can do to them: keep a copy of an
// ended epoch's key and put it back after the rotation destroyed it, rename one epoch's file to
// another's, or damage a file. None may bring a key into use the chain has moved past, and
// none may pass as a missing key (a silent fresh start would fork the network's keys).
describe("gatekeeper master key store", () => {
  const root = mkdtempSync(join(tmpdir(), "veil-keystore-"));
  after(() => rmSync(root, { recursive: true, force: true }));
  const open = (dir: string) =>
    new MasterKeyStore(new SimulatedEnclave({ dataDir: dir, component: "gatekeeper" }), dir);

  test("an ended epoch's key put back by the host is destroyed again, not used", async () => {
    const dir = mkdtempSync(join(root, "a-"));
    const store = open(dir);
    await store.create(1n);
    copyFileSync(join(dir, "master-epoch-1.sealed"), join(dir, "kept-by-host"));
    const two = await store.create(2n);
    store.destroy(1n);
    assert.deepEqual(store.held(), [2n]);
    copyFileSync(join(dir, "kept-by-host"), join(dir, "master-epoch-1.sealed"));
    // A restarted gatekeeper with the chain at epoch 2 sweeps before loading anything.
    const restarted = open(dir);
    assert.deepEqual(restarted.destroyEndedEpochs(2n), [1n]);
    assert.equal(existsSync(join(dir, "master-epoch-1.sealed")), false);
    assert.equal(await restarted.load(1n), undefined);
    assert.deepEqual(new Uint8Array((await restarted.load(2n))!), new Uint8Array(two));
  });

  test("a file renamed from another epoch, or damaged, is KEY_STORE_CORRUPT naming the file", async () => {
    const dir = mkdtempSync(join(root, "b-"));
    const store = open(dir);
    await store.create(3n);
    renameSync(join(dir, "master-epoch-3.sealed"), join(dir, "master-epoch-4.sealed"));
    const corrupt = (file: string) => (err: Error & { code?: string }) => {
      assert.equal(err.code, "KEY_STORE_CORRUPT");
      assert.ok(err.message.includes(join(dir, file)), err.message);
      return true;
    };
    await assert.rejects(store.load(4n), corrupt("master-epoch-4.sealed"));
    await store.create(5n);
    const file = join(dir, "master-epoch-5.sealed");
    writeFileSync(file, readFileSync(file).subarray(0, 20));
    await assert.rejects(store.load(5n), corrupt("master-epoch-5.sealed"));
  });
});
