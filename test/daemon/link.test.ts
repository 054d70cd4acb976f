import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DaemonRequest, DaemonResponse } from "../../src/daemon/http.ts";
import { linkAuthHeaders } from "../../src/daemon/link-auth.ts";
import {
  encodeFrame,
  encodeHeadFrame,
  FRAME,
  type Frame,
  FrameReader,
  LinkProtocolError,
  splitHead,
} from "../../src/daemon/link-frames.ts";
import {
  LINK_MAX_STREAMS,
  LINK_STREAM_WINDOW,
  listenLocalLinks,
  serveLinks,
} from "../../src/daemon/link-server.ts";
import { type Attempt, WorkerLinks } from "../../src/gateway/worker-link.ts";
import { TEST_GATEWAY_KEY, testLinkPeers } from "../helpers/link-keys.ts";

// The gateway↔worker link (docs/adr/0015) from both ends, and from a hostile client's: anyone
// can reach a worker's port and ask for the link.

describe("link frames", () => {
  test("frames cut at any byte boundary read back the same", () => {
    const frames = [
      encodeHeadFrame(FRAME.request, 1, { m: "POST", u: "/a", h: ["x", "y"] }, Buffer.from("body")),
      encodeFrame(FRAME.window, 3, Buffer.from([0, 0, 1, 0])),
      encodeFrame(FRAME.reset, 5),
    ];
    const all = Buffer.concat(frames);
    for (const step of [1, 2, 7, 13, all.length]) {
      const reader = new FrameReader(1024);
      const got: Frame[] = [];
      for (let i = 0; i < all.length; i += step) got.push(...reader.push(all.subarray(i, i + step)));
      assert.deepEqual(
        got.map((f) => [f.type, f.stream]),
        [
          [FRAME.request, 1],
          [FRAME.window, 3],
          [FRAME.reset, 5],
        ],
      );
      const { head, body } = splitHead(got[0]!.payload, 1024);
      assert.deepEqual(head, { m: "POST", u: "/a", h: ["x", "y"] });
      assert.equal(body.toString(), "body");
    }
  });

  test("a frame over the limit, of an unknown type or with a broken head is a protocol error", () => {
    assert.throws(
      () => new FrameReader(100).push(encodeFrame(FRAME.data, 1, Buffer.alloc(101))),
      LinkProtocolError,
    );
    const unknown = encodeFrame(FRAME.data, 1);
    unknown[4] = 99;
    assert.throws(() => new FrameReader(100).push(unknown), LinkProtocolError);
    const notJson = Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from("{{{")]);
    assert.throws(() => splitHead(notJson, 100), LinkProtocolError);
    const overHead = Buffer.concat([Buffer.from([0, 0, 1, 0]), Buffer.alloc(256)]);
    assert.throws(() => splitHead(overHead, 100), LinkProtocolError);
    const short = Buffer.from([0, 0, 0, 50, 1]);
    assert.throws(() => splitHead(short, 100), LinkProtocolError);
  });
});

/** A worker stand-in: answers `/echo`, streams `/stream`, never answers `/hang`. */
function handler(req: DaemonRequest, res: DaemonResponse): void {
  void (async () => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.url === "/hang") return;
    if (req.url === "/stream") {
      res.writeHead(200, { "content-type": "application/octet-stream", trailer: "x-done" });
      const piece = Buffer.alloc(64 * 1024, 1);
      for (let i = 0; i < 16 && !res.destroyed; i++) {
        if (!res.write(piece)) await new Promise<void>((r) => res.once("drain", r));
      }
      res.addTrailers({ "x-done": "yes" });
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.rawHeaders,
        body: Buffer.concat(chunks).toString(),
      }),
    );
  })();
}

let server: Server;
let url: string;
before(async () => {
  server = createServer(handler);
  serveLinks(server, handler, { maxRequestBytes: 1 << 20, authenticator: testLinkPeers("0x01") });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

/** A raw link client: the upgrade, then frames in and out by hand. */
async function rawLink(): Promise<{ socket: Socket; frames: Frame[]; closed: Promise<void> }> {
  const auth = await linkAuthHeaders(TEST_GATEWAY_KEY, "0x01");
  const { socket, head } = await new Promise<{ socket: Socket; head: Buffer }>((resolve, reject) => {
    const req = httpRequest(`${url}/v1/link`, {
      headers: { ...auth, connection: "Upgrade", upgrade: "veil-link/1" },
    });
    req.on("upgrade", (_res, socket: Socket, head: Buffer) => resolve({ socket, head }));
    req.on("response", (res) => reject(new Error(`no upgrade: ${res.statusCode}`)));
    req.on("error", reject);
    req.end();
  });
  const reader = new FrameReader(64 * 1024 * 1024);
  const frames: Frame[] = [];
  socket.on("data", (c: Buffer) => frames.push(...reader.push(c)));
  if (head.length) frames.push(...reader.push(head));
  const closed = new Promise<void>((r) => socket.on("close", () => r()));
  return { socket, frames, closed };
}

async function until(check: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 5));
  }
}

