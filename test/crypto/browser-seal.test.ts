import assert from "node:assert/strict";
import { test } from "node:test";
import vm from "node:vm";
import {
  generateX25519,
  openRequest,
  requestHash,
  SealedStreamWriter,
  sealResponse,
} from "../../src/crypto/index.ts";
import { bundleForBrowser } from "../helpers/browser-bundle.ts";

// The web console seals requests and opens answers in the browser (issue 16): the crypto on
// that path must bundle without a Node built-in and, run where only web APIs exist, interwork
// with the Node side (OpenSSL's X25519 and hashes) byte for byte.

const bundle = bundleForBrowser;

test("the SDK's browser entry (invokeAgent included) bundles without any Node built-in", async () => {
  const found: string[] = [];
  await bundle('export * from "./src/sdk/browser.ts";', found);
  assert.deepEqual(found, [], "Node built-ins pulled into the browser bundle");
});

test("a request sealed where only web APIs exist opens in Node, and Node's sealed answers open there", async () => {
  const found: string[] = [];
  const code = await bundle(
    `export { sealRequest, openResponse, requestHash } from "./src/crypto/invocation.ts";
     export { SealedStreamReader } from "./src/crypto/sealed-stream.ts";
     export { generateX25519 } from "./src/crypto/sign.ts";
     export { toHex, fromHex, equalBytes } from "./src/crypto/bytes.ts";`,
    found,
  );
  assert.deepEqual(found, []);
  const agent = generateX25519();
  const context = vm.createContext({
    TextEncoder,
    TextDecoder,
    atob,
    btoa,
    crypto: globalThis.crypto,
    URL,
    agentKey: Array.from(agent.publicKey),
  });
  vm.runInContext(
    `${code}
     if (typeof process !== "undefined" || typeof Buffer !== "undefined" || typeof require !== "undefined")
       throw new Error("Node globals leaked into the context");
     // Byte arrays of this realm, as a browser's TextEncoder makes (the outer one makes Node's).
     var OuterEncoder = TextEncoder;
     TextEncoder = class { encode(s) { return new Uint8Array(new OuterEncoder().encode(s)); } };
     var own = (bytes) => new Uint8Array(bytes);
     var reply = veil.generateX25519();
     var nonce = "0x" + veil.toHex(crypto.getRandomValues(new Uint8Array(32)));`,
    context,
  );
  const sealed = vm.runInContext(
    `veil.sealRequest(new Uint8Array(agentKey), 7n, {
       method: "POST", path: "/stream?x=1", headers: [["a", "b"]], body: btoa("hi"),
       replyTo: veil.toHex(reply.publicKey), nonce, timestamp: 1, stream: true,
     })`,
    context,
  ) as Uint8Array;
  const opened = openRequest(agent.privateKey, 7n, new Uint8Array(sealed));
  assert.equal(opened.path, "/stream?x=1");
  assert.equal(opened.body, Buffer.from("hi").toString("base64"));
  assert.equal(
    vm.runInContext('veil.requestHash("POST", "/stream?x=1", new TextEncoder().encode("hi"))', context),
    requestHash("POST", "/stream?x=1", new TextEncoder().encode("hi")),
  );
  const replyTo = Buffer.from(opened.replyTo, "hex");
  context.whole = sealResponse(replyTo, 7n, opened.nonce, { status: 200, body: "b2s=" });
  assert.deepEqual(
    JSON.parse(
      vm.runInContext("JSON.stringify(veil.openResponse(reply.privateKey, 7n, nonce, own(whole)))", context),
    ),
    { status: 200, body: "b2s=" },
  );
  const writer = new SealedStreamWriter(7n, opened.nonce);
  context.frames = [
    writer.head(replyTo, { status: 200, headers: [["content-type", "text/plain"]] }),
    writer.chunk(new TextEncoder().encode("one ")),
    writer.chunk(new TextEncoder().encode("two")),
    writer.end({ receipt: "r" }),
  ];
  const events = JSON.parse(
    vm.runInContext(
      `(() => {
        const reader = new veil.SealedStreamReader(reply.privateKey, 7n, nonce);
        const out = [];
        for (const f of frames) for (const e of reader.push(own(f)))
          out.push(e.kind === "chunk" ? new TextDecoder().decode(e.bytes) : e.kind === "head" ? e.status : e.value);
        reader.finish();
        return JSON.stringify(out);
      })()`,
      context,
    ),
  );
  assert.deepEqual(events, [200, "one ", "two", { receipt: "r" }]);
  // A frame altered on the way is refused there as here.
  const altered = new Uint8Array((context.frames as Uint8Array[])[1]!);
  altered[altered.length - 1]! ^= 1;
  context.altered = altered;
  assert.equal(
    vm.runInContext(
      `(() => { const r = new veil.SealedStreamReader(reply.privateKey, 7n, nonce);
        r.push(own(frames[0])); try { r.push(own(altered)); return "accepted"; } catch (e) { return e.code; } })()`,
      context,
    ),
    "SEALED_STREAM_INVALID",
  );
});
