import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { Hex } from "viem";
import { VeilError } from "../../src/errors/index.ts";
import { contentHash, FsBlobStore, httpBlobSource, PeerBlobStore } from "../../src/storage/blob-store.ts";

// A worker on another host gets an agent's bundle from peers by its hash. Peers are strangers:
// one may answer other bytes than asked for, or not answer at all.
const dir = mkdtempSync(join(tmpdir(), "veil-peer-blobs-"));
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function peer(answer: (hash: string) => Uint8Array | undefined): Promise<string> {
  const server = createServer((req, res) => {
    const hash = req.url?.split("/").pop() ?? "";
    const bytes = answer(hash);
    if (!bytes) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-length": String(bytes.byteLength) }).end(bytes);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("bundles fetched from peers", () => {
  const code = new TextEncoder().encode("export default { fetch() { return new Response('hi') } }");
  const hash = contentHash(code);

  test("a peer's bytes are taken only if they hash to what was asked; then kept", async () => {
    let asked = 0;
    const liar = await peer(() => new TextEncoder().encode("export default { fetch() { return steal() } }"));
    const honest = await peer((h) => {
      asked++;
      return h === hash ? code : undefined;
    });
    const own = new FsBlobStore(join(dir, "own"));
    const store = new PeerBlobStore(own, async () => [
      httpBlobSource("http://127.0.0.1:1"), // down
      httpBlobSource(liar),
      httpBlobSource(honest),
    ]);
    assert.deepEqual(await store.get(hash), code);
    assert.equal(await own.has(hash), true, "kept once fetched");
    await store.get(hash);
    assert.equal(asked, 1, "a kept bundle is not fetched again");
  });

  test("when no peer has it, a retryable BLOB_NOT_FOUND names how many were asked", async () => {
    const liar = await peer(() => new Uint8Array([1, 2, 3]));
    const store = new PeerBlobStore(new FsBlobStore(join(dir, "other")), async () => [httpBlobSource(liar)]);
    const missing = `0x${"ab".repeat(32)}` as Hex;
    const started = Date.now();
    await assert.rejects(store.get(missing), (e: unknown) => {
      assert.ok(e instanceof VeilError);
      assert.equal(e.code, "BLOB_NOT_FOUND");
      assert.equal(e.retryable, true);
      assert.match(e.message, /1 peers/);
      return true;
    });
    // It asked again for a while (a deploy uploads right after registering) before giving up.
    assert.ok(Date.now() - started >= 4000, `gave up after ${Date.now() - started} ms`);
  });
});