function answerOf(frame: Frame): { status: number; body: string } {
  const { head, body } = splitHead(frame.payload, 1 << 20);
  return { status: (head as { s: number }).s, body: body.toString() };
}

describe("link: the worker's end", () => {
  test("requests on one connection are answered by stream id, in any order", async () => {
    const links = new WorkerLinks(5_000, undefined, TEST_GATEWAY_KEY);
    const endpoint = { address: "0x01" as const, url };
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        links.send(endpoint, {
          method: "POST",
          path: `/echo?i=${i}`,
          rawHeaders: ["x-n", String(i)],
          body: Buffer.from(`body ${i}`),
        }),
      ),
    );
    answers.forEach((a, i) => {
      assert.equal(a.kind, "done");
      const echoed = JSON.parse((a as Extract<Attempt, { kind: "done" }>).body.toString());
      assert.deepEqual(echoed, {
        method: "POST",
        url: `/echo?i=${i}`,
        headers: ["x-n", String(i)],
        body: `body ${i}`,
      });
    });
    links.close();
  });

  test("a malformed request gets 400 REQUEST_MALFORMED on its stream; the connection stays up", async () => {
    const { socket, frames } = await rawLink();
    const bad = [
      { m: "GE T", u: "/", h: [] },
      { m: "GET", u: "no-slash", h: [] },
      { m: "GET", u: "/", h: ["x-injected", "a\r\nset-cookie: b"] },
      { m: "GET", u: "/", h: ["bad name", "v"] },
      { m: "GET", u: "/", h: ["odd"] },
      [1, 2, 3],
    ];
    bad.forEach((head, i) => {
      socket.write(encodeHeadFrame(FRAME.request, 2 * i + 1, head));
    });
    socket.write(encodeHeadFrame(FRAME.request, 101, { m: "GET", u: "/echo", h: [] }));
    await until(() => frames.length === bad.length + 1);
    for (const f of frames.filter((f) => f.stream !== 101)) {
      const { status, body } = answerOf(f);
      assert.equal(status, 400);
      assert.equal(JSON.parse(body).error.code, "REQUEST_MALFORMED");
    }
    assert.equal(answerOf(frames.find((f) => f.stream === 101)!).status, 200);
    socket.destroy();
  });

  test("garbage closes that connection only; HTTP and other links keep working", async () => {
    const hostile = await rawLink();
    const good = await rawLink();
    hostile.socket.write(Buffer.from("GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
    await hostile.closed;
    good.socket.write(encodeHeadFrame(FRAME.request, 1, { m: "GET", u: "/echo", h: [] }));
    await until(() => good.frames.length === 1);
    assert.equal(answerOf(good.frames[0]!).status, 200);
    assert.equal((await fetch(`${url}/echo`)).status, 200);
    // A stream id reused while open, and a frame type a worker is never sent, end it too.
    good.socket.write(encodeHeadFrame(FRAME.request, 3, { m: "GET", u: "/hang", h: [] }));
    good.socket.write(encodeHeadFrame(FRAME.request, 3, { m: "GET", u: "/hang", h: [] }));
    await good.closed;
    const third = await rawLink();
    third.socket.write(encodeFrame(FRAME.data, 1, Buffer.from("x")));
    await third.closed;
  });

  test("an upgrade to anything but the link is refused", async () => {
    const status = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${url}/v1/link`, { headers: { connection: "Upgrade", upgrade: "websocket" } });
      req.on("upgrade", () => reject(new Error("upgraded")));
      req.on("response", (res) => resolve(String(res.statusCode)));
      req.on("error", (err) => resolve(err.message));
      req.end();
    });
    assert.notEqual(status, "101");
  });

  test(`more than ${LINK_MAX_STREAMS} open requests on one link: the next is 503 WORKER_BUSY`, async () => {
    const { socket, frames } = await rawLink();
    for (let i = 0; i < LINK_MAX_STREAMS; i++)
      socket.write(encodeHeadFrame(FRAME.request, 2 * i + 1, { m: "GET", u: "/hang", h: [] }));
    socket.write(encodeHeadFrame(FRAME.request, 99_999, { m: "GET", u: "/echo", h: [] }));
    await until(() => frames.length === 1);
    assert.equal(frames[0]!.stream, 99_999);
    const { status, body } = answerOf(frames[0]!);
    assert.equal(status, 503);
    assert.equal(JSON.parse(body).error.code, "WORKER_BUSY");
    socket.destroy();
  });

  test("a streamed answer never runs more than the window ahead of a reader that does not take it", async () => {
    const { socket, frames } = await rawLink();
    socket.write(encodeHeadFrame(FRAME.request, 1, { m: "GET", u: "/stream", h: [] }));
    const dataBytes = () =>
      frames.filter((f) => f.type === FRAME.data).reduce((n, f) => n + f.payload.length, 0);
    await until(() => dataBytes() >= LINK_STREAM_WINDOW);
    await new Promise((r) => setTimeout(r, 200));
    // Held at the window: at most one piece past it.
    assert.ok(dataBytes() <= LINK_STREAM_WINDOW + 64 * 1024, `sent ${dataBytes()} unacknowledged`);
    assert.equal(frames.filter((f) => f.type === FRAME.end).length, 0);
    // A reader that takes what it gets lets the rest come.
    const ack = (bytes: number) => {
      const window = Buffer.alloc(4);
      window.writeUInt32BE(bytes, 0);
      socket.write(encodeFrame(FRAME.window, 1, window));
    };
    let acked = dataBytes();
    ack(acked);
    await until(() => {
      const now = dataBytes();
      if (now > acked) {
        ack(now - acked);
        acked = now;
      }
      return frames.some((f) => f.type === FRAME.end);
    });
    assert.equal(dataBytes(), 16 * 64 * 1024);
    const end = frames.find((f) => f.type === FRAME.end)!;
    assert.deepEqual(splitHead(end.payload, 1024).head, { "x-done": "yes" });
    socket.destroy();
  });
});

describe("link: the gateway's end", () => {
  test("a streamed answer arrives whole with its trailers", async () => {
    const links = new WorkerLinks(5_000, undefined, TEST_GATEWAY_KEY);
    const a = await links.send(
      { address: "0x01", url },
      { method: "GET", path: "/stream", rawHeaders: [], body: undefined },
    );
    assert.equal(a.kind, "stream");
    const upstream = (a as Extract<Attempt, { kind: "stream" }>).upstream;
    let bytes = 0;
    for await (const chunk of upstream) {
      bytes += chunk.length;
      upstream.ack(chunk.length);
    }
    assert.equal(bytes, 16 * 64 * 1024);
    assert.equal(upstream.complete, true);
    assert.deepEqual(upstream.trailers, { "x-done": "yes" });
    links.close();
  });

  test("a worker that is not there is unreachable; one that does not speak the link too", async () => {
    const links = new WorkerLinks(2_000, undefined, TEST_GATEWAY_KEY);
    const plain = createServer((_req, res) => res.end("plain HTTP"));
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
    const plainUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
    const request = { method: "GET", path: "/echo", rawHeaders: [], body: undefined };
    const none = await links.send({ address: "0x01", url: "http://127.0.0.1:1" }, request);
    assert.equal(none.kind, "unreachable");
    const other = await links.send({ address: "0x02", url: plainUrl }, request);
    assert.equal(other.kind, "unreachable");
    assert.match((other as { why: string }).why, /does not serve veil-link/);
    plain.close();
    links.close();
  });

  test("a worker silent past the timeout: 504 WORKER_TIMEOUT; one that dies mid-request: 502 WORKER_FAILED", async () => {
    const links = new WorkerLinks(200, undefined, TEST_GATEWAY_KEY);
    const request = { method: "GET", path: "/hang", rawHeaders: [], body: undefined };
    await assert.rejects(links.send({ address: "0x01", url }, request), {
      code: "WORKER_TIMEOUT",
      status: 504,
    });
    links.close();

    const doomed = createServer(handler);
    serveLinks(doomed, handler, { maxRequestBytes: 1024, authenticator: testLinkPeers("0x03") });
    const sockets: Socket[] = [];
    doomed.on("connection", (s: Socket) => sockets.push(s));
    await new Promise<void>((r) => doomed.listen(0, "127.0.0.1", r));
    const slow = new WorkerLinks(10_000, undefined, TEST_GATEWAY_KEY);
    const pending = slow.send(
      { address: "0x03", url: `http://127.0.0.1:${(doomed.address() as AddressInfo).port}` },
      request,
    );
    await new Promise((r) => setTimeout(r, 100));
    // The worker's process dies: its connections, the upgraded link among them, go with it.
    for (const s of sockets) s.destroy();
    doomed.close();
    await assert.rejects(pending, { code: "WORKER_FAILED", status: 502 });
    slow.close();
  });

  test("a worker on this machine is reached over its owner-only Unix socket", async () => {
    const local = createServer(handler);
    serveLinks(local, handler, { maxRequestBytes: 1024, authenticator: testLinkPeers("0x04") });
    await new Promise<void>((r) => local.listen(0, "127.0.0.1", r));
    const path = join(tmpdir(), `veil-link-test-${process.pid}.sock`);
    const unix = await listenLocalLinks(local, path);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    let unixConnections = 0;
    unix.on("connection", () => unixConnections++);
    const links = new WorkerLinks(5_000, undefined, TEST_GATEWAY_KEY);
    const a = await links.send(
      { address: "0x04", url: `http://127.0.0.1:${(local.address() as AddressInfo).port}` },
      { method: "GET", path: "/echo", rawHeaders: [], body: undefined },
    );
    assert.equal(a.kind, "done");
    assert.equal(unixConnections, 1);
    links.close();
    local.closeAllConnections();
    local.close();
  });
});

