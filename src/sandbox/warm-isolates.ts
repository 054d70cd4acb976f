import ivm from "isolated-vm";
import { type HostOperations, handOver, takeEntries } from "./host-bridge.ts";
import { urlParse, urlSet } from "./host-url.ts";
import { disposeAway, disposeGoingNow, isGone, makeIsolate } from "./isolate-threads.ts";
import { buildPrelude } from "./prelude-bundle.ts";

/**
 * Isolates made ahead of need, so that a freshly deployed agent (or one whose isolate a limit
 * just killed) does not wait for V8 to start an isolate and compile the prelude. Cold start is
 * a product target (issue 3: under 10 ms for a 100 KB bundle), and these are most of it.
 *
 * An isolate here has never run agent code: it holds the compiled realm script (prelude and
 * dispatcher) and has run it once, with a built-in hello handler, in a context that was then
 * thrown away. What that leaves behind is V8's compiled bytecode for the prelude's functions,
 * which every later realm in the isolate shares; no values survive the context.
 */
export type WarmIsolate = { isolate: ivm.Isolate; realmScript: ivm.Script };

/** One spare per memory limit in use: enough for deploys that come one at a time. */
const spares = new Map<number, Promise<WarmIsolate>>();
let codeCache: ivm.ExternalCopy<ArrayBuffer> | undefined;
let realmSource: Promise<string> | undefined;

/** The script every realm runs before the agent's module: the prelude (with its entry points). */
function source(): Promise<string> {
  realmSource ??= buildPrelude();
  return realmSource;
}

/**
 * Compiles the realm script in an isolate, from V8's code cache when an earlier isolate made
 * one (the cache is checked by V8 against the source and its own version, and rejected if stale).
 */
export async function compileRealmScript(isolate: ivm.Isolate): Promise<ivm.Script> {
  const code = await source();
  const filename = "veil:prelude";
  if (codeCache) {
    const script = (await isolate.compileScript(code, { filename, cachedData: codeCache })) as ivm.Script & {
      cachedDataRejected?: boolean;
    };
    if (!script.cachedDataRejected) return script;
  }
  const script = (await isolate.compileScript(code, { filename, produceCachedData: true })) as ivm.Script &
    ivm.CachedDataResult;
  if (script.cachedData) codeCache = script.cachedData;
  return script;
}

const NO_HOST: HostOperations = {
  log: undefined,
  random: undefined,
  digest: undefined,
  hmac: undefined,
  sleep: undefined,
  cancelSleep: undefined,
  urlParse: undefined,
  urlSet: undefined,
  textDecode: undefined,
  zlibOpen: undefined,
  zlibWrite: undefined,
  zlibClose: undefined,
  fetch: undefined,
  fetchRead: undefined,
  fetchCancel: undefined,
  state: undefined,
  llm: undefined,
  agents: undefined,
  subtle: undefined,
  deriveSecret: undefined,
};

const WARM_UP_AGENT = `export default { async fetch(request, env, ctx) {
  const body = await request.text();
  const url = new URL(request.url);
  return new Response(JSON.stringify({ body, path: url.pathname, h: request.headers.get("x-a") }), {
    status: 200, headers: { "content-type": "application/json" } });
} };`;

