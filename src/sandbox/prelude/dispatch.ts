// The realm's entry points for the host (bridge.ts `RealmEntries`): install the agent's default
// export, turn a copied request into a call of its handler and the Response back into plain
// data, pull a streamed body, and settle when `ctx.waitUntil` work has. index.ts leaves them in
// one global that the host takes and deletes before agent code runs, so agent code can neither
// call nor replace them.

import type {
  DispatchMeta,
  DispatchRequest,
  DispatchResult,
  ErrorInfo,
  Installed,
  PullResult,
  RealmEntries,
} from "../bridge.ts";
import { sourceStream } from "./body.ts";
import { offerStream, bodyStreams as streams } from "./body-streams.ts";
import { TextEncoder } from "./encoding.ts";
import { callPhalaAgent } from "./phala.ts";
import { Request, type RequestInit } from "./request.ts";
import { Response } from "./response.ts";

type Agent = Record<string, unknown> & ((input: string) => unknown);
type Ctx = {
  state: unknown;
  llm(receipts: unknown[]): unknown;
  agents(callToken: string): unknown;
  /** Installs the Phala guest globals (phala.ts), for Phala-style agents only. */
  phalaGlobals(secrets: Record<string, string>): void;
};

/** What a Phala-built script's `globalThis.scriptArgs` is while it loads: see `phalaBegin`. */
type Watch = { marker: unknown[]; apply: typeof Function.prototype.apply; main?: unknown };

const errorInfo = (e: unknown): ErrorInfo => {
  const o = e && typeof e === "object" ? (e as { name?: unknown; message?: unknown; stack?: unknown }) : {};
  return {
    name: typeof o.name === "string" ? o.name : "Error",
    message: typeof o.message === "string" ? o.message : String(e),
    stack: typeof o.stack === "string" ? o.stack : undefined,
  };
};

