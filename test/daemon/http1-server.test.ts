import assert from "node:assert/strict";
import { type AddressInfo, connect, type Server } from "node:net";
import { after, describe, test } from "node:test";
import { readBody } from "../../src/daemon/http.ts";
import {
  createHttp1Server,
  type Http1Handler,
  type Http1Options,
  type Http1Response,
} from "../../src/daemon/http1-server.ts";

// The gateway's public HTTP/1.1 server, from a client's side: framing, order, limits and what a
// hostile client can send. Raw sockets where fetch would hide the wire.

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function serve(handler: Http1Handler, options: Partial<Http1Options> = {}): Promise<number> {
  const server = createHttp1Server(handler, { maxHeaderBytes: 16 * 1024, ...options });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  return (server.address() as AddressInfo).port;
}

/** Sends `bytes` (pieces with pauses between them) and reads until the server closes or `ms` pass. */
function exchange(
  port: number,
  bytes: string | string[],
  ms = 2_000,
): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, ms);
    socket.on("data", (d) => {
      text += d.toString("latin1");
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    socket.on("error", reject);
    const pieces = Array.isArray(bytes) ? bytes : [bytes];
    let i = 0;
    const next = () => {
      if (i >= pieces.length || socket.destroyed) return;
      socket.write(pieces[i++]!);
      setTimeout(next, 50);
    };
    next();
  });
}

const hello: Http1Handler = (req, res) => {
  res.writeHead(200, { "content-type": "text/plain" });
  res.end(`hello ${req.method} ${req.url}`);
};

/** Splits a raw exchange into its answers (head text and body) where bodies have a length. */
function answers(text: string): { head: string; body: string }[] {
  const out: { head: string; body: string }[] = [];
  let rest = text;
  while (rest.length) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) break;
    const head = rest.slice(0, end);
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    const noBody = /^HTTP\/1\.1 (1\d\d|204|304)/.test(head);
    const body = noBody ? "" : rest.slice(end + 4, end + 4 + length);
    out.push({ head, body });
    rest = rest.slice(end + 4 + body.length);
  }
  return out;
}

