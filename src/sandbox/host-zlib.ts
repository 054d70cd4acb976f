// The host's side of CompressionStream and DecompressionStream (bridge.ts `zlib*`): Node's zlib,
// the honest implementation of gzip and deflate (ADR 0023). What one chunk may inflate to is
// capped, so a small "zip bomb" cannot make the host hold gigabytes for an agent; the streams an
// agent has open are capped too, and closed with its isolate.

import type { Transform } from "node:stream";
import {
  createDeflate,
  createDeflateRaw,
  createGunzip,
  createGzip,
  createInflate,
  createInflateRaw,
} from "node:zlib";
import type { Refused, ZlibOutput } from "./bridge.ts";

/** Bytes one chunk (or the end) may produce before the stream is refused. */
const MAX_ZLIB_OUTPUT = 16 * 1024 * 1024;
const MAX_OPEN = 16;

const MAKERS = {
  compress: { gzip: createGzip, deflate: createDeflate, "deflate-raw": createDeflateRaw },
  decompress: { gzip: createGunzip, deflate: createInflate, "deflate-raw": createInflateRaw },
} as const;

const refused = (message: string): Refused => ({ ok: false, code: "ZLIB_FAILED", message });

export class ZlibStreams {
  #open = new Map<number, Transform>();
  #next = 1;

  open(format: unknown, mode: unknown): number | Refused {
    const makers = mode === "compress" || mode === "decompress" ? MAKERS[mode] : undefined;
    const make = makers && typeof format === "string" ? makers[format as keyof typeof makers] : undefined;
    if (!make) return refused(`unsupported compression format ${String(format)}`);
    if (this.#open.size >= MAX_OPEN)
      return refused(`more than ${MAX_OPEN} compression streams open; finish or cancel some first`);
    const id = this.#next++;
    // Ended with Z_FINISH (zlib's default): a truncated input is an error, as the standard says.
    const z = make() as Transform;
    // Between writes nobody waits on it: an error then must not go unhandled (it ends Node).
    z.on("error", () => {});
    this.#open.set(id, z);
    return id;
  }

  async write(id: unknown, chunk: unknown): Promise<ZlibOutput> {
    const z = typeof id === "number" ? this.#open.get(id) : undefined;
    if (!z) return refused("no such compression stream (already finished?)");
    if (chunk !== null && !(chunk instanceof ArrayBuffer)) return refused("a chunk is bytes");
    const out: Buffer[] = [];
    let size = 0;
    let over = false;
    const onData = (b: Buffer) => {
      size += b.length;
      if (size > MAX_ZLIB_OUTPUT) {
        over = true;
        z.destroy();
      } else out.push(b);
    };
    z.on("data", onData);
    let fail: (err: Error) => void = () => {};
    let closed: () => void = () => {};
    let ended: () => void = () => {};
    try {
      await new Promise<void>((resolve, reject) => {
        fail = reject;
        closed = () => reject(new Error(over ? "over" : "closed"));
        ended = resolve;
        z.once("error", fail);
        z.once("close", closed);
        if (chunk === null) {
          z.once("end", ended);
          z.end();
        } else {
          z.write(Buffer.from(chunk), (err) => {
            if (err) reject(err);
            // What the chunk produced is emitted before its write is done; one turn more for the
            // last of it.
            else setImmediate(resolve);
          });
        }
      });
    } catch (err) {
      this.close(id);
      return refused(
        over
          ? `the data inflates to more than ${MAX_ZLIB_OUTPUT / 1048576} MiB in one chunk`
          : `the data is not valid: ${(err as Error).message}`,
      );
    } finally {
      z.off("data", onData);
      z.off("error", fail);
      z.off("close", closed);
      z.off("end", ended);
    }
    if (chunk === null) this.#open.delete(id as number);
    const all = Buffer.concat(out);
    return {
      ok: true,
      out: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer,
    };
  }

  close(id: unknown): void {
    const z = typeof id === "number" ? this.#open.get(id) : undefined;
    if (!z) return;
    this.#open.delete(id as number);
    z.destroy();
  }

  closeAll(): void {
    for (const id of [...this.#open.keys()]) this.close(id);
  }
}
