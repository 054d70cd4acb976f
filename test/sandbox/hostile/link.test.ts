// The gateway link (veil-link/1) from a stranger's side. Anyone could open it on a worker's
// public port, send requests and never read the answers: full 8 MiB answers were buffered
// without limit (worker RSS 491 → 948 MB from 60 requests in 1.2 s). Now only gateways the
// worker lists may open it, each signature once, and a peer that does not read stops being read.
import assert from "node:assert/strict";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import type { DaemonRequest, DaemonResponse } from "../../../src/daemon/http.ts";
import { LINK_AUTH, linkAuthHeaders } from "../../../src/daemon/link-auth.ts";
import { encodeHeadFrame, FRAME, type Frame, FrameReader } from "../../../src/daemon/link-frames.ts";
import { LINK_BUFFER_BYTES, LINK_MAX_PER_PEER, serveLinks } from "../../../src/daemon/link-server.ts";
import { TEST_GATEWAY_KEY, testLinkPeers } from "../../helpers/link-keys.ts";

const WORKER = "0x00000000000000000000000000000000000000aa";
const MIB = 1024 * 1024;
let reached = 0;
const handler = (_req: DaemonRequest, res: DaemonResponse) => {
  reached++;
  res.writeHead(200, { "content-type": "application/octet-stream" });
  res.end(Buffer.alloc(MIB, 7));
};
let server: Server;
let url: string;
before(async () => {
  server = createServer(handler);
  serveLinks(server, handler, { maxRequestBytes: 1 << 20, authenticator: testLinkPeers(WORKER) });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

type Upgraded = { socket: Socket; head: Buffer } | { status: number; body: string };

function open(headers: Record<string, string>): Promise<Upgraded> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/v1/link`, {
      headers: { ...headers, connection: "Upgrade", upgrade: "veil-link/1" },
    });
    req.on("upgrade", (_res, socket: Socket, head: Buffer) => resolve({ socket, head }));
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function refusal(u: Upgraded): string {
  assert.ok("status" in u, "the link was opened");
  return `${u.status} ${JSON.parse(u.body).error.code}`;
}

describe("hostile peers: the gateway link", () => {
  test("without a gateway's signature the link is refused, and nothing sent reaches the worker", async () => {
    const before = reached;
    assert.equal(refusal(await open({})), "401 LINK_UNAUTHENTICATED");
    assert.equal(reached, before);
  });

  test("a forged, replayed, stale or other worker's signature is refused", async () => {
    const forged = await linkAuthHeaders(`0x${"22".repeat(32)}`, WORKER);
    forged[LINK_AUTH.gateway] = (await linkAuthHeaders(TEST_GATEWAY_KEY, WORKER))[LINK_AUTH.gateway]!;
    assert.equal(refusal(await open(forged)), "401 LINK_UNAUTHENTICATED", "signed by another key");

    const good = await linkAuthHeaders(TEST_GATEWAY_KEY, WORKER);
    const first = await open(good);
    assert.ok("socket" in first, "the genuine gateway's link opens");
    first.socket.destroy();
    assert.equal(refusal(await open(good)), "401 LINK_UNAUTHENTICATED", "the same signature again");

    const stale = await linkAuthHeaders(TEST_GATEWAY_KEY, WORKER, Date.now() - 5 * 60_000);
    assert.equal(refusal(await open(stale)), "401 LINK_UNAUTHENTICATED", "five minutes old");

    const elsewhere = await linkAuthHeaders(TEST_GATEWAY_KEY, "0x00000000000000000000000000000000000000bb");
    assert.equal(refusal(await open(elsewhere)), "401 LINK_UNAUTHENTICATED", "signed for another worker");
  });

  test("one gateway may hold only a few links to a worker", async () => {
    const held: Socket[] = [];
    for (let i = 0; i < LINK_MAX_PER_PEER; i++) {
      const u = await open(await linkAuthHeaders(TEST_GATEWAY_KEY, WORKER));
      assert.ok("socket" in u);
      held.push(u.socket);
    }
    assert.equal(refusal(await open(await linkAuthHeaders(TEST_GATEWAY_KEY, WORKER))), "429 LINK_TOO_MANY");
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const again = await open(await linkAuthHeaders(TEST_GATEWAY_KEY, WORKER));
    assert.ok("socket" in again, "a link closed makes room");
    again.socket.destroy();
  });

  test("a gateway that never reads stops being read: the worker holds a bounded amount, and loses nothing", async () => {
    const u = await open(await linkAuthHeaders(TEST_GATEWAY_KEY, WORKER));
    assert.ok("socket" in u);
    const { socket } = u;
    socket.pause();
    const before = reached;
    const sent = 200;
    for (let i = 0; i < sent; i++)
      socket.write(encodeHeadFrame(FRAME.request, 2 * i + 1, { m: "GET", u: "/", h: [] }));
    await new Promise((r) => setTimeout(r, 1_000));
    const answeredUnread = reached - before;
    // 200 MiB of answers asked for; the worker made about LINK_BUFFER_BYTES' worth, then waited.
    assert.ok(
      answeredUnread < (LINK_BUFFER_BYTES / MIB) * 2 + 8,
      `${answeredUnread} answers of 1 MiB were made for a peer that read none`,
    );
    // Once the gateway reads, every request is answered: backpressure, not loss.
    const reader = new FrameReader(4 * MIB);
    const frames: Frame[] = [];
    socket.on("data", (c: Buffer) => frames.push(...reader.push(c)));
    if (u.head.length) frames.push(...reader.push(u.head));
    socket.resume();
    const end = Date.now() + 20_000;
    while (frames.length < sent && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.equal(frames.length, sent);
    assert.ok(frames.every((f) => f.type === FRAME.response));
    socket.destroy();
  });
});
