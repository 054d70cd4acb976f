import { VeilError } from "../errors/index.ts";
import { concatBytes, fromHex, randomBytes, toHex, utf8 } from "./bytes.ts";
import { open, seal, unwrap, wrap } from "./envelope.ts";

// A streamed answer to an end-to-end encrypted request, sealed piece by piece as the agent
// produces it (ADR 0012). The wire is a sequence of frames, each `type (1) ‖ length (4, BE) ‖
// bytes`:
//   head   (type 0)  seal(replyTo, {status, headers, key}): the one-time caller key opens it,
//                    and it carries a fresh 32-byte stream key
//   chunk  (type 1)  wrap(streamKey, bytes), associated data naming the agent, the request's
//                    nonce and the chunk's sequence number: chunks cannot be reordered, dropped
//                    or moved to another answer
//   end    (type 2)  wrap(streamKey, JSON of the receipts and any error), associated data with
//                    the number of chunks: without it (a cut stream) the answer is incomplete
// The frame type is not secret; a flipped type fails to open under the other label.

const HEAD = 0;
const CHUNK = 1;
const END = 2;
/** The largest frame a reader accepts (a chunk is at most the response limit, 32 MiB). */
const MAX_FRAME = 33 * 1024 * 1024;

const aad = (agentId: bigint, nonce: string, what: string) => utf8(`${what}|${agentId}|${nonce}`);

function frame(type: number, bytes: Uint8Array): Uint8Array {
  const head = new Uint8Array(5);
  head[0] = type;
  new DataView(head.buffer).setUint32(1, bytes.length);
  return concatBytes(head, bytes);
}

/** The sending side, in the worker: one per answer. */
export class SealedStreamWriter {
  readonly #key = randomBytes(32);
  readonly #agentId: bigint;
  readonly #nonce: string;
  #seq = 0;

  constructor(agentId: bigint, nonce: string) {
    this.#agentId = agentId;
    this.#nonce = nonce;
  }

  head(replyTo: Uint8Array, head: { status: number; headers: [string, string][] }): Uint8Array {
    const plain = utf8(JSON.stringify({ ...head, key: toHex(this.#key) }));
    return frame(
      HEAD,
      seal(replyTo, plain, { label: "response-stream", aad: aad(this.#agentId, this.#nonce, "head") }),
    );
  }

  chunk(bytes: Uint8Array): Uint8Array {
    const seq = this.#seq++;
    return frame(
      CHUNK,
      wrap(this.#key, bytes, {
        label: "response-chunk",
        aad: aad(this.#agentId, this.#nonce, `chunk|${seq}`),
      }),
    );
  }

  end(value: unknown): Uint8Array {
    return frame(
      END,
      wrap(this.#key, utf8(JSON.stringify(value)), {
        label: "response-end",
        aad: aad(this.#agentId, this.#nonce, `end|${this.#seq}`),
      }),
    );
  }
}

export type SealedStreamEvent =
  | { kind: "head"; status: number; headers: [string, string][] }
  | { kind: "chunk"; bytes: Uint8Array }
  | { kind: "end"; value: unknown };

const broken = (why: string) =>
  new VeilError("SEALED_STREAM_INVALID", `The sealed answer is not valid: ${why}`, {
    hint: "Something between the agent and you altered, reordered or cut it; do not trust it.",
  });

/** The receiving side, in the client: push bytes as they arrive, get what they open to. */
export class SealedStreamReader {
  readonly #privateKey: Uint8Array;
  readonly #agentId: bigint;
  readonly #nonce: string;
  #buffer: Uint8Array = new Uint8Array(0);
  #key: Uint8Array | undefined;
  #seq = 0;
  #ended = false;

  constructor(privateKey: Uint8Array, agentId: bigint, nonce: string) {
    this.#privateKey = privateKey;
    this.#agentId = agentId;
    this.#nonce = nonce;
  }

  /** True once the end frame has been opened. */
  get ended(): boolean {
    return this.#ended;
  }

  push(bytes: Uint8Array): SealedStreamEvent[] {
    this.#buffer = this.#buffer.length ? concatBytes(this.#buffer, bytes) : bytes;
    const out: SealedStreamEvent[] = [];
    while (this.#buffer.length >= 5) {
      const type = this.#buffer[0]!;
      const length = new DataView(this.#buffer.buffer, this.#buffer.byteOffset).getUint32(1);
      if (length > MAX_FRAME) throw broken("a frame is too large");
      if (this.#buffer.length < 5 + length) break;
      const body = this.#buffer.subarray(5, 5 + length);
      this.#buffer = this.#buffer.subarray(5 + length);
      out.push(this.#open(type, body));
    }
    return out;
  }

  #open(type: number, body: Uint8Array): SealedStreamEvent {
    if (this.#ended) throw broken("something follows its end");
    try {
      if (!this.#key) {
        if (type !== HEAD) throw broken("it does not start with its head");
        const head = JSON.parse(
          new TextDecoder().decode(
            open(this.#privateKey, body, {
              label: "response-stream",
              aad: aad(this.#agentId, this.#nonce, "head"),
            }),
          ),
        ) as { status: number; headers: [string, string][]; key: string };
        if (
          !/^[0-9a-f]{64}$/.test(head.key) ||
          !Number.isInteger(head.status) ||
          !Array.isArray(head.headers)
        )
          throw broken("its head is malformed");
        this.#key = fromHex(head.key);
        return { kind: "head", status: head.status, headers: head.headers };
      }
      if (type === CHUNK) {
        const bytes = unwrap(this.#key, body, {
          label: "response-chunk",
          aad: aad(this.#agentId, this.#nonce, `chunk|${this.#seq}`),
        });
        this.#seq++;
        return { kind: "chunk", bytes };
      }
      if (type === END) {
        const value = JSON.parse(
          new TextDecoder().decode(
            unwrap(this.#key, body, {
              label: "response-end",
              aad: aad(this.#agentId, this.#nonce, `end|${this.#seq}`),
            }),
          ),
        );
        this.#ended = true;
        return { kind: "end", value };
      }
      throw broken(`unknown frame type ${type}`);
    } catch (err) {
      if (err instanceof VeilError && err.code === "SEALED_STREAM_INVALID") throw err;
      throw broken("a frame does not open (altered, reordered, or for another request)");
    }
  }

  /** Call at the end of the bytes: an answer without its end frame was cut. */
  finish(): void {
    if (!this.#ended) throw broken("it ended before its end frame (cut off)");
  }
}