/** A trigger's answer as bytes: a Uint8Array, an ArrayBuffer, a 0x-hex string, or nothing. */
function triggerBytes(result: unknown): ArrayBuffer | undefined {
  if (result instanceof ArrayBuffer) return result;
  if (ArrayBuffer.isView(result))
    return result.buffer.slice(result.byteOffset, result.byteOffset + result.byteLength) as ArrayBuffer;
  if (typeof result === "string" && /^0x([0-9a-fA-F]{2})*$/.test(result)) {
    const bytes = new Uint8Array((result.length - 2) / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(result.slice(2 + 2 * i, 4 + 2 * i), 16);
    return bytes.buffer;
  }
  if (result === undefined || result === null) return new ArrayBuffer(0);
  return undefined;
}

const chunkBytes = (c: unknown): ArrayBuffer => {
  if (typeof c === "string") return new TextEncoder().encode(c).buffer as ArrayBuffer;
  if (c instanceof ArrayBuffer) return c.slice(0);
  if (ArrayBuffer.isView(c)) return c.buffer.slice(c.byteOffset, c.byteOffset + c.byteLength) as ArrayBuffer;
  throw new TypeError(
    `a streamed body's chunks must be Uint8Array, ArrayBuffer or string, got ${c === null ? "null" : typeof c}`,
  );
};

export function makeEntries(made: Ctx): RealmEntries {
  let agent: Agent | undefined;
  let phala = false;
  let watch: Watch | undefined;
  const installPhala = (main: unknown): Installed => {
    agent = main as Agent;
    phala = true;
    return { ok: true, style: "phala", handlers: ["fetch"] };
  };
  // Work handed to ctx.waitUntil, still running: the host waits for it before it drops a realm.
  const pending = new Set<Promise<unknown>>();

  // Triggers (src/worker/chain-requests.ts, schedules.ts): onChainRequest answers bytes;
  // scheduled returns nothing (or bytes).
  const runTrigger = async (
    trigger: NonNullable<DispatchMeta["trigger"]>,
    env: object,
    ctx: object,
  ): Promise<DispatchResult> => {
    const handler = agent && !phala ? agent[trigger.kind] : undefined;
    if (typeof handler !== "function") {
      return {
        ok: false,
        kind: "threw",
        error: { name: "TypeError", message: `the agent has no ${trigger.kind}(event, env, ctx) handler` },
      };
    }
    let result: unknown;
    try {
      result = await handler.call(agent, trigger.event, env, ctx);
    } catch (e) {
      return { ok: false, kind: "threw", error: errorInfo(e) };
    }
    const body = triggerBytes(result);
    if (!body) {
      return {
        ok: false,
        kind: "bad-response",
        error: {
          name: "TypeError",
          message: `${trigger.kind}() must return bytes (Uint8Array, ArrayBuffer or 0x-hex), got ${typeof result}`,
        },
      };
    }
    return { ok: true, status: 200, headers: [], body };
  };

  const dispatch = async (req: DispatchRequest, meta: DispatchMeta): Promise<DispatchResult> => {
    const init: RequestInit = { method: req.method, headers: req.headers };
    if (req.body !== null && req.method !== "GET" && req.method !== "HEAD") init.body = req.body;
    let request: Request;
    try {
      request = new Request(req.url, init);
    } catch (e) {
      // What the caller sent is not a web request (a NUL in a header, a bad header name).
      return { ok: false, kind: "bad-request", error: errorInfo(e) };
    }
    const env = Object.freeze({
      ...(meta.secrets || {}),
      VEIL_AGENT_ID: meta.id,
      VEIL_AGENT_NAME: meta.name,
      VEIL_CODE_HASH: meta.codeHash,
      VEIL_AGENT_ADDRESS: meta.address || "",
    });
    const llmReceipts: unknown[] = [];
    const ctx = Object.freeze({
      llm: made.llm(llmReceipts),
      agents: made.agents(req.callToken),
      // The agent that called, verified by the worker (null when a user or app called).
      caller: req.caller ? Object.freeze({ ...req.caller }) : null,
      deadline: req.deadline ?? null,
      agent: Object.freeze({
        id: meta.id,
        name: meta.name,
        codeHash: meta.codeHash,
        address: meta.address || "",
      }),
      state: made.state,
      waitUntil(p: unknown) {
        const settled: Promise<unknown> = Promise.resolve(p)
          .catch(() => {})
          .finally(() => pending.delete(settled));
        pending.add(settled);
      },
      passThroughOnException() {},
    });
    if (meta.trigger) return runTrigger(meta.trigger, env, ctx);
    let response: unknown;
    try {
      response = phala
        ? await callPhalaAgent(agent!, req, meta.secrets || {})
        : await (agent!.fetch as (r: Request, e: object, c: object) => unknown).call(
            agent,
            request,
            env,
            ctx,
          );
    } catch (e) {
      return { ok: false, kind: "threw", error: errorInfo(e) };
    }
    if (!(response instanceof Response)) {
      return {
        ok: false,
        kind: "bad-response",
        error: {
          name: "TypeError",
          message: `fetch() must return a Response, got ${response === null ? "null" : typeof response}`,
        },
      };
    }
    // A subclass's getters may say anything, or throw: what they say is checked on the host.
    const headers: [string, string][] = [];
    let status: number | string;
    try {
      const said: unknown = response.status;
      status = typeof said === "number" ? said : String(said);
      response.headers.forEach((v, k) => {
        headers.push([String(k), String(v)]);
      });
    } catch (e) {
      return { ok: false, kind: "bad-response", error: errorInfo(e) };
    }
    const source = sourceStream(response);
    if (source) {
      // A body the agent produces as it goes: the host pulls it chunk by chunk (`pull`).
      let id: number;
      try {
        id = offerStream(source, llmReceipts);
      } catch (e) {
        return { ok: false, kind: "bad-response", error: errorInfo(e) };
      }
      return { ok: true, status, headers, stream: id };
    }
    let body: ArrayBuffer;
    try {
      body = await response.arrayBuffer();
    } catch (e) {
      return { ok: false, kind: "threw", error: errorInfo(e) };
    }
    return { ok: true, status, headers, body, llmReceipts };
  };

  // Several requests in one crossing: the host gathers those that reach it together, since a
  // crossing costs it more than a small handler does. Answers ready within a few turns of the
  // microtask queue come back with the batch (null for the rest); a request still waiting on
  // the host (a fetch, state, a timer) is collected by its seq through `await`.
  const waiting = new Map<number, Promise<DispatchResult>>();
  const dispatchMany = (reqs: DispatchRequest[], meta: DispatchMeta) => {
    const out: (DispatchResult | null)[] = reqs.map(() => null);
    let left = reqs.length;
    let returned = false;
    return new Promise<(DispatchResult | null)[]>((resolve) => {
      const finish = () => {
        returned = true;
        for (let i = 0; i < reqs.length; i++) if (out[i] === null) waiting.set(reqs[i]!.seq!, answers[i]!);
        resolve(out);
      };
      const answers = reqs.map((req, i) => {
        const p = dispatch(req, meta);
        p.then(
          (r) => {
            if (returned) return;
            out[i] = r;
            if (--left === 0) finish();
          },
          () => {},
        );
        return p;
      });
      let turns = 0;
      const tick = () => {
        if (returned) return;
        if (++turns >= 32) finish();
        else Promise.resolve().then(tick);
      };
      Promise.resolve().then(tick);
    });
  };

  return {
    setAgent(exported: unknown, secrets: Record<string, string>): Installed {
      const e = exported as Agent | undefined;
      if (
        e &&
        (typeof e === "object" || typeof e === "function") &&
        (typeof e.fetch === "function" ||
          typeof e.onChainRequest === "function" ||
          typeof e.scheduled === "function")
      ) {
        agent = e;
        const handlers = ["fetch", "onChainRequest", "scheduled"].filter((k) => typeof e[k] === "function");
        return { ok: true, style: "fetch", handlers };
      }
      if (typeof e === "function") {
        // Phala's AI Agent Contract styles: see phala.ts.
        made.phalaGlobals(secrets);
        return installPhala(e);
      }
      return {
        ok: false,
        message:
          "the bundle's default export has no fetch(request, env, ctx) handler (nor is it a Phala-style main function)",
      };
    },
    // A Phala-built script is no module: phat-fn's ends `main.apply(null, globalThis.scriptArgs)`
    // (then sets scriptOutput), the wapo runtime's leaves main in `module.exports`. While it
    // loads, scriptArgs is a marker and `apply` called with it hands over the function instead
    // of running it; the requests call that function as they would a default export.
    phalaBegin(secrets: Record<string, string>): void {
      made.phalaGlobals(secrets);
      const marker: unknown[] = [];
      const apply = Function.prototype.apply;
      const w: Watch = { marker, apply };
      watch = w;
      (globalThis as { scriptArgs?: unknown }).scriptArgs = marker;
      Object.defineProperty(Function.prototype, "apply", {
        value: function (this: (...a: unknown[]) => unknown, thisArg: unknown, args?: ArrayLike<unknown>) {
          if (args === marker && w.main === undefined) {
            w.main = this;
            // Never settles: the script's `.then(… scriptOutput = …)` waits for good.
            return new Promise(() => {});
          }
          return Reflect.apply(apply, this, [thisArg, args]);
        },
        writable: true,
        configurable: true,
        enumerable: false,
      });
    },
    phalaEnd(): Installed {
      const w = watch;
      watch = undefined;
      const scope = globalThis as {
        scriptArgs?: unknown;
        scriptOutput?: unknown;
        module?: { exports?: unknown };
      };
      if (w) {
        Object.defineProperty(Function.prototype, "apply", {
          value: w.apply,
          writable: true,
          configurable: true,
          enumerable: false,
        });
      }
      delete scope.scriptArgs;
      delete scope.scriptOutput;
      const exported = scope.module?.exports as { default?: unknown } | undefined;
      const main =
        w?.main ??
        (typeof exported === "function"
          ? exported
          : typeof exported?.default === "function"
            ? exported.default
            : undefined);
      if (typeof main !== "function") {
        return {
          ok: false,
          message:
            "the Phala-built script neither passed globalThis.scriptArgs to its main function (phat-fn build) nor left one in module.exports (the wapo runtime's)",
        };
      }
      return installPhala(main);
    },
    dispatch,
    dispatchMany,
    await(seq: number) {
      const p = waiting.get(seq);
      waiting.delete(seq);
      return (
        p ??
        Promise.resolve<DispatchResult>({
          ok: false,
          kind: "threw",
          error: { name: "Error", message: "no such request" },
        })
      );
    },
    idle: () => Promise.all([...pending]).then(() => undefined),
    async pull(id: number): Promise<PullResult> {
      const s = streams.get(id);
      if (!s) return { done: true, error: { name: "TypeError", message: "no such response stream" } };
      try {
        const r = await s.reader.read();
        if (r.done) {
          streams.delete(id);
          return { done: true, llmReceipts: s.llmReceipts };
        }
        return { done: false, chunk: chunkBytes(r.value) };
      } catch (e) {
        streams.delete(id);
        s.reader.cancel(e).catch(() => {});
        return { done: true, error: errorInfo(e) };
      }
    },
    cancel(id: number, reason?: string) {
      const s = streams.get(id);
      streams.delete(id);
      if (s) s.reader.cancel(reason).catch(() => {});
    },
  };
}
