import ivm from "isolated-vm";

/**
 * Isolates are made and thrown away off the main thread (docs/adr/0018, "Isolates made and
 * disposed off the main thread"). isolated-vm does both on the calling thread: `new ivm.Isolate`
 * takes ~4 ms, and disposing of an isolate whose heap an agent filled takes 15–20 ms (V8 frees
 * its pages). On the main thread that is time every other agent's requests wait, and an attacker
 * that runs out of memory on every call makes it happen again and again. Isolate handles cross
 * between isolates, so two small helper isolates do the work on isolated-vm's own threads: one
 * makes isolates (with the constructor it finds on an isolate handle given to it once), the other
 * disposes of them. If a helper cannot be used, the work falls back to the main thread.
 */

/** Heap of each helper: they hold only handles for the length of a call. */
const HELPER_MB = 16;

type MakeFn = ivm.Reference<(memoryMb: number) => ivm.Isolate>;
type DisposeFn = ivm.Reference<(isolate: ivm.Isolate) => void>;

let helpers: Promise<{ make: MakeFn; dispose: DisposeFn } | undefined> | undefined;
/** Isolates handed to the disposer and not yet gone: to the host they are gone already. */
const going = new Set<ivm.Isolate>();

function startHelpers(): Promise<{ make: MakeFn; dispose: DisposeFn } | undefined> {
  helpers ??= (async () => {
    try {
      const maker = new ivm.Isolate({ memoryLimit: HELPER_MB });
      const disposer = new ivm.Isolate({ memoryLimit: HELPER_MB });
      const makerContext = await maker.createContext();
      const disposerContext = await disposer.createContext();
      // The maker gets an isolate handle once, keeps its constructor and drops the handle.
      await makerContext.global.set("seed", disposer);
      const make = (await makerContext.eval(
        `const Isolate = seed.constructor; delete globalThis.seed;
         (memoryMb) => new Isolate({ memoryLimit: memoryMb })`,
        { reference: true },
      )) as MakeFn;
      const dispose = (await disposerContext.eval("(isolate) => { isolate.dispose(); }", {
        reference: true,
      })) as DisposeFn;
      return { make, dispose };
    } catch {
      return undefined;
    }
  })();
  return helpers;
}

/** A new isolate with the given heap limit, made on one of isolated-vm's threads. */
export async function makeIsolate(memoryMb: number): Promise<ivm.Isolate> {
  const h = await startHelpers();
  if (h) {
    try {
      const isolate = (await h.make.apply(undefined, [memoryMb])) as unknown;
      if (isolate instanceof ivm.Isolate) return isolate;
    } catch {
      // The helper failed (it should not): make it here.
    }
  }
  return new ivm.Isolate({ memoryLimit: memoryMb });
}

/**
 * Disposes of an isolate on one of isolated-vm's threads. From the moment of the call the host
 * treats it as gone (`isGone`); its code stops when the disposer gets to it (within milliseconds).
 */
export function disposeAway(isolate: ivm.Isolate): void {
  if (isolate.isDisposed || going.has(isolate)) return;
  going.add(isolate);
  const here = () => {
    going.delete(isolate);
    if (!isolate.isDisposed) isolate.dispose();
  };
  void startHelpers().then(
    (h) => (h ? h.dispose.apply(undefined, [isolate]).then(here, here) : here()),
    here,
  );
}

/** Whether an isolate is disposed of, or on its way (handed to the disposer). */
export function isGone(isolate: ivm.Isolate): boolean {
  return isolate.isDisposed || going.has(isolate);
}

/**
 * Disposes here, now, of every isolate still on its way to the disposer. The process's exit hook
 * calls it: isolated-vm joins its threads as the process ends, and an isolate still running
 * (a loop the disposer had not yet reached) would keep its thread, and the process, alive for ever.
 */
export function disposeGoingNow(): void {
  for (const isolate of going) {
    try {
      if (!isolate.isDisposed) isolate.dispose();
    } catch {
      // Already on its way out.
    }
  }
  going.clear();
}
