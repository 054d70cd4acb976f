// structuredClone for plain data, as agents use it (objects, arrays, Date, Map, Set, RegExp,
// ArrayBuffer and typed arrays, cycles). Functions and symbols cannot be cloned.
import { DOMException } from "./encoding.ts";

export function structuredClone<T>(value: T): T {
  const seen = new Map<unknown, unknown>();
  const walk = (v: unknown): unknown => {
    if (typeof v === "function" || typeof v === "symbol") {
      throw new DOMException(`${String(v)} could not be cloned.`, "DataCloneError");
    }
    if (v === null || typeof v !== "object") return v;
    if (seen.has(v)) return seen.get(v);
    if (v instanceof Date) return new Date(v.getTime());
    if (v instanceof RegExp) return new RegExp(v.source, v.flags);
    if (v instanceof ArrayBuffer) {
      const c = v.slice(0);
      seen.set(v, c);
      return c;
    }
    if (ArrayBuffer.isView(v)) {
      const Ctor = (v as unknown as { constructor: new (b: ArrayBuffer) => ArrayBufferView }).constructor;
      const c = new Ctor(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) as ArrayBuffer);
      seen.set(v, c);
      return c;
    }
    if (v instanceof Map) {
      const c = new Map();
      seen.set(v, c);
      for (const [k, x] of v) c.set(walk(k), walk(x));
      return c;
    }
    if (v instanceof Set) {
      const c = new Set();
      seen.set(v, c);
      for (const x of v) c.add(walk(x));
      return c;
    }
    if (v instanceof Error) {
      const c = new Error(v.message);
      c.name = v.name;
      seen.set(v, c);
      return c;
    }
    const c: Record<string, unknown> | unknown[] = Array.isArray(v) ? [] : {};
    seen.set(v, c);
    for (const k of Object.keys(v))
      (c as Record<string, unknown>)[k] = walk((v as Record<string, unknown>)[k]);
    return c;
  };
  return walk(value) as T;
}