describe("link: a worker in the gateway's process (docs/adr/0016)", () => {
  // Its URL on chain reaches nothing: whatever answers came by a call, not a connection.
  const self = { address: "0xAbC0000000000000000000000000000000000005" as const, url: "http://127.0.0.1:1" };

  /** The stand-in handler, with what became of each response it was given. */
  function watched() {
    const responses: DaemonResponse[] = [];
    const listener = (req: DaemonRequest, res: DaemonResponse) => {
      responses.push(res);
      handler(req, res);
    };
    return { listener, responses };
  }

  test("a request reaches the worker's handler as it would over the link, by a call", async () => {
    const { listener } = watched();
    const links = new WorkerLinks(5_000, { address: self.address.toLowerCase(), listener }, TEST_GATEWAY_KEY);
    const a = await links.send(self, {
      method: "POST",
      path: "/echo?x=1",
      rawHeaders: ["x-test", "yes"],
      body: Buffer.from("payload"),
    });
    assert.equal(a.kind, "done");
    const done = a as Extract<Attempt, { kind: "done" }>;
    assert.equal(done.status, 200);
    assert.deepEqual(JSON.parse(done.body.toString()), {
      method: "POST",
      url: "/echo?x=1",
      headers: ["x-test", "yes"],
      body: "payload",
    });
    // Another worker is still reached over the network: this one is not there.
    const other = await links.send(
      { address: "0x06", url: "http://127.0.0.1:1" },
      { method: "GET", path: "/echo", rawHeaders: [], body: undefined },
    );
    assert.equal(other.kind, "unreachable");
    links.close();
  });

  test("a streamed answer keeps to the window, arrives whole with trailers, and a reader that leaves stops it", async () => {
    const { listener, responses } = watched();
    const links = new WorkerLinks(5_000, { address: self.address, listener }, TEST_GATEWAY_KEY);
    const request = { method: "GET", path: "/stream", rawHeaders: [], body: undefined };
    const a = (await links.send(self, request)) as Extract<Attempt, { kind: "stream" }>;
    assert.equal(a.kind, "stream");
    // Nobody reads yet: the handler is held at the window (one piece of 64 KiB may pass it).
    await new Promise((r) => setTimeout(r, 100));
    let queued = 0;
    const reader = a.upstream[Symbol.asyncIterator]();
    let waiting = reader.next();
    for (;;) {
      const next = await Promise.race([waiting, new Promise<null>((r) => setTimeout(() => r(null), 20))]);
      if (next === null || next.done) break;
      queued += (next.value as Buffer).length;
      waiting = reader.next();
    }
    assert.ok(queued <= LINK_STREAM_WINDOW + 64 * 1024, `${queued} bytes ahead of the reader`);
    assert.ok(queued < 16 * 64 * 1024, "the handler did not write everything unread");
    // Taking them lets the rest come, then the trailers.
    a.upstream.ack(queued);
    let rest = 0;
    for (;;) {
      const next = await waiting;
      waiting = reader.next();
      if (next.done) break;
      rest += (next.value as Buffer).length;
      a.upstream.ack((next.value as Buffer).length);
    }
    assert.equal(queued + rest, 16 * 64 * 1024);
    assert.equal(a.upstream.complete, true);
    assert.deepEqual(a.upstream.trailers, { "x-done": "yes" });

    const b = (await links.send(self, request)) as Extract<Attempt, { kind: "stream" }>;
    b.upstream.cancel();
    const second = responses[1]!;
    assert.equal(second.destroyed, true, "the worker's response was abandoned");
    links.close();
  });

  test("a worker silent past the timeout: 504 WORKER_TIMEOUT, its response abandoned; closing fails what is in flight", async () => {
    const { listener, responses } = watched();
    const links = new WorkerLinks(200, { address: self.address, listener }, TEST_GATEWAY_KEY);
    const request = { method: "GET", path: "/hang", rawHeaders: [], body: undefined };
    await assert.rejects(links.send(self, request), { code: "WORKER_TIMEOUT", status: 504 });
    assert.equal(responses[0]!.destroyed, true);

    const pending = links.send(self, request);
    links.close();
    await assert.rejects(pending, { code: "WORKER_FAILED", status: 502 });
    assert.equal(responses[1]!.destroyed, true);
  });
});
