import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  concatBytes,
  generateX25519,
  SealedStreamReader,
  SealedStreamWriter,
  utf8,
} from "../../src/crypto/index.ts";
import { VeilError } from "../../src/errors/index.ts";

// A streamed answer to an encrypted request, sealed piece by piece (src/crypto/sealed-stream.ts).
const caller = generateX25519();
const nonce = `0x${"ab".repeat(32)}`;

function answer(chunks: string[], agentId = 7n, n = nonce) {
  const w = new SealedStreamWriter(agentId, n);
  return {
    head: w.head(caller.publicKey, { status: 200, headers: [["content-type", "text/event-stream"]] }),
    chunks: chunks.map((c) => w.chunk(utf8(c))),
    end: w.end({ receipt: "r" }),
  };
}

const invalid = (e: unknown) => e instanceof VeilError && e.code === "SEALED_STREAM_INVALID";

function read(frames: Uint8Array[], options: { agentId?: bigint; key?: Uint8Array; split?: number } = {}) {
  const r = new SealedStreamReader(options.key ?? caller.privateKey, options.agentId ?? 7n, nonce);
  const all = concatBytes(...frames);
  const events = [];
  const step = options.split ?? all.length;
  for (let i = 0; i < all.length; i += step) events.push(...r.push(all.subarray(i, i + step)));
  r.finish();
  return events;
}

describe("sealed streams", () => {
  test("open piece by piece, however the bytes are split on the way", () => {
    const a = answer(["data: one\n\n", "data: two\n\n", ""]);
    for (const split of [1, 7, 1000]) {
      const events = read([a.head, ...a.chunks, a.end], { split });
      assert.deepEqual(events[0], {
        kind: "head",
        status: 200,
        headers: [["content-type", "text/event-stream"]],
      });
      assert.deepEqual(
        events.slice(1, 4).map((e) => (e.kind === "chunk" ? new TextDecoder().decode(e.bytes) : e.kind)),
        ["data: one\n\n", "data: two\n\n", ""],
      );
      assert.deepEqual(events[4], { kind: "end", value: { receipt: "r" } });
    }
  });

  test("reordered, dropped, or cut chunks are refused", () => {
    const a = answer(["a", "b", "c"]);
    assert.throws(() => read([a.head, a.chunks[1]!, a.chunks[0]!, a.chunks[2]!, a.end]), invalid);
    assert.throws(() => read([a.head, a.chunks[0]!, a.chunks[2]!, a.end]), invalid);
    assert.throws(() => read([a.head, a.chunks[0]!, a.chunks[1]!, a.end]), invalid, "end names 3 chunks");
    assert.throws(() => read([a.head, ...a.chunks]), /cut off/);
    assert.throws(() => read([a.chunks[0]!]), /head/);
    assert.throws(() => read([a.head, ...a.chunks, a.end, a.chunks[0]!]), /follows its end/);
  });

  test("frames from another answer, agent or key do not open; nor does a flipped type", () => {
    const a = answer(["a"]);
    const other = answer(["a"]);
    assert.throws(() => read([a.head, other.chunks[0]!, a.end]), invalid);
    assert.throws(() => read([a.head, ...a.chunks, a.end], { agentId: 8n }), invalid);
    assert.throws(() => read([a.head, ...a.chunks, a.end], { key: generateX25519().privateKey }), invalid);
    const flipped = a.chunks[0]!.slice();
    flipped[0] = 2;
    assert.throws(() => read([a.head, flipped]), invalid);
    const tampered = a.chunks[0]!.slice();
    tampered[tampered.length - 1]! ^= 1;
    assert.throws(() => read([a.head, tampered, a.end]), invalid);
    const huge = new Uint8Array(5);
    huge[0] = 1;
    new DataView(huge.buffer).setUint32(1, 0xffffffff);
    assert.throws(() => read([a.head, huge]), /too large/);
  });
});