describe("http1 server: answers", () => {
  test("a whole answer has its length and a date, and the connection serves the next request", async () => {
    const port = await serve(hello);
    const { text, closed } = await exchange(
      port,
      ["GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "GET /b HTTP/1.1\r\n\r\n"],
      400,
    );
    const got = answers(text);
    assert.equal(got.length, 2);
    assert.match(got[0]!.head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(got[0]!.head, /\r\ncontent-length: 12(\r\n|$)/);
    assert.match(got[0]!.head, /\r\ndate: \w{3}, \d\d \w{3} \d{4} /);
    assert.equal(got[0]!.body, "hello GET /a");
    assert.equal(got[1]!.body, "hello GET /b");
    assert.equal(closed, false, "a keep-alive connection stays open");
  });

  test("pipelined requests are answered in the order they came, even when a later one is ready first", async () => {
    const port = await serve((req, res) => {
      const delay = req.url === "/slow" ? 150 : 0;
      setTimeout(() => res.end(`answer to ${req.url}`), delay);
    });
    const { text } = await exchange(
      port,
      "GET /slow HTTP/1.1\r\n\r\nGET /fast HTTP/1.1\r\n\r\nGET /third HTTP/1.1\r\n\r\n",
      600,
    );
    assert.deepEqual(
      answers(text).map((a) => a.body),
      ["answer to /slow", "answer to /fast", "answer to /third"],
    );
  });

  test("request bodies arrive whole, with a length or chunked", async () => {
    const port = await serve(async (req, res) => {
      const body = await readBody(req, 1024);
      res.end(`got ${body.toString()}`);
    });
    const { text } = await exchange(
      port,
      "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
      400,
    );
    assert.deepEqual(
      answers(text).map((a) => a.body),
      ["got hello", "got abcde"],
    );
  });

  test("a streamed answer is chunked and ends with its trailers", async () => {
    const port = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain", trailer: "x-veil-receipt" });
      res.flushHeaders();
      res.write("one ");
      setTimeout(() => {
        res.write("two");
        res.addTrailers({ "x-veil-receipt": "r1" });
        res.end();
      }, 30);
    });
    const { text } = await exchange(port, "GET / HTTP/1.1\r\n\r\n", 400);
    assert.match(text, /\r\ntransfer-encoding: chunked\r\n/);
    assert.ok(text.endsWith("\r\n\r\n4\r\none \r\n3\r\ntwo\r\n0\r\nx-veil-receipt: r1\r\n\r\n"), text);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await res.text(), "one two");
  });

  test("HEAD gets the head alone, with the length a GET would have", async () => {
    const port = await serve((req, res) => {
      res.writeHead(200, { "content-length": 12 });
      res.end(req.method === "HEAD" ? undefined : "twelve bytes");
    });
    const { text } = await exchange(port, "HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", 400);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*content-length: 12\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    assert.ok(text.endsWith("\r\n\r\ntwelve bytes"));
  });

  test("an HTTP/1.0 client's connection closes after its answer, and a stream ends with the connection", async () => {
    const port = await serve((req, res) => {
      if (req.url === "/stream") {
        res.flushHeaders();
        res.write("streamed");
        res.end();
        return;
      }
      res.end("whole");
    });
    const whole = await exchange(port, "GET / HTTP/1.0\r\n\r\n");
    assert.equal(whole.closed, true);
    assert.match(whole.text, /\r\nconnection: close\r\n/);
    assert.ok(whole.text.endsWith("\r\n\r\nwhole"));
    const streamed = await exchange(port, "GET /stream HTTP/1.0\r\n\r\n");
    assert.equal(streamed.closed, true);
    assert.doesNotMatch(streamed.text, /transfer-encoding/);
    assert.ok(streamed.text.endsWith("\r\n\r\nstreamed"));
  });

  test("Expect: 100-continue is answered at once; other expectations are refused 417", async () => {
    const port = await serve(async (req, res) => {
      res.end(`got ${(await readBody(req, 100)).toString()}`);
    });
    const ok = await exchange(
      port,
      ["POST / HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n", "hi"],
      400,
    );
    assert.match(ok.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    assert.ok(ok.text.endsWith("got hi"));
    const refused = await exchange(port, "POST / HTTP/1.1\r\nContent-Length: 0\r\nExpect: magic\r\n\r\n");
    assert.match(refused.text, /^HTTP\/1\.1 417 /);
    assert.match(refused.text, /EXPECTATION_FAILED/);
    assert.equal(refused.closed, true);
  });
});

