import type { Socket } from "node:net";
import { VeilError } from "../errors/index.ts";

/**
 * The gateway↔worker link (docs/adr/0015): many requests multiplexed over one connection, each
 * a numbered stream of frames. A frame is
 *
 *   u32 length of what follows | u8 type | u32 stream id | payload
 *
 * and a payload that carries a head is `u32 head length | head (JSON) | body bytes`.
 */
export const LINK_PROTOCOL = "veil-link/1";

export const FRAME = {
  /** gateway → worker: a whole request (head + body). */
  request: 1,
  /** worker → gateway: a whole answer (head + body); the stream is done. */
  response: 2,
  /** worker → gateway: the head of a streamed answer; data and an end follow. */
  head: 3,
  /** worker → gateway: a piece of a streamed answer. */
  data: 4,
  /** worker → gateway: a streamed answer's end; the payload is its trailers (JSON). */
  end: 5,
  /** either way: the stream is abandoned (the caller went away, or the answer broke off). */
  reset: 6,
  /** gateway → worker: the reader took this many more bytes of a streamed answer (u32). */
  window: 7,
  /** gateway → worker: are you there? (stream 0, no payload) */
  ping: 8,
  /** worker → gateway: here (stream 0, no payload). Silence means the link is dead. */
  pong: 9,
} as const;
export type FrameType = (typeof FRAME)[keyof typeof FRAME];

const PREFIX = 9;
const MAX_STREAM_ID = 0xffff_ffff;

/** A peer broke the link's framing: the connection is closed, every stream on it fails. */
export class LinkProtocolError extends VeilError {
  constructor(message: string) {
    super("LINK_PROTOCOL", message, { status: 502 });
  }
}

/** One frame, with the head (JSON text) and body of its payload when it has them. */
export type Frame = { type: number; stream: number; payload: Buffer };

export function encodeFrame(type: FrameType, stream: number, payload?: Uint8Array): Buffer {
  const size = payload?.byteLength ?? 0;
  const out = Buffer.allocUnsafe(PREFIX + size);
  out.writeUInt32BE(5 + size, 0);
  out[4] = type;
  out.writeUInt32BE(stream, 5);
  if (payload) out.set(payload, PREFIX);
  return out;
}

/** A frame whose payload is a JSON head followed by body bytes, built in one allocation. */
export function encodeHeadFrame(type: FrameType, stream: number, head: unknown, body?: Uint8Array): Buffer {
  const text = JSON.stringify(head);
  const headBytes = Buffer.byteLength(text);
  const bodyBytes = body?.byteLength ?? 0;
  const out = Buffer.allocUnsafe(PREFIX + 4 + headBytes + bodyBytes);
  out.writeUInt32BE(5 + 4 + headBytes + bodyBytes, 0);
  out[4] = type;
  out.writeUInt32BE(stream, 5);
  out.writeUInt32BE(headBytes, PREFIX);
  out.write(text, PREFIX + 4, "utf8");
  if (body) out.set(body, PREFIX + 4 + headBytes);
  return out;
}

/** Splits a head-carrying payload; the head is at most `maxHeadBytes` of JSON. */
export function splitHead(payload: Buffer, maxHeadBytes: number): { head: unknown; body: Buffer } {
  if (payload.length < 4) throw new LinkProtocolError("A frame's head is cut short");
  const headBytes = payload.readUInt32BE(0);
  if (headBytes > maxHeadBytes) throw new LinkProtocolError(`A frame's head is over ${maxHeadBytes} bytes`);
  if (4 + headBytes > payload.length) throw new LinkProtocolError("A frame's head is cut short");
  let head: unknown;
  try {
    head = JSON.parse(payload.toString("utf8", 4, 4 + headBytes));
  } catch {
    throw new LinkProtocolError("A frame's head is not JSON");
  }
  return { head, body: payload.subarray(4 + headBytes) };
}

/**
 * Cuts a byte stream into frames. A frame over `maxFrameBytes` or of an unknown type is a
 * protocol error: the peer is not speaking the link (or is hostile), and nothing it sent after
 * can be trusted to line up.
 */
export class FrameReader {
  readonly #maxFrameBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** The frames completed by `chunk`, in order. */
  push(chunk: Buffer): Frame[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const frames: Frame[] = [];
    while (this.#buffered >= PREFIX) {
      const first = this.#peekPrefix();
      const length = first.readUInt32BE(0);
      if (length < 5 || length - 5 > this.#maxFrameBytes) {
        throw new LinkProtocolError(`A frame of ${length} bytes is over the link's limit`);
      }
      const type = first[4]!;
      if (type < FRAME.request || type > FRAME.pong) {
        throw new LinkProtocolError(`Unknown frame type ${type}`);
      }
      if (this.#buffered < 4 + length) break;
      const whole = this.#take(4 + length);
      frames.push({ type, stream: whole.readUInt32BE(5), payload: whole.subarray(PREFIX) });
    }
    return frames;
  }

  #peekPrefix(): Buffer {
    if (this.#chunks[0]!.length < PREFIX) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0]!;
  }

  #take(n: number): Buffer {
    let first = this.#chunks[0]!;
    if (first.length < n) {
      // A frame spanning reads: joined once, when it is complete.
      first = Buffer.concat(this.#chunks);
      this.#chunks = [first];
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
    this.#buffered -= n;
    return out;
  }
}

/**
 * Writes frames to a socket, gathering those made in one turn of the event loop into one
 * write: under load that is one system call for many requests instead of one or two for each,
 * which is most of what a hop between processes costs.
 */
export class FrameWriter {
  readonly #socket: Socket;
  #queue: Buffer[] = [];
  #queued = 0;
  #scheduled = false;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Bytes written or queued that the peer has not taken yet. */
  get buffered(): number {
    return this.#queued + this.#socket.writableLength;
  }

  send(frame: Buffer): void {
    this.#queue.push(frame);
    this.#queued += frame.length;
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    if (queue.length === 0 || this.#socket.destroyed) return;
    this.#queue = [];
    const bytes = this.#queued;
    this.#queued = 0;
    if (queue.length === 1 || bytes > 256 * 1024) {
      // Large bodies are not copied again; the socket gathers them into one writev.
      this.#socket.cork();
      for (const frame of queue) this.#socket.write(frame);
      this.#socket.uncork();
    } else {
      this.#socket.write(Buffer.concat(queue, bytes));
    }
  }
}

/** Stream ids a side hands out: odd numbers from 1, wrapping before u32 runs out. */
export class StreamIds {
  #next = 1;
  next(inUse: (id: number) => boolean): number {
    for (;;) {
      const id = this.#next;
      this.#next = id + 2 > MAX_STREAM_ID ? 1 : id + 2;
      if (!inUse(id)) return id;
    }
  }
}
