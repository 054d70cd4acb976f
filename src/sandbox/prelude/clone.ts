// structuredClone (HTML standard's structured serialization), for what an agent can hold: plain
// objects and arrays (cycles and shared references kept), primitive wrappers, Date, RegExp, Map,
// Set, errors by their kind, ArrayBuffer and its views (views over one buffer share one copy),
// Blob and File, DOMException. Functions, symbols, WeakMap/WeakSet/WeakRef, promises and the
// platform's other objects (Request, Headers, streams…) are a DataCloneError. A `transfer` list is
// accepted but its buffers are copied, not detached: V8 11.3 (isolated-vm 5) has no
// ArrayBuffer.prototype.transfer to detach one with.
import { Blob, File } from "./blob.ts";
import { DOMException } from "./encoding.ts";

const ERRORS: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/** Platform classes whose instances cannot be cloned, besides the built-in ones below. */
const refused: (abstract new (...args: never[]) => unknown)[] = [];
/** index.ts names the prelude's classes that are not serializable (Request, Headers, streams…). */
export function refuseToClone(...classes: unknown[]): void {
  for (const c of classes) if (typeof c === "function") refused.push(c as abstract new () => unknown);
}

const cannot = (what: string) => new DOMException(`${what} could not be cloned.`, "DataCloneError");

export function structuredClone<T>(...args: unknown[]): T {
  if (args.length === 0) throw new TypeError("structuredClone: 1 argument required, but only 0 present");
  const value = args[0];
  const seen = new Map<unknown, unknown>();
  const walk = (v: unknown): unknown => {
    if (typeof v === "function") throw cannot(`${(v as { name?: string }).name || "function"}`);
    if (typeof v === "symbol") throw cannot(String(v));
    if (v === null || typeof v !== "object") return v;
    if (seen.has(v)) return seen.get(v);
    const tag = Object.prototype.toString.call(v);
    let c: unknown;
    if (tag === "[object Boolean]") c = Object(Boolean.prototype.valueOf.call(v));
    else if (tag === "[object Number]") c = Object(Number.prototype.valueOf.call(v));
    else if (tag === "[object String]") c = Object(String.prototype.valueOf.call(v));
    else if (tag === "[object BigInt]") c = Object(BigInt.prototype.valueOf.call(v));
    else if (v instanceof Date) c = new Date(v.getTime());
    else if (v instanceof RegExp) c = new RegExp(v.source, v.flags);
    else if (v instanceof ArrayBuffer) c = v.slice(0);
    else if (ArrayBuffer.isView(v)) {
      const buffer = walk(v.buffer) as ArrayBuffer;
      if (v instanceof DataView) c = new DataView(buffer, v.byteOffset, v.byteLength);
      else {
        const Ctor = (v as unknown as { constructor: new (b: ArrayBuffer, o: number, n: number) => unknown })
          .constructor;
        c = new Ctor(buffer, v.byteOffset, (v as unknown as { length: number }).length);
      }
    } else if (v instanceof File) c = new File([v], v.name, { type: v.type, lastModified: v.lastModified });
    else if (v instanceof Blob) c = new Blob([v], { type: v.type });
    else if (v instanceof DOMException) c = new DOMException(v.message, v.name);
    else if (v instanceof Error) {
      const Kind = ERRORS[v.name] ?? Error;
      const e = new Kind(v.message);
      if (typeof v.stack === "string") e.stack = v.stack;
      c = e;
    } else if (
      v instanceof WeakMap ||
      v instanceof WeakSet ||
      v instanceof Promise ||
      (typeof WeakRef === "function" && v instanceof WeakRef) ||
      refused.some((k) => v instanceof k)
    ) {
      throw cannot(tag.slice(8, -1) === "Object" ? (v.constructor?.name ?? "An object") : tag.slice(8, -1));
    } else if (v instanceof Map) {
      const m = new Map();
      seen.set(v, m);
      for (const [k, x] of v) m.set(walk(k), walk(x));
      return m;
    } else if (v instanceof Set) {
      const s = new Set();
      seen.set(v, s);
      for (const x of v) s.add(walk(x));
      return s;
    } else {
      const out: Record<string, unknown> | unknown[] = Array.isArray(v) ? new Array(v.length) : {};
      seen.set(v, out);
      for (const k of Object.keys(v))
        (out as Record<string, unknown>)[k] = walk((v as Record<string, unknown>)[k]);
      return out;
    }
    seen.set(v, c);
    return c;
  };
  return walk(value) as T;
}
