// A MessagePack decoder for what Phala's wapo-env guest adapter writes to scriptOutput
// ({status, headers, body}); the whole format except extension types.
import { TextDecoder } from "./encoding.ts";

const utf8 = new TextDecoder();

export function decodeMsgpack(bytes: Uint8Array): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number) => {
    if (at + n > bytes.length) throw new TypeError("msgpack: truncated");
  };
  const u8 = () => {
    need(1);
    return bytes[at++] as number;
  };
  const take = (n: number) => {
    need(n);
    const out = bytes.subarray(at, at + n);
    at += n;
    return out;
  };
  const num = (size: 1 | 2 | 4 | 8, signed: boolean): number => {
    need(size);
    const p = at;
    at += size;
    if (size === 1) return signed ? view.getInt8(p) : view.getUint8(p);
    if (size === 2) return signed ? view.getInt16(p) : view.getUint16(p);
    if (size === 4) return signed ? view.getInt32(p) : view.getUint32(p);
    return Number(signed ? view.getBigInt64(p) : view.getBigUint64(p));
  };
  const str = (n: number) => utf8.decode(take(n));
  const arr = (n: number): unknown[] => Array.from({ length: n }, () => value());
  const map = (n: number): Record<string, unknown> => {
    const out: Record<string, unknown> = Object.create(null);
    for (let i = 0; i < n; i++) {
      const k = value();
      out[String(k)] = value();
    }
    return out;
  };
  function value(): unknown {
    const b = u8();
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if ((b & 0xf0) === 0x80) return map(b & 0x0f);
    if ((b & 0xf0) === 0x90) return arr(b & 0x0f);
    if ((b & 0xe0) === 0xa0) return str(b & 0x1f);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return take(num(1, false)).slice();
      case 0xc5:
        return take(num(2, false)).slice();
      case 0xc6:
        return take(num(4, false)).slice();
      case 0xca:
        need(4);
        at += 4;
        return view.getFloat32(at - 4);
      case 0xcb:
        need(8);
        at += 8;
        return view.getFloat64(at - 8);
      case 0xcc:
        return num(1, false);
      case 0xcd:
        return num(2, false);
      case 0xce:
        return num(4, false);
      case 0xcf:
        return num(8, false);
      case 0xd0:
        return num(1, true);
      case 0xd1:
        return num(2, true);
      case 0xd2:
        return num(4, true);
      case 0xd3:
        return num(8, true);
      case 0xd9:
        return str(num(1, false));
      case 0xda:
        return str(num(2, false));
      case 0xdb:
        return str(num(4, false));
      case 0xdc:
        return arr(num(2, false));
      case 0xdd:
        return arr(num(4, false));
      case 0xde:
        return map(num(2, false));
      case 0xdf:
        return map(num(4, false));
      default:
        throw new TypeError(`msgpack: unsupported type 0x${b.toString(16)}`);
    }
  }
  const out = value();
  if (at !== bytes.length) throw new TypeError("msgpack: trailing bytes");
  return out;
}
