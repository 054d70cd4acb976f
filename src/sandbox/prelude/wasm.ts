// WebAssembly for agents (docs/adr/0018). V8 allocates a wasm memory outside the allocator that
// isolated-vm limits, so the engine's own WebAssembly would let an agent hold gigabytes its
// memory limit never sees. Here every memory has a maximum that fits the agent's limit, and that
// maximum is reserved up front in the isolate's limited allocator as an untouched ArrayBuffer
// (the "reserve": it counts against the limit but, mapped and never written, costs no RSS), held
// as long as the memory can live. A memory that does not fit is refused where it is made.
//
// Compilation is synchronous behind the promise API: V8's asynchronous compilation finishes on
// platform tasks that isolated-vm does not run, so WebAssembly.instantiate never settled. The
// CPU it takes counts against the request that asked for it, like any other code.

// The engine's WebAssembly, as far as this file uses it (the project's TypeScript lib has no DOM).
type WasmMemory = { readonly buffer: ArrayBuffer; grow(delta: number): number };
type Native = {
  Module: (new (
    bytes: Uint8Array,
  ) => object) &
    Record<"exports" | "imports" | "customSections", (module: object, name?: string) => unknown>;
  Instance: new (module: object, imports?: unknown) => object;
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
  CompileError: new (message: string) => Error;
  validate(bytes: Uint8Array): boolean;
} & Record<"Table" | "Global" | "LinkError" | "RuntimeError" | "Tag" | "Exception", unknown>;

/** Set from the engine's WebAssembly when the realm's namespace is made. */
let CompileError: new (message: string) => Error = Error;

const PAGE = 65536;
/** Share of the agent's memory limit one wasm memory may have at most (the rest is the heap's). */
const DEFAULT_SHARE = 0.5;

type Limits = { flags: number; min: number; max: number | undefined; start: number; end: number };
type Layout = { memories: Limits[]; section?: { start: number; end: number; bodyStart: number } };

function leb(bytes: Uint8Array, at: { i: number }): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (at.i >= bytes.length) throw new CompileError("truncated module");
    const b = bytes[at.i++]!;
    result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return result;
    shift += 7;
    if (shift > 35) throw new CompileError("integer too long");
  }
}

function skipName(bytes: Uint8Array, at: { i: number }): void {
  const n = leb(bytes, at);
  at.i += n;
}

function limits(bytes: Uint8Array, at: { i: number }): Limits {
  const start = at.i;
  const flags = bytes[at.i++] ?? 0;
  // 0x02/0x03: shared (threads, which agents do not get); 0x04 and up: memory64.
  if (flags > 1) throw new CompileError("shared and 64-bit memories are not available to agents");
  const min = leb(bytes, at);
  const max = flags === 1 ? leb(bytes, at) : undefined;
  return { flags, min, max, start, end: at.i };
}

/** Where a module's own memories are declared, and their limits (imports come from JS). */
function layout(bytes: Uint8Array): Layout {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new CompileError("not a WebAssembly module (bad magic)");
  }
  const at = { i: 8 };
  const out: Layout = { memories: [] };
  while (at.i < bytes.length) {
    const start = at.i;
    const id = bytes[at.i++]!;
    const size = leb(bytes, at);
    const bodyStart = at.i;
    const end = bodyStart + size;
    if (end > bytes.length) throw new CompileError("section runs past the end of the module");
    if (id === 2) {
      // Imports: only walked to stay in step; an imported memory is one made in JS (limited there).
      const body = { i: bodyStart };
      const n = leb(bytes, body);
      for (let k = 0; k < n; k++) {
        skipName(bytes, body);
        skipName(bytes, body);
        const kind = bytes[body.i++];
        if (kind === 0) leb(bytes, body);
        else if (kind === 1) {
          body.i++;
          limits(bytes, body);
        } else if (kind === 2) limits(bytes, body);
        else if (kind === 3) body.i += 2;
        else if (kind === 4) {
          body.i++;
          leb(bytes, body);
        } else throw new CompileError("unknown import kind");
      }
    } else if (id === 5) {
      const body = { i: bodyStart };
      const n = leb(bytes, body);
      for (let k = 0; k < n; k++) out.memories.push(limits(bytes, body));
      out.section = { start, end, bodyStart };
    }
    at.i = end;
  }
  return out;
}

