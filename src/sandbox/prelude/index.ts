// The prelude: runs first in every agent isolate and installs the web-standard globals.
// It takes the host's operations from the one global the host left (bridge.ts HOST_GLOBAL) and
// deletes it, so agent code never sees them; fetch, timers, crypto and console reach the host
// only through them. It leaves the realm's entry points for the host the same way.
import { ENTRIES_GLOBAL, HOST_GLOBAL } from "../bridge.ts";
import { AbortController, AbortSignal, CustomEvent, Event, EventTarget } from "./abort.ts";
import { makeAgents } from "./agents.ts";
import { Blob, File } from "./blob.ts";
import { refuseToClone, structuredClone } from "./clone.ts";
import { makeCompression } from "./compression.ts";
import { makeConsole } from "./console.ts";
import { CryptoKey, makeCrypto } from "./crypto.ts";
import { makeEntries } from "./dispatch.ts";
import { atob, btoa, DOMException, TextDecoder, TextEncoder, useHostDecoder } from "./encoding.ts";
import { makeFetch } from "./fetch.ts";
import { FormData } from "./form-data.ts";
import { Headers } from "./headers.ts";
import { type HostHandoff, hostFrom } from "./host.ts";
import { makeLlm } from "./llm.ts";
import { makeMessaging } from "./messages.ts";
import { installPhalaGlobals } from "./phala.ts";
import { Request } from "./request.ts";
import { Response } from "./response.ts";
import { makeState } from "./state.ts";
import { STREAM_GLOBALS, streams, TextDecoderStream, TextEncoderStream } from "./streams.ts";
import { makeTimers } from "./timers.ts";
import { URL, URLSearchParams, useHostUrlParser } from "./url.ts";
import { urlPattern } from "./url-pattern.ts";
import { makeWebAssembly } from "./wasm.ts";

const scope = globalThis as unknown as Record<string, unknown>;
const { host, config } = hostFrom((scope[HOST_GLOBAL] ?? {}) as HostHandoff);
delete scope[HOST_GLOBAL];
useHostUrlParser(host);
useHostDecoder(host.textDecode);

const agentConsole = makeConsole(host.log);
const globals: Record<string, unknown> = {
  AbortController,
  AbortSignal,
  Event,
  EventTarget,
  CustomEvent,
  Headers,
  Request,
  Response,
  TextEncoderStream,
  TextDecoderStream,
  Blob,
  File,
  FormData,
  URL,
  URLSearchParams,
  TextEncoder,
  TextDecoder,
  DOMException,
  atob,
  btoa,
  structuredClone,
  console: agentConsole,
  crypto: makeCrypto(host),
  CryptoKey,
  fetch: makeFetch(host),
  ...makeCompression(host),
  // A timer callback's uncaught error goes to the owner's logs, as in a browser's console.
  ...makeTimers(host.sleep, host.cancelSleep, (err) => agentConsole.error?.("Uncaught (in a timer)", err)),
  WebAssembly: makeWebAssembly(scope.WebAssembly as Parameters<typeof makeWebAssembly>[0], config.memoryMb),
};
// Messages are delivered as tasks on the prelude's own timer (an agent may replace setTimeout).
const taskTimer = globals.setTimeout as (fn: () => void, ms: number) => unknown;
Object.assign(
  globals,
  makeMessaging((fn) => taskTimer(fn, 0)),
);
// What a Workers-style runtime gives besides (workerd, Deno): the global as `self`, a navigator
// naming the runtime, a clock for timing (whole milliseconds: a finer one would time the host),
// and reportError for errors nobody awaits (to the owner's logs).
const timeOrigin = Date.now();
globals.self = scope;
globals.navigator = Object.freeze({ userAgent: "Veil", language: "en", languages: Object.freeze(["en"]) });
globals.performance = Object.freeze({ timeOrigin, now: () => Date.now() - timeOrigin });
globals.reportError = (error: unknown) => agentConsole.error?.("Uncaught", error);
if (typeof scope.queueMicrotask !== "function") {
  globals.queueMicrotask = (cb: () => void) => {
    Promise.resolve().then(cb);
  };
}
// The platform's objects that structuredClone refuses (DataCloneError), as a browser does.
refuseToClone(Request, Response, Headers, URL, URLSearchParams, FormData, AbortController, EventTarget);

/** A class or function as agents see it: named as its global (the prelude is minified). */
function named(name: string, value: unknown): unknown {
  if (typeof value === "function" && value.name !== name)
    Object.defineProperty(value, "name", { value: name, configurable: true });
  return value;
}
for (const [name, value] of Object.entries(globals)) {
  named(name, value);
  // Frozen prototypes: one request cannot change how Request or Response behave for the next.
  if (typeof value === "function" && value.prototype) Object.freeze(value.prototype);
  Object.defineProperty(scope, name, { value, writable: true, configurable: true, enumerable: false });
}

// The stream classes and URLPattern load on first use (streams.ts, url-pattern.ts): each
// global is an accessor until then.
const lazy: [string, () => unknown][] = [
  ...STREAM_GLOBALS.map((name): [string, () => unknown] => [name, () => streams()[name]]),
  ["URLPattern", urlPattern],
];
for (const [name, load] of lazy) {
  const settle = (value: unknown) =>
    Object.defineProperty(scope, name, { value, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(scope, name, {
    configurable: true,
    enumerable: false,
    get() {
      const value = named(name, load());
      settle(value);
      return value;
    },
    set: settle,
  });
}

// The entry points, for the host to take (and delete) before agent code runs. ctx.state's
// transactions back off between attempts on the prelude's own timer (not the agent's global).
const stateTimer = globals.setTimeout as (fn: () => void, ms: number) => unknown;
Object.defineProperty(scope, ENTRIES_GLOBAL, {
  value: makeEntries({
    state: makeState(host.state, (ms) => new Promise<void>((resolve) => stateTimer(resolve, ms))),
    // ctx.llm and ctx.agents are made per request: its LLM receipts, its call token.
    llm: (receipts) => makeLlm(host.llm, receipts),
    agents: (token) => makeAgents(host.agents, token),
    phalaGlobals: (secrets) => installPhalaGlobals(host.deriveSecret, secrets),
  }),
  configurable: true,
});
