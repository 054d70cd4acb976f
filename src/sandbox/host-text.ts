// The host's side of TextDecoder for the Encoding standard's legacy encodings (bridge.ts
// `textDecode`): Node's decoders (ICU) rather than tables of our own for Shift_JIS, GBK, Big5 and
// the rest (ADR 0023). UTF-8, UTF-16 and x-user-defined are decoded in the realm. A decoder kept
// between `stream: true` calls is this realm's, at most MAX_STREAMING at once (the oldest goes).
import { TextDecoder } from "node:util";
import type { Refused } from "./bridge.ts";

const MAX_STREAMING = 64;
const MAX_BYTES = 16 * 1024 * 1024;

export function textDecoders() {
  const streaming = new Map<number, TextDecoder>();
  return (encoding: unknown, bytes: unknown, options: unknown): string | Refused => {
    if (typeof encoding !== "string" || !(bytes instanceof ArrayBuffer))
      return { ok: false, code: "ENCODING_INVALID", message: "textDecode: an encoding name and bytes" };
    if (bytes.byteLength > MAX_BYTES)
      return {
        ok: false,
        code: "ENCODING_INVALID",
        message: `textDecode: at most ${MAX_BYTES} bytes at once`,
      };
    const o = (options ?? {}) as { fatal?: unknown; ignoreBOM?: unknown; id?: unknown; stream?: unknown };
    const id = typeof o.id === "number" ? o.id : 0;
    const stream = o.stream === true;
    let decoder = streaming.get(id);
    try {
      if (!decoder) {
        decoder = new TextDecoder(encoding, { fatal: o.fatal === true, ignoreBOM: o.ignoreBOM === true });
        if (stream) {
          if (streaming.size >= MAX_STREAMING) streaming.delete(streaming.keys().next().value as number);
          streaming.set(id, decoder);
        }
      }
      const text = decoder.decode(new Uint8Array(bytes), { stream });
      if (!stream) streaming.delete(id);
      return text;
    } catch (err) {
      streaming.delete(id);
      const e = err as { code?: unknown; message?: unknown };
      return {
        ok: false,
        code: e.code === "ERR_ENCODING_NOT_SUPPORTED" ? "ENCODING_UNSUPPORTED" : "ENCODING_INVALID",
        message: typeof e.message === "string" ? e.message : "textDecode: the data could not be decoded",
      };
    }
  };
}