describe("http1 server: hostile clients", () => {
  let calls = 0;
  const counting: Http1Handler = (req, res) => {
    calls++;
    hello(req, res);
  };

  test("what is not HTTP, or smuggles a body, is 400 REQUEST_MALFORMED and reaches no handler", async () => {
    const port = await serve(counting);
    const before = calls;
    for (const bytes of [
      "GARBAGE\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
      "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
    ]) {
      const { text, closed } = await exchange(port, bytes);
      assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\n/, JSON.stringify(bytes));
      assert.match(text, /"code":"REQUEST_MALFORMED"/);
      assert.equal(closed, true);
    }
    assert.equal(calls, before);
  });

  test("headers past the limit are 431 REQUEST_HEADERS_TOO_LARGE", async () => {
    const port = await serve(counting, { maxHeaderBytes: 1024 });
    const before = calls;
    const { text, closed } = await exchange(port, `GET / HTTP/1.1\r\nX-Big: ${"a".repeat(2000)}\r\n\r\n`);
    assert.match(text, /^HTTP\/1\.1 431 /);
    assert.match(text, /"code":"REQUEST_HEADERS_TOO_LARGE"/);
    assert.equal(closed, true);
    assert.equal(calls, before);
  });

  test("a client that sends its headers too slowly is answered 408 and cut off", async () => {
    const port = await serve(counting, { headersTimeoutMs: 200 });
    const started = Date.now();
    const { text, closed } = await exchange(port, ["GET / HTTP/1.1\r\n", "X-Slow: 1\r\n"], 4_000);
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.match(text, /"code":"REQUEST_TIMEOUT"/);
    assert.equal(closed, true);
    assert.ok(Date.now() - started < 2_500);
  });

  test("an idle keep-alive connection is closed", async () => {
    const port = await serve(hello, { keepAliveTimeoutMs: 100 });
    const { text, closed } = await exchange(port, "GET / HTTP/1.1\r\n\r\n", 4_000);
    assert.equal(answers(text).length, 1);
    assert.equal(closed, true);
  });

  test("a flood of pipelined requests is served up to the bound, in order, and the connection closes", async () => {
    let served = 0;
    const port = await serve((req, res) => {
      served++;
      setTimeout(() => res.end(req.url), 20);
    });
    const { text, closed } = await exchange(
      port,
      Array.from({ length: 100 }, (_, i) => `GET /${i} HTTP/1.1\r\n\r\n`).join(""),
    );
    assert.equal(served, 32);
    assert.deepEqual(
      answers(text).map((a) => a.body),
      Array.from({ length: 32 }, (_, i) => `/${i}`),
    );
    assert.equal(closed, true);
  });

  test("a handler cannot be made to write CR/LF into a header", async () => {
    let refused: unknown;
    const port = await serve((_req, res) => {
      try {
        res.setHeader("x-echo", "a\r\nSet-Cookie: stolen=1");
      } catch (err) {
        refused = err;
      }
      assert.throws(() => res.writeHead(200, { "bad name": "x" }), TypeError);
      res.end("safe");
    });
    const { text } = await exchange(port, "GET / HTTP/1.1\r\n\r\n", 300);
    assert.ok(refused instanceof TypeError);
    assert.doesNotMatch(text, /stolen/);
    assert.ok(text.endsWith("safe"));
  });

  test("a body the handler leaves unread closes the connection after the answer, never read as a request", async () => {
    const port = await serve(counting);
    const before = calls;
    const smuggled = "GET /smuggled HTTP/1.1\r\n\r\n";
    const { text, closed } = await exchange(
      port,
      `POST / HTTP/1.1\r\nContent-Length: ${300_000}\r\n\r\n${smuggled}${"x".repeat(300_000 - smuggled.length)}`,
    );
    assert.equal(answers(text).length, 1);
    assert.equal(closed, true);
    assert.equal(calls - before, 1);
  });

  test("an upgrade is not served: answered as a plain request, then the connection closes", async () => {
    const port = await serve(hello);
    const { text, closed } = await exchange(
      port,
      "GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /next HTTP/1.1\r\n\r\n",
    );
    assert.equal(answers(text).length, 1);
    assert.match(text, /\r\nconnection: close\r\n/);
    assert.equal(closed, true);
  });

  test("a streamed answer longer than its declared length is cut, not passed on as a next answer", async () => {
    const port = await serve((_req, res) => {
      res.writeHead(200, { "content-length": 4 });
      res.flushHeaders();
      res.write("four");
      res.write("HTTP/1.1 200 OK\r\n\r\n");
      res.end();
    });
    const { text, closed } = await exchange(port, "GET / HTTP/1.1\r\n\r\n");
    assert.equal(closed, true);
    assert.equal((text.match(/HTTP\/1\.1/g) ?? []).length, 1);
  });

  test("a client that goes away mid-answer closes the response, so the handler can stop", async () => {
    let response: Http1Response | undefined;
    const closed = new Promise<boolean>((resolve) => {
      void serve((_req, res) => {
        response = res;
        res.flushHeaders();
        res.write("first");
        res.once("close", () => resolve(res.writableFinished));
      }).then((port) => {
        const socket = connect(port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\n\r\n"));
        socket.once("data", () => socket.destroy());
      });
    });
    assert.equal(await closed, false);
    assert.equal(response?.destroyed, true);
  });
});
