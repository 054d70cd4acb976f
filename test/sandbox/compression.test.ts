// Issue 19: CompressionStream and DecompressionStream in the sandbox, on the host's zlib, held to
// Node's zlib both ways. Before, neither existed ("CompressionStream is not defined").
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { deflateRawSync, deflateSync, gunzipSync, gzipSync, inflateRawSync, inflateSync } from "node:zlib";
import { IsolateSandbox } from "../../src/sandbox/isolate.ts";

const meta = { id: "19", name: "zlib", codeHash: `0x${"19".repeat(32)}` };

/** Runs `handler` (a fetch handler's body) on `body` and returns the answer's bytes. */
async function run(handler: string, body: Uint8Array): Promise<{ status: number; bytes: Buffer }> {
  const s = await IsolateSandbox.create({
    meta,
    code: `export default { async fetch(request) { ${handler} } };`,
  });
  try {
    const r = await s.invoke({ method: "POST", url: "https://zlib.agents.veil/", headers: [], body });
    return { status: r.status, bytes: Buffer.from(r.body) };
  } finally {
    s.dispose();
  }
}

const through = (stream: string, format: string) =>
  `return new Response(request.body.pipeThrough(new ${stream}("${format}")));`;

// Text with repeats and binary noise, in a size that spans several chunks.
const input = Buffer.concat([
  Buffer.from("Veil compresses this sentence well. ".repeat(4000)),
  Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7919) % 251)),
]);

describe("compression streams in the sandbox", () => {
  const formats: [string, (b: Buffer) => Buffer, (b: Buffer) => Buffer][] = [
    ["gzip", gunzipSync, gzipSync],
    ["deflate", inflateSync, deflateSync],
    ["deflate-raw", inflateRawSync, deflateRawSync],
  ];
  for (const [format, nodeDecompress, nodeCompress] of formats) {
    test(`${format}: what the agent compresses Node decompresses, and the reverse`, async () => {
      const packed = await run(through("CompressionStream", format), input);
      assert.equal(packed.status, 200);
      assert.ok(packed.bytes.length < input.length / 2, `compressed to ${packed.bytes.length} bytes`);
      assert.deepEqual(nodeDecompress(packed.bytes), input);
      const unpacked = await run(through("DecompressionStream", format), nodeCompress(input));
      assert.equal(unpacked.status, 200);
      assert.deepEqual(unpacked.bytes, input);
    });
  }

  test("bad and truncated input, unknown formats and non-bytes are TypeErrors the agent catches", async () => {
    const caught = `try { const r = new Response(request.body.pipeThrough(new DecompressionStream("gzip"))); await r.arrayBuffer(); return new Response("no error"); } catch (e) { return new Response(e.name + ": " + e.message); }`;
    const bad = await run(caught, new TextEncoder().encode("this is not gzip"));
    assert.match(bad.bytes.toString(), /^TypeError: the data is not valid/);
    const truncated = await run(caught, gzipSync(input).subarray(0, 1000));
    assert.match(truncated.bytes.toString(), /^TypeError: /);
    const other = await run(
      `const out = [];
       try { new CompressionStream("brotli"); } catch (e) { out.push(e.name); }
       // The write waits for the readable side to be read (a TransformStream's backpressure).
       const cs = new CompressionStream("gzip");
       const read = new Response(cs.readable).arrayBuffer();
       cs.writable.getWriter().write("a string").catch(() => {});
       try { await read; } catch (e) { out.push(e.name); }
       return Response.json(out);`,
      new Uint8Array(0),
    );
    assert.deepEqual(JSON.parse(other.bytes.toString()), ["TypeError", "TypeError"]);
  });

  test("a small input that inflates past 16 MiB in one chunk is refused, not held by the host", async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    assert.ok(bomb.length < 100_000);
    const r = await run(
      `try { await new Response(request.body.pipeThrough(new DecompressionStream("gzip"))).arrayBuffer(); return new Response("inflated"); } catch (e) { return new Response(e.name + ": " + e.message); }`,
      bomb,
    );
    assert.match(r.bytes.toString(), /^TypeError: the data inflates to more than 16 MiB in one chunk/);
  });
});
