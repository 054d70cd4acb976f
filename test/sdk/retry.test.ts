import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { VeilClient } from "../../src/sdk/client.ts";

// What the SDK does when the gateway says the worker that had a request went away (a host cut
// off, src/gateway/README.md): a request that may run twice is sent again with a fresh nonce;
// any other gets the retryable error, since it may have run. A stand-in gateway fails the first
// try of each request.
describe("the SDK sends an idempotent request again when its worker went away", () => {
  const seen: { method: string; nonce: string | undefined }[] = [];
  let failNext = 0;
  const server = createServer((req, res) => {
    seen.push({ method: req.method!, nonce: req.headers["x-veil-nonce"] as string | undefined });
    req.resume();
    if (failNext > 0) {
      failNext--;
      res.writeHead(502, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          error: {
            code: "WORKER_FAILED",
            message: "The worker dropped the request",
            retryable: true,
            hint: "…",
          },
        }),
      );
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
  });
  let client: VeilClient;
  before(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    client = new VeilClient({ gateway: { url }, chain: {} } as unknown as ConstructorParameters<
      typeof VeilClient
    >[0]);
  });
  after(() => server.close());

  const call = (request: Parameters<VeilClient["invoke"]>[1]) => {
    seen.length = 0;
    return client.invoke("counter", { verify: false, ...request });
  };

  test("a GET is sent again, and answered", async () => {
    failNext = 1;
    const r = await call({ path: "/count" });
    assert.equal(r.status, 200);
    assert.deepEqual(
      seen.map((s) => s.method),
      ["GET", "GET"],
    );
  });

  test("a POST is not: its retryable error reaches the caller", async () => {
    failNext = 1;
    await assert.rejects(call({ path: "/", method: "POST", body: "x" }), {
      code: "WORKER_FAILED",
      retryable: true,
    });
    assert.equal(seen.length, 1);
  });

  test("a POST the caller marks idempotent is sent again; at most three tries in all", async () => {
    failNext = 1;
    assert.equal((await call({ path: "/", method: "POST", body: "x", idempotent: true })).status, 200);
    assert.equal(seen.length, 2);
    failNext = 5;
    await assert.rejects(call({ path: "/count", verify: true }), { code: "WORKER_FAILED" });
    assert.equal(seen.length, 3);
    // Each try its own nonce: the first may be spent in the network's nonce space.
    assert.equal(new Set(seen.map((s) => s.nonce)).size, 3, JSON.stringify(seen));
    failNext = 0;
  });
});
