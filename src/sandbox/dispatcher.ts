/**
 * Runs inside each realm after the prelude and before the agent's module. It defines the
 * entry points the host keeps references to (then deletes from the global object, so agent code
 * can neither call nor replace them): one to install the agent's default export, one to turn a
 * copied request into a call of its `fetch` and the Response back into plain data, and one that
 * settles when the realm's `ctx.waitUntil` work has.
 */
export const DISPATCHER_SOURCE = `(() => {
  "use strict";
  let agent;
  let phala = false;
  const state = globalThis.__veilCtxState;
  const callPhala = globalThis.__veilPhala;
  const makeLlm = globalThis.__veilCtxLlm;
  delete globalThis.__veilCtxState;
  delete globalThis.__veilCtxLlm;
  const makeAgents = globalThis.__veilCtxAgents;
  delete globalThis.__veilCtxAgents;
  delete globalThis.__veilPhala;
  const sourceStream = globalThis.__veilSourceStream;
  delete globalThis.__veilSourceStream;
  const TE = globalThis.TextEncoder;
  const errorInfo = (e) => ({
    name: e && typeof e === "object" && typeof e.name === "string" ? e.name : "Error",
    message: e && typeof e === "object" && typeof e.message === "string" ? e.message : String(e),
    stack: e && typeof e === "object" && typeof e.stack === "string" ? e.stack : undefined,
  });
  globalThis.__veilSetAgent = (exported) => {
    if (exported && (typeof exported === "object" || typeof exported === "function") && (typeof exported.fetch === "function" || typeof exported.onChainRequest === "function" || typeof exported.scheduled === "function")) {
      agent = exported;
      const handlers = ["fetch", "onChainRequest", "scheduled"].filter((k) => typeof exported[k] === "function");
      return { ok: true, style: "fetch", handlers };
    }
    if (typeof exported === "function") {
      // Phala's AI Agent Contract styles: see prelude/phala.ts.
      agent = exported;
      phala = true;
      return { ok: true, style: "phala", handlers: ["fetch"] };
    }
    return { ok: false, message: "the bundle's default export has no fetch(request, env, ctx) handler (nor is it a Phala-style main function)" };
  };
  // Work handed to ctx.waitUntil, still running: the host waits for it before it drops a realm.
  const pending = new Set();
  globalThis.__veilIdle = () => Promise.all([...pending]).then(() => undefined);
  // Triggers (src/worker/chain-requests.ts, schedules.ts): onChainRequest answers bytes (a
  // Uint8Array, an ArrayBuffer or a 0x-hex string); scheduled returns nothing (or bytes).
  const runTrigger = async (trigger, env, ctx) => {
    const handler = agent && !phala ? agent[trigger.kind] : undefined;
    if (typeof handler !== "function") {
      return { ok: false, kind: "threw", error: { name: "TypeError", message: "the agent has no " + trigger.kind + "(event, env, ctx) handler" } };
    }
    let result;
    try {
      result = await handler.call(agent, trigger.event, env, ctx);
    } catch (e) {
      return { ok: false, kind: "threw", error: errorInfo(e) };
    }
    let body;
    if (result instanceof ArrayBuffer) body = result;
    else if (ArrayBuffer.isView(result)) body = result.buffer.slice(result.byteOffset, result.byteOffset + result.byteLength);
    else if (typeof result === "string" && /^0x([0-9a-fA-F]{2})*$/.test(result)) {
      const bytes = new Uint8Array((result.length - 2) / 2);
      for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(result.slice(2 + 2 * i, 4 + 2 * i), 16);
      body = bytes.buffer;
    } else if (result === undefined || result === null) body = new ArrayBuffer(0);
    else return { ok: false, kind: "bad-response", error: { name: "TypeError", message: trigger.kind + "() must return bytes (Uint8Array, ArrayBuffer or 0x-hex), got " + typeof result } };
    return { ok: true, status: 200, headers: [], body };
  };
  globalThis.__veilDispatch = async (req, meta) => {
    const init = { method: req.method, headers: req.headers };
    if (req.body !== null && req.method !== "GET" && req.method !== "HEAD") init.body = req.body;
    let request;
    try {
      request = new Request(req.url, init);
    } catch (e) {
      // What the caller sent is not a web request (a NUL in a header, a bad header name).
      return { ok: false, kind: "bad-request", error: errorInfo(e) };
    }
    const env = Object.freeze({ ...(meta.secrets || {}), VEIL_AGENT_ID: meta.id, VEIL_AGENT_NAME: meta.name, VEIL_CODE_HASH: meta.codeHash, VEIL_AGENT_ADDRESS: meta.address || "" });
    const llmReceipts = [];
    const ctx = Object.freeze({
      llm: makeLlm(llmReceipts),
      agents: makeAgents(req.callToken),
      // The agent that called, verified by the worker (null when a user or app called).
      caller: req.caller ? Object.freeze({ ...req.caller }) : null,
      deadline: req.deadline ?? null,
      agent: Object.freeze({ id: meta.id, name: meta.name, codeHash: meta.codeHash, address: meta.address || "" }),
      state,
      waitUntil(p) {
        const settled = Promise.resolve(p).catch(() => {}).finally(() => pending.delete(settled));
        pending.add(settled);
      },
      passThroughOnException() {},
    });
    if (meta.trigger) return runTrigger(meta.trigger, env, ctx);
    let response;
    try {
      response = phala ? await callPhala(agent, req, meta.secrets || {}) : await agent.fetch(request, env, ctx);
    } catch (e) {
      return { ok: false, kind: "threw", error: errorInfo(e) };
    }
    if (!(response instanceof Response)) {
      return { ok: false, kind: "bad-response", error: { name: "TypeError", message: "fetch() must return a Response, got " + (response === null ? "null" : typeof response) } };
    }
    // A subclass's getters may say anything, or throw: what they say is checked on the host.
    const headers = [];
    let status;
    try {
      status = response.status;
      if (typeof status !== "number") status = String(status);
      response.headers.forEach((v, k) => headers.push([String(k), String(v)]));
    } catch (e) {
      return { ok: false, kind: "bad-response", error: errorInfo(e) };
    }
    const source = sourceStream(response);
    if (source) {
      // A body the agent produces as it goes: the host pulls it chunk by chunk (__veilPull).
      let reader;
      try {
        reader = source.getReader();
      } catch (e) {
        return { ok: false, kind: "bad-response", error: errorInfo(e) };
      }
      const id = nextStream++;
      streams.set(id, { reader, llmReceipts });
      return { ok: true, status, headers, stream: id };
    }
    let body;
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
  // the host (a fetch, state, a timer) is collected by its seq through __veilAwait.
  const waiting = new Map();
  const dispatchOne = globalThis.__veilDispatch;
  globalThis.__veilDispatchMany = (reqs, meta) => {
    const out = reqs.map(() => null);
    let left = reqs.length;
    let returned = false;
    return new Promise((resolve) => {
      const finish = () => {
        returned = true;
        for (let i = 0; i < reqs.length; i++) if (out[i] === null) waiting.set(reqs[i].seq, answers[i]);
        resolve(out);
      };
      const answers = reqs.map((req, i) => {
        const p = dispatchOne(req, meta);
        p.then((r) => {
          if (returned) return;
          out[i] = r;
          if (--left === 0) finish();
        }, () => {});
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
  globalThis.__veilAwait = (seq) => {
    const p = waiting.get(seq);
    waiting.delete(seq);
    return p ?? Promise.resolve({ ok: false, kind: "threw", error: { name: "Error", message: "no such request" } });
  };
  // Streamed response bodies in flight, by id: the host pulls each chunk, or cancels.
  const streams = new Map();
  let nextStream = 1;
  const chunkBytes = (c) => {
    if (typeof c === "string") return new TE().encode(c).buffer;
    if (c instanceof ArrayBuffer) return c.slice(0);
    if (ArrayBuffer.isView(c)) return c.buffer.slice(c.byteOffset, c.byteOffset + c.byteLength);
    throw new TypeError("a streamed body's chunks must be Uint8Array, ArrayBuffer or string, got " + (c === null ? "null" : typeof c));
  };
  globalThis.__veilPull = async (id) => {
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
  };
  globalThis.__veilCancel = (id, reason) => {
    const s = streams.get(id);
    streams.delete(id);
    if (s) s.reader.cancel(reason).catch(() => {});
  };
})();`;