function encodeLeb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function toBytes(source: unknown): Uint8Array {
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  throw new TypeError("WebAssembly: the argument must be a BufferSource (an ArrayBuffer or a typed array)");
}

export function makeWebAssembly(native: Native | undefined, memoryMb: number): object | undefined {
  if (!native) return undefined;
  CompileError = native.CompileError;
  const limitBytes = memoryMb * 1024 * 1024;
  const capPages = Math.max(1, Math.floor((limitBytes * DEFAULT_SHARE) / PAGE));
  const NativeModule = native.Module;
  const NativeInstance = native.Instance;
  const NativeMemory = native.Memory;
  const nativeGrow = NativeMemory.prototype.grow;
  const reserves = new WeakMap<object, ArrayBuffer>();
  /** Each module made here: the pages its own memories may reach, reserved per instance. */
  const modulePages = new WeakMap<object, number>();
  /** Each memory made here: its (bounded) maximum in pages. */
  const memoryPages = new WeakMap<object, number>();

  const reserve = (pages: number, what: string): ArrayBuffer | undefined => {
    if (pages === 0) return undefined;
    try {
      return new ArrayBuffer(pages * PAGE);
    } catch {
      throw new RangeError(
        `WebAssembly: ${what} of ${(pages * PAGE) / 1048576} MiB does not fit in what is left of the agent's ${memoryMb} MiB memory limit`,
      );
    }
  };

  /** The module with each memory's maximum cut to what an agent may have, and those maxima. */
  const bounded = (source: unknown): { bytes: Uint8Array; pages: number } => {
    const bytes = toBytes(source);
    const { memories, section } = layout(bytes);
    if (!section || memories.length === 0) return { bytes, pages: 0 };
    let pages = 0;
    const body: number[] = [...encodeLeb(memories.length)];
    for (const m of memories) {
      const capped = Math.min(m.max ?? capPages, capPages);
      if (m.min > capped) {
        throw new RangeError(
          `WebAssembly: the module's memory starts at ${(m.min * PAGE) / 1048576} MiB, over the ${(capPages * PAGE) / 1048576} MiB a memory may have with the agent's ${memoryMb} MiB memory limit`,
        );
      }
      pages += capped;
      body.push(0x01, ...encodeLeb(m.min), ...encodeLeb(capped));
    }
    // The memory section again, its limits bounded; the rest of the module as it was.
    const head = [5, ...encodeLeb(body.length), ...body];
    const out = new Uint8Array(bytes.length - (section.end - section.start) + head.length);
    out.set(bytes.subarray(0, section.start), 0);
    out.set(head, section.start);
    out.set(bytes.subarray(section.end), section.start + head.length);
    return { bytes: out, pages };
  };

  function Module(this: unknown, source: unknown) {
    if (!new.target) throw new TypeError("WebAssembly.Module must be called with new");
    const { bytes, pages } = bounded(source);
    const module = new NativeModule(bytes);
    modulePages.set(module, pages);
    return module;
  }
  function Instance(this: unknown, module: unknown, imports?: unknown) {
    if (!new.target) throw new TypeError("WebAssembly.Instance must be called with new");
    const pages = typeof module === "object" && module !== null ? modulePages.get(module) : undefined;
    if (pages === undefined)
      throw new TypeError("WebAssembly.Instance: the first argument must be a WebAssembly.Module");
    const held = reserve(pages, "the module's memory");
    const instance = new NativeInstance(module as object, imports);
    if (held) reserves.set(instance, held);
    return instance;
  }
  function Memory(this: unknown, descriptor: unknown) {
    if (!new.target) throw new TypeError("WebAssembly.Memory must be called with new");
    const d = (descriptor ?? {}) as {
      initial?: unknown;
      minimum?: unknown;
      maximum?: unknown;
      shared?: unknown;
    };
    if (d.shared) throw new TypeError("WebAssembly.Memory: shared memories are not available to agents");
    const initial = Number(d.initial ?? d.minimum);
    if (!Number.isInteger(initial) || initial < 0)
      throw new TypeError("WebAssembly.Memory: initial must be a whole number of pages");
    const asked = d.maximum === undefined ? undefined : Number(d.maximum);
    if (asked !== undefined && (!Number.isInteger(asked) || asked < initial)) {
      throw new RangeError("WebAssembly.Memory: maximum must be a whole number of pages, at least initial");
    }
    const maximum = Math.min(asked ?? capPages, capPages);
    if (initial > maximum) {
      throw new RangeError(
        `WebAssembly.Memory: ${(initial * PAGE) / 1048576} MiB is over the ${(capPages * PAGE) / 1048576} MiB a memory may have with the agent's ${memoryMb} MiB memory limit`,
      );
    }
    const held = reserve(maximum, "a memory");
    const memory = new NativeMemory({ initial, maximum });
    if (held) reserves.set(memory, held);
    memoryPages.set(memory, maximum);
    return memory;
  }
  // The engine's constructors stay out of reach: agent code must not find them through a
  // prototype's `constructor`, or it could make a memory this file never bounded.
  for (const [mine, theirs] of [
    [Module, NativeModule],
    [Instance, NativeInstance],
    [Memory, NativeMemory],
  ] as const) {
    Object.defineProperty(mine, "prototype", { value: theirs.prototype, writable: false });
    Object.defineProperty(theirs.prototype, "constructor", {
      value: mine,
      writable: false,
      configurable: false,
    });
  }
  for (const name of ["exports", "imports", "customSections"] as const) {
    Object.defineProperty(Module, name, { value: NativeModule[name].bind(NativeModule) });
  }
  Object.defineProperty(NativeMemory.prototype, "grow", {
    value: function grow(this: WasmMemory, delta: number) {
      const max = memoryPages.get(this);
      const now = this.buffer.byteLength / PAGE;
      if (max !== undefined && now + Number(delta) > max) {
        throw new RangeError(
          `WebAssembly.Memory.grow: ${((now + Number(delta)) * PAGE) / 1048576} MiB is over this memory's maximum of ${(max * PAGE) / 1048576} MiB (the agent's memory limit is ${memoryMb} MiB)`,
        );
      }
      return nativeGrow.call(this, delta);
    },
    writable: false,
    configurable: false,
  });

  for (const p of [NativeModule.prototype, NativeInstance.prototype, NativeMemory.prototype])
    Object.freeze(p);

  const NewModule = Module as unknown as new (source: unknown) => object;
  const NewInstance = Instance as unknown as new (module: object, imports?: unknown) => object;
  const compile = (source: unknown): Promise<object> =>
    new Promise((resolve) => resolve(new NewModule(source)));
  const instantiate = (source: unknown, imports?: unknown): Promise<unknown> =>
    new Promise((resolve) => {
      if (source !== null && typeof source === "object" && modulePages.has(source)) {
        resolve(new NewInstance(source, imports));
        return;
      }
      const module = new NewModule(source);
      resolve({ module, instance: new NewInstance(module, imports) });
    });
  const bytesOf = async (response: unknown): Promise<ArrayBuffer> => {
    const r = await response;
    if (!r || typeof (r as Response).arrayBuffer !== "function") {
      throw new TypeError("WebAssembly streaming: the argument must be a Response (or a promise of one)");
    }
    return (r as Response).arrayBuffer();
  };

  const ns: Record<string, unknown> = {
    Module,
    Instance,
    Memory,
    Table: native.Table,
    Global: native.Global,
    CompileError: native.CompileError,
    LinkError: native.LinkError,
    RuntimeError: native.RuntimeError,
    validate: (source: unknown) => {
      try {
        return native.validate(toBytes(source));
      } catch (e) {
        if (e instanceof TypeError) throw e;
        return false;
      }
    },
    compile,
    instantiate,
    compileStreaming: async (response: unknown) => compile(await bytesOf(response)),
    instantiateStreaming: async (response: unknown, imports?: unknown) =>
      instantiate(await bytesOf(response), imports),
  };
  if (native.Tag) ns.Tag = native.Tag;
  if (native.Exception) ns.Exception = native.Exception;
  Object.defineProperty(ns, Symbol.toStringTag, { value: "WebAssembly" });
  return Object.freeze(ns);
}
