// Fetch's Headers, Request, Response and body mixin in the sandbox, written after WPT's fetch/api/
// coverage (headers/, request/, response/, body/): no npm package publishes those as data.
import { conformance, written } from "./harness.ts";

const threw = (f: () => unknown) => {
  try {
    f();
    return "no error";
  } catch (e) {
    return (e as Error).name;
  }
};

const { fns, cases } = written({
  "Headers: names are case-insensitive and iterate lowercased, sorted": [
    () => [...new Headers({ "X-B": "2", "x-a": "1", "Content-Type": "text/plain" })],
    [
      ["content-type", "text/plain"],
      ["x-a", "1"],
      ["x-b", "2"],
    ],
  ],
  "Headers: append combines values with comma and space": [
    () => {
      const h = new Headers();
      h.append("Accept", "a");
      h.append("accept", "b");
      return h.get("ACCEPT");
    },
    "a, b",
  ],
  "Headers: values are trimmed of leading and trailing HTTP white space": [
    () => new Headers({ a: " \t x y \t " }).get("a"),
    "x y",
  ],
  "Headers: getSetCookie returns each line; iteration keeps them apart": [
    () => {
      const h = new Headers([
        ["Set-Cookie", "a=1"],
        ["set-cookie", "b=2"],
        ["x", "y"],
      ]);
      return { list: h.getSetCookie(), get: h.get("set-cookie"), entries: [...h] };
    },
    {
      list: ["a=1", "b=2"],
      get: "a=1, b=2",
      entries: [
        ["set-cookie", "a=1"],
        ["set-cookie", "b=2"],
        ["x", "y"],
      ],
    },
  ],
  "Headers: invalid names and values are TypeErrors": [
    () => [
      threw(() => new Headers({ "bad name": "x" })),
      threw(() => new Headers({ "": "x" })),
      threw(() => new Headers({ a: "x\ny" })),
      threw(() => new Headers({ a: "x\0y" })),
      threw(() => new Headers({ é: "x" })),
      threw(() => new Headers({ a: "é" })),
      threw(() => new Headers([["a"]] as unknown as [string, string][])),
    ],
    ["TypeError", "TypeError", "TypeError", "TypeError", "TypeError", "no error", "TypeError"],
  ],
  "Headers: set, delete and has": [
    () => {
      const h = new Headers({ a: "1" });
      h.set("A", "2");
      h.set("b", "3");
      h.delete("a");
      return [h.has("a"), h.has("B"), [...h]];
    },
    [false, true, [["b", "3"]]],
  ],
  "Headers: from another Headers, a record and pairs": [
    () => [
      [...new Headers(new Headers({ a: "1" }))],
      [...new Headers([["b", "2"]])],
      [...new Headers(Object.create({ inherited: "x" }, { own: { value: "y", enumerable: true } }))],
    ],
    [[["a", "1"]], [["b", "2"]], [["own", "y"]]],
  ],
  "Headers: forEach visits in iteration order with (value, name, headers)": [
    () => {
      const h = new Headers({ b: "2", a: "1" });
      const seen: string[] = [];
      h.forEach((v, k, self) => {
        seen.push(`${k}=${v} ${self === h}`);
      });
      return seen;
    },
    ["a=1 true", "b=2 true"],
  ],
  "Headers: a Response's are immutable after Response.error()": [
    () => threw(() => Response.error().headers.set("a", "b")),
    "TypeError",
  ],
  "Request: defaults": [
    () => {
      const r = new Request("https://example.com/a?b#c");
      return [r.method, r.url, r.bodyUsed, r.body, r.redirect, r.headers.get("content-type")];
    },
    ["GET", "https://example.com/a?b#c", false, null, "follow", null],
  ],
  "Request: methods are normalized; forbidden ones refused": [
    () => [
      new Request("https://e/", { method: "post" }).method,
      new Request("https://e/", { method: "patch" }).method,
      new Request("https://e/", { method: "Custom" }).method,
      threw(() => new Request("https://e/", { method: "CONNECT" })),
      threw(() => new Request("https://e/", { method: "bad method" })),
    ],
    ["POST", "patch", "Custom", "TypeError", "TypeError"],
  ],
  "Request: GET and HEAD may not have a body": [
    () => [
      threw(() => new Request("https://e/", { body: "x" })),
      threw(() => new Request("https://e/", { method: "HEAD", body: "x" })),
    ],
    ["TypeError", "TypeError"],
  ],
  "Request: a relative URL or one with credentials is refused": [
    () => [threw(() => new Request("/relative")), threw(() => new Request("https://u:p@e/"))],
    ["TypeError", "TypeError"],
  ],
  "Request: a string body sets content-type text/plain;charset=UTF-8": [
    async () => {
      const r = new Request("https://e/", { method: "POST", body: "hi" });
      return [r.headers.get("content-type"), await r.text()];
    },
    ["text/plain;charset=UTF-8", "hi"],
  ],
  "Request: URLSearchParams body sets its content-type": [
    async () => {
      const r = new Request("https://e/", { method: "POST", body: new URLSearchParams({ a: "1 2" }) });
      return [r.headers.get("content-type"), await r.text()];
    },
    ["application/x-www-form-urlencoded;charset=UTF-8", "a=1+2"],
  ],
  "Request: from another Request with overrides": [
    async () => {
      const a = new Request("https://e/a", { method: "POST", body: "x", headers: { h: "1" } });
      const b = new Request(a, { headers: { h: "2" } });
      return [b.url, b.method, b.headers.get("h"), await b.text(), a.bodyUsed];
    },
    ["https://e/a", "POST", "2", "x", true],
  ],
  "Request: clone gives an independent body": [
    async () => {
      const a = new Request("https://e/", { method: "PUT", body: "same" });
      const b = a.clone();
      return [await a.text(), await b.text()];
    },
    ["same", "same"],
  ],
  "Request: signal is an AbortSignal, aborted when the given one is": [
    () => {
      const c = new AbortController();
      const r = new Request("https://e/", { signal: c.signal });
      c.abort();
      return [r.signal instanceof AbortSignal, r.signal.aborted];
    },
    [true, true],
  ],
  "Response: defaults": [
    () => {
      const r = new Response();
      return [r.status, r.statusText, r.ok, r.type, r.body, r.redirected, r.headers.get("content-type")];
    },
    [200, "", true, "default", null, false, null],
  ],
  "Response: status outside 200..599 is a RangeError; a null-body status with a body a TypeError": [
    () => [
      threw(() => new Response(null, { status: 199 })),
      threw(() => new Response(null, { status: 600 })),
      threw(() => new Response("x", { status: 204 })),
      threw(() => new Response(null, { statusText: "bad\n" })),
      new Response(null, { status: 299 }).ok,
      new Response(null, { status: 300 }).ok,
    ],
    ["RangeError", "RangeError", "TypeError", "TypeError", true, false],
  ],
  "Response.json: serializes, sets content-type, keeps given headers": [
    async () => {
      const r = Response.json({ a: [1] }, { status: 201, headers: { "x-y": "z" } });
      return [r.status, r.headers.get("content-type"), r.headers.get("x-y"), await r.json()];
    },
    [201, "application/json", "z", { a: [1] }],
  ],
  "Response.json: a value JSON cannot serialize is a TypeError": [
    () => [threw(() => Response.json(undefined)), threw(() => Response.json(() => 1))],
    ["TypeError", "TypeError"],
  ],
  "Response.redirect: location, status, and refusals": [
    () => {
      // The status is optional (302); the types here say otherwise.
      const redirect = Response.redirect as (url: string, status?: number) => Response;
      const r = Response.redirect("https://e/x", 301);
      return [
        r.status,
        r.headers.get("location"),
        redirect("https://e/").status,
        threw(() => redirect("https://e/", 200)),
        threw(() => redirect("not a url")),
      ];
    },
    [301, "https://e/x", 302, "RangeError", "TypeError"],
  ],
  "Response.error: a network error": [
    () => {
      const r = Response.error();
      return [r.type, r.status, r.statusText, r.body];
    },
    ["error", 0, "", null],
  ],
  "body: text, json, arrayBuffer, bytes, blob": [
    async () => {
      const r = () => new Response('{"a":"é"}');
      const blob = await r().blob();
      return [
        await r().text(),
        await r().json(),
        (await r().arrayBuffer()).byteLength,
        [blob.size, blob.type],
        (await (r() as unknown as { bytes(): Promise<Uint8Array> }).bytes()).length,
      ];
    },
    ['{"a":"é"}', { a: "é" }, 10, [10, "text/plain;charset=utf-8"], 10],
  ],
  "body: used once, then a TypeError; bodyUsed tells": [
    async () => {
      const r = new Response("x");
      await r.text();
      return [r.bodyUsed, await r.text().catch((e) => e.name), threw(() => r.clone())];
    },
    [true, "TypeError", "TypeError"],
  ],
  "body: json() of invalid JSON is a SyntaxError": [
    async () => new Response("{").json().catch((e) => e.name),
    "SyntaxError",
  ],
  "body: a UTF-8 BOM is dropped by text()": [
    async () => new Response(new Uint8Array([0xef, 0xbb, 0xbf, 0x61])).text(),
    "a",
  ],
  "body: from a ReadableStream, read as text": [
    async () =>
      new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode("str"));
            c.enqueue(new TextEncoder().encode("eam"));
            c.close();
          },
        }),
      ).text(),
    "stream",
  ],
  "body: a locked or disturbed stream cannot be read": [
    async () => {
      const r = new Response("x");
      r.body!.getReader();
      return [r.bodyUsed, await r.text().catch((e) => e.name)];
    },
    [false, "TypeError"],
  ],
  "body: clone tees the stream, both halves read": [
    async () => {
      const a = new Response("twice");
      const b = a.clone();
      return [await a.text(), await b.text()];
    },
    ["twice", "twice"],
  ],
  "body: Blob, ArrayBuffer, typed array and DataView bodies": [
    async () => {
      const bytes = new Uint8Array([104, 105, 33]);
      return [
        await new Response(new Blob(["hi"], { type: "x/y" })).text(),
        new Response(new Blob(["hi"], { type: "x/y" })).headers.get("content-type"),
        await new Response(bytes.buffer).text(),
        await new Response(bytes.subarray(1)).text(),
        await new Response(new DataView(bytes.buffer, 0, 2)).text(),
      ];
    },
    ["hi", "x/y", "hi!", "i!", "hi"],
  ],
  "body: formData() of urlencoded and multipart": [
    async () => {
      const fd = new FormData();
      fd.append("f", new Blob(["content"], { type: "text/plain" }), "a.txt");
      fd.append("s", "v");
      const back = await new Response(fd).formData();
      const file = back.get("f") as File;
      const url = await new Response("a=1&b=%20", {
        headers: { "content-type": "application/x-www-form-urlencoded" },
      }).formData();
      return [file.name, await file.text(), back.get("s"), [...url]];
    },
    [
      "a.txt",
      "content",
      "v",
      [
        ["a", "1"],
        ["b", " "],
      ],
    ],
  ],
});

conformance("fetch", fns, () => cases, { threw });