async function make(memoryMb: number): Promise<WarmIsolate> {
  const isolate = await newIsolate(memoryMb);
  try {
    const realmScript = await compileRealmScript(isolate);
    const context = await isolate.createContext();
    try {
      // The warm-up agent parses URLs, as agents do; nothing else of the host is offered.
      await handOver(context, { ...NO_HOST, urlParse, urlSet }, { memoryMb });
      await realmScript.run(context, { timeout: 1000 });
      const module = await isolate.compileModule(WARM_UP_AGENT, { filename: "veil:warm-up" });
      await module.instantiate(context, () => {
        throw new Error("imports are not allowed");
      });
      await module.evaluate({ timeout: 1000 });
      const { setAgent, dispatch } = await takeEntries(context);
      const exported = (await module.namespace.get("default", { reference: true })) as ivm.Reference;
      await setAgent.apply(undefined, [exported.derefInto(), new ivm.ExternalCopy({}).copyInto()], {
        timeout: 1000,
      });
      await dispatch.apply(
        undefined,
        [
          new ivm.ExternalCopy({
            method: "POST",
            url: "https://warm-up.agents.veil/a?b=c",
            headers: [
              ["content-type", "text/plain"],
              ["x-a", "b"],
            ],
            body: new TextEncoder().encode("warm").buffer,
            callToken: "",
            caller: null,
            deadline: null,
          }).copyInto({ release: true }),
          new ivm.ExternalCopy({ id: "0", name: "warm-up", codeHash: "0x" }).copyInto({ release: true }),
        ],
        { timeout: 1000, result: { promise: true, copy: true } },
      );
    } finally {
      context.release();
    }
    return { isolate, realmScript };
  } catch (err) {
    disposeAway(isolate);
    throw err;
  }
}

/**
 * Every isolate is made here. Once there is one, the process ends without Node's environment
 * teardown: isolated-vm can abort there (`IsolateEnvironment::GetCurrent(): Assertion
 * environment != nullptr`) after everything else has finished, turning a clean exit (a stopped
 * worker, a passed test file) into a crash about one time in ten on a busy machine. Skipping the
 * teardown made it go away (0 in 40 against 2 in 20); the exit code and the 'exit' listeners
 * registered before this one are kept, and stdout and stderr are written synchronously on Linux.
 */
let exitsHard = false;
/** When isolated-vm last started work of its own (an isolate made or disposed); see the exit hook. */
let isolateWorkAt = 0;
const EXIT_WAIT = new Int32Array(new SharedArrayBuffer(4));
/** Notes that isolated-vm has work under way on its own threads (sandbox disposal calls this). */
export function noteIsolateWork(): void {
  isolateWorkAt = Date.now();
}
function newIsolate(memoryMb: number): Promise<ivm.Isolate> {
  if (!exitsHard) {
    exitsHard = true;
    const hard = process as unknown as { reallyExit?: (code: number) => never };
    if (typeof hard.reallyExit === "function") {
      const reallyExit = hard.reallyExit.bind(process);
      process.on("exit", (code) => {
        // isolated-vm may still be at work on its own threads (an isolate being disposed, a
        // spare being made): a process that exits under it crashed with SIGSEGV about one time
        // in five when a test file force-exited right after its last test. A moment's wait
        // (synchronous: nothing else runs in 'exit') lets that work finish first.
        disposeGoingNow();
        if (isolateWorkAt > 0 && Date.now() - isolateWorkAt < 1000) Atomics.wait(EXIT_WAIT, 0, 0, 150);
        reallyExit(code);
      });
    }
  }
  isolateWorkAt = Date.now();
  return makeIsolate(memoryMb);
}

function refill(memoryMb: number): void {
  const next = new Promise<WarmIsolate>((resolve, reject) => {
    // After the current request's work: making a spare must not delay the cold start it replaces.
    setImmediate(() => make(memoryMb).then(resolve, reject));
  });
  next.catch(() => {
    if (spares.get(memoryMb) === next) spares.delete(memoryMb);
  });
  spares.set(memoryMb, next);
}

/**
 * An isolate with the given heap limit and the realm script compiled: the spare if there is one
 * (then another is made in the background), else a new one made now.
 */
export async function takeIsolate(memoryMb: number): Promise<WarmIsolate> {
  const spare = spares.get(memoryMb);
  spares.delete(memoryMb);
  refill(memoryMb);
  if (spare) {
    try {
      const warm = await spare;
      if (!isGone(warm.isolate)) return warm;
    } catch {
      // A spare that failed to start: make one now.
    }
  }
  const isolate = await newIsolate(memoryMb);
  return { isolate, realmScript: await compileRealmScript(isolate) };
}

/** Makes a spare ahead of the first deploy (a worker calls this as it starts). */
export function prewarmIsolate(memoryMb: number): void {
  if (!spares.has(memoryMb)) refill(memoryMb);
}
