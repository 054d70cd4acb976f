// structuredClone in the sandbox, written after WPT's html/webappapis/structured-clone coverage:
// the types that must clone (and keep identity, cycles, prototypes), and the DataCloneError for
// those that must not. No npm package publishes those as data.
import { conformance, written } from "./harness.ts";

const cloneError = (v: unknown) => {
  try {
    structuredClone(v);
    return "cloned";
  } catch (e) {
    return (e as Error).name;
  }
};

const { fns, cases } = written({
  "primitives, and -0, NaN and BigInt": [
    () => {
      const c = structuredClone([1, "s", true, null, undefined, -0, Number.NaN, 10n]);
      return [
        c[0],
        c[1],
        c[2],
        c[3],
        c[4] === undefined,
        Object.is(c[5], -0),
        Number.isNaN(c[6]),
        String(c[7]),
      ];
    },
    [1, "s", true, null, true, true, true, "10"],
  ],
  "wrapper objects keep their kind": [
    () => {
      const c = structuredClone([Object(1), Object("s"), Object(false), Object(5n)]) as object[];
      return c.map((x) => Object.prototype.toString.call(x));
    },
    ["[object Number]", "[object String]", "[object Boolean]", "[object BigInt]"],
  ],
  "Date, RegExp (source, flags, lastIndex reset)": [
    () => {
      const re = /a+/gi;
      re.lastIndex = 3;
      const [d, r] = structuredClone([new Date(1234), re]);
      return [d instanceof Date, d.getTime(), r instanceof RegExp, r.source, r.flags, r.lastIndex];
    },
    [true, 1234, true, "a+", "gi", 0],
  ],
  "Map and Set, with object keys cloned": [
    () => {
      const k = { k: 1 };
      const c = structuredClone(new Map<unknown, unknown>([[k, new Set([1, 2])]]));
      const [key, value] = [...c][0]!;
      return [
        c instanceof Map,
        key !== k,
        (key as { k: number }).k,
        value instanceof Set,
        [...(value as Set<number>)],
      ];
    },
    [true, true, 1, true, [1, 2]],
  ],
  "cycles and shared references are kept": [
    () => {
      const a: Record<string, unknown> = { name: "a" };
      a.self = a;
      const shared = { s: 1 };
      const c = structuredClone({ a, x: shared, y: shared });
      return [c.a.self === c.a, c.x === c.y, c.a !== a];
    },
    [true, true, true],
  ],
  "ArrayBuffer, typed arrays and DataView share a cloned buffer": [
    () => {
      const buf = new ArrayBuffer(8);
      const c = structuredClone({
        u: new Uint8Array(buf, 2, 4),
        f: new Float64Array(buf),
        d: new DataView(buf, 1, 2),
      });
      return [
        c.u.buffer === c.f.buffer && c.f.buffer === c.d.buffer,
        c.u.byteOffset,
        c.u.length,
        c.d.byteOffset,
        c.d.byteLength,
        c.u.buffer !== buf,
      ];
    },
    [true, 2, 4, 1, 2, true],
  ],
  "Errors keep their name and message": [
    () => {
      const c = structuredClone([new RangeError("r"), new TypeError("t"), new Error("e")]);
      return c.map((e) => [e instanceof Error, e.name, e.message]);
    },
    [
      [true, "RangeError", "r"],
      [true, "TypeError", "t"],
      [true, "Error", "e"],
    ],
  ],
  "class instances become plain objects with their own enumerable properties": [
    () => {
      class P {
        x = 1;
        get y() {
          return 2;
        }
      }
      const c = structuredClone(new P()) as unknown as Record<string, unknown>;
      return [Object.getPrototypeOf(c) === Object.prototype, c.x, "y" in c];
    },
    [true, 1, false],
  ],
  "sparse arrays keep their holes and length": [
    () => {
      const a = [1, 2, 3];
      delete a[1];
      (a as unknown as Record<string, unknown>).extra = "e";
      const c = structuredClone(a) as unknown as Record<string, unknown> & unknown[];
      return [c.length, 1 in c, c.extra];
    },
    [3, false, "e"],
  ],
  "Blob and File clone": [
    async () => {
      const [b, f] = structuredClone([new Blob(["b"], { type: "x/y" }), new File(["f"], "n.txt")]);
      return [b instanceof Blob, b.type, await b.text(), f instanceof File, (f as File).name, await f.text()];
    },
    [true, "x/y", "b", true, "n.txt", "f"],
  ],
  "transfer detaches the source buffer": [
    () => {
      const buf = new Uint8Array([1, 2]).buffer;
      const c = structuredClone(buf, { transfer: [buf] });
      return [buf.byteLength, c.byteLength];
    },
    [0, 2],
  ],
  "DataCloneError: functions": [() => cloneError(() => 1), "DataCloneError"],
  "DataCloneError: symbols": [() => cloneError(Symbol("s")), "DataCloneError"],
  "DataCloneError: a function inside an object": [() => cloneError({ f() {} }), "DataCloneError"],
  "DataCloneError: WeakMap": [() => cloneError(new WeakMap()), "DataCloneError"],
  "DataCloneError: a Promise": [() => cloneError(Promise.resolve()), "DataCloneError"],
  "DataCloneError: a Request": [() => cloneError(new Request("https://e/")), "DataCloneError"],
  "DataCloneError: a ReadableStream (not transferred)": [
    () => cloneError(new ReadableStream()),
    "DataCloneError",
  ],
  "DataCloneError is a DOMException with code 25": [
    () => {
      try {
        structuredClone(() => 1);
        return "cloned";
      } catch (e) {
        return [e instanceof DOMException, (e as DOMException).code];
      }
    },
    [true, 25],
  ],
  "no argument is a TypeError": [
    () => {
      try {
        (structuredClone as unknown as () => unknown)();
        return "cloned";
      } catch (e) {
        return (e as Error).name;
      }
    },
    "TypeError",
  ],
});

conformance("structured-clone", fns, () => cases, { cloneError });
