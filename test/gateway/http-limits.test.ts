import assert from "node:assert/strict";
import type { Server } from "node:http";
import { type AddressInfo, connect, type Server as NetServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { createGatewayServer } from "../../src/gateway/server.ts";
import { startStandInWorker } from "../helpers/stand-in-worker.ts";

// The gateway in front of a stand-in worker that counts what reaches it: what the gateway
// refuses at the HTTP level must never reach a worker.
let worker: Server;
let gateway: NetServer;
let port: number;
let reachedWorker: () => number;

before(async () => {
  const standIn = await startStandInWorker();
  worker = standIn.server;
  reachedWorker = standIn.reached;
  gateway = createGatewayServer({
    router: standIn.router,
    maxRequestBytes: 1024,
    workerTimeoutMs: 5_000,
    linkKey: standIn.linkKey,
  });
  await new Promise<void>((r) => gateway.listen(0, "127.0.0.1", r));
  port = (gateway.address() as AddressInfo).port;
});
after(() => {
  gateway?.close();
  worker?.close();
});

/** Sends raw bytes and reads the whole answer (the gateway closes after refusing). */
function raw(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.end(bytes));
    const chunks: Buffer[] = [];
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

function errorOf(answer: string): { status: number; code: string; hint?: string } {
  const status = Number(answer.slice(9, 12));
  const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as {
    error: { code: string; hint?: string };
  };
  return { status, ...body.error };
}

describe("gateway: requests refused at the HTTP level", () => {
  test("oversized headers are 431 REQUEST_HEADERS_TOO_LARGE with a hint, and never reach a worker", async () => {
    const before = reachedWorker();
    const answer = await raw(
      `GET /agents/hello/ HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    const e = errorOf(answer);
    assert.equal(e.status, 431);
    assert.equal(e.code, "REQUEST_HEADERS_TOO_LARGE");
    assert.match(e.hint ?? "", /smaller headers/);
    assert.equal(reachedWorker(), before);
  });

  test("many small headers adding up past the limit are refused the same way", async () => {
    const headers = Array.from({ length: 600 }, (_, i) => `x-h${i}: ${"v".repeat(30)}\r\n`).join("");
    const e = errorOf(await raw(`GET /agents/hello/ HTTP/1.1\r\nhost: x\r\n${headers}\r\n`));
    assert.equal(e.status, 431);
  });

  test("a request that is not HTTP is 400 REQUEST_MALFORMED", async () => {
    const e = errorOf(await raw("HELLO\x00 there\r\n\r\n"));
    assert.equal(e.status, 400);
    assert.equal(e.code, "REQUEST_MALFORMED");
  });

  test("a body over the gateway's limit is 413 BODY_TOO_LARGE and never reaches a worker", async () => {
    const before = reachedWorker();
    const res = await fetch(`http://127.0.0.1:${port}/agents/hello/`, {
      method: "POST",
      body: "x".repeat(2048),
    });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "BODY_TOO_LARGE");
    assert.equal(reachedWorker(), before);
  });

  test("after all of that, the gateway still serves", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/agents/hello/`, {
      headers: { "x-ok": "a".repeat(8_000) },
    });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "hello");
  });
});
