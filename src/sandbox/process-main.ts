import { readdirSync } from "node:fs";
import { setPriority } from "node:os";
import { IsolateSandbox } from "./isolate.ts";
import {
  type FromProcess,
  fromWire,
  type HostCall,
  type HostCallResult,
  type ToProcess,
  toWire,
} from "./process-protocol.ts";
import type { AgentStateBackend, SandboxStream } from "./types.ts";

// A sandbox process (process-sandbox.ts starts it): agents a worker moved out of its own process
// run here, each in its IsolateSandbox as they would in the worker, at a lower priority. What
// they need of the worker (state, signing, calls, logs) is asked of it by message.

/** Nice value of every thread of the process: they yield the cores to the worker's under contention. */
const NICE = Number(process.env.VEIL_SANDBOX_PROCESS_NICE ?? 10);

function lowerPriority(): void {
  // Linux keeps a nice value per thread: each thread running now is lowered, and those started
  // later inherit the value of the thread that starts them.
  try {
    for (const tid of readdirSync("/proc/self/task")) setPriority(Number(tid), NICE);
  } catch {
    setPriority(0, NICE);
  }
}

function send(message: FromProcess): void {
  process.send?.(message);
}

const sandboxes = new Map<number, IsolateSandbox>();
const streams = new Map<number, { stream: SandboxStream; iterator: AsyncIterator<Uint8Array> }>();
const calls = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
let nextCall = 1;

/**
 * Asks of the worker an agent may have open at once; the rest wait here, in order. The worker's
 * main thread serves every agent: a moved agent that floods it with asks (state reads never
 * awaited) waits on itself here instead of on everyone there.
 */
const ASKS_IN_FLIGHT = 16;
const asking = new Map<number, { open: number; queue: (() => void)[] }>();

async function ask<O extends HostCall["op"]>(
  sid: number,
  op: O,
  args: Extract<HostCall, { op: O }>["args"],
): Promise<HostCallResult[O]> {
  const lane = asking.get(sid) ?? { open: 0, queue: [] };
  asking.set(sid, lane);
  if (lane.open >= ASKS_IN_FLIGHT) await new Promise<void>((go) => lane.queue.push(go));
  lane.open++;
  try {
    const cid = nextCall++;
    return await new Promise((resolve, reject) => {
      calls.set(cid, { resolve: resolve as (value: unknown) => void, reject });
      send({ t: "call", cid, sid, op, args } as FromProcess);
    });
  } finally {
    lane.open--;
    lane.queue.shift()?.();
  }
}

function stateOf(sid: number, transactions: boolean): AgentStateBackend {
  return {
    get: (name) => ask(sid, "state.get", [name]),
    put: (name, value) => ask(sid, "state.put", [name, value]).then(() => undefined),
    delete: (name) => ask(sid, "state.delete", [name]),
    list: (prefix, limit) => ask(sid, "state.list", [prefix, limit]),
    ...(transactions
      ? {
          read: (name: string) => ask(sid, "state.read", [name]),
          commit: (at: bigint | undefined, writes: readonly [string, Uint8Array | undefined][]) =>
            ask(sid, "state.commit", [at, [...writes]]),
        }
      : {}),
  };
}

async function create(m: Extract<ToProcess, { t: "create" }>): Promise<void> {
  try {
    const sandbox = await IsolateSandbox.create({
      code: m.code,
      meta: m.meta,
      limits: m.limits,
      log: (level, message) => send({ t: "log", sid: m.sid, level, message }),
      onStrike: (reason) => send({ t: "strike", sid: m.sid, reason }),
      ...(m.secretKey ? { secretKey: m.secretKey } : {}),
      ...(m.has.state ? { state: stateOf(m.sid, m.has.stateTransactions) } : {}),
      ...(m.has.llmSigner ? { llmSigner: (fields) => ask(m.sid, "llm.sign", [fields]) } : {}),
      ...(m.has.agentCaller
        ? { agentCaller: (request, context) => ask(m.sid, "agents.call", [request, context]) }
        : {}),
    });
    sandboxes.set(m.sid, sandbox);
    send({ t: "created", sid: m.sid });
  } catch (err) {
    send({ t: "created", sid: m.sid, error: toWire(err) });
  }
}

async function invoke(m: Extract<ToProcess, { t: "invoke" }>): Promise<void> {
  const sandbox = sandboxes.get(m.sid);
  if (!sandbox) {
    send({ t: "failed", rid: m.rid, error: { message: `no sandbox ${m.sid} in this process` } });
    return;
  }
  try {
    const r = await sandbox.invoke(m.request, m.trigger);
    if (r.stream) {
      const stream = r.stream;
      streams.set(m.rid, { stream, iterator: stream.chunks[Symbol.asyncIterator]() });
      stream.finished.then((end) => {
        send({
          t: "finished",
          rid: m.rid,
          end: {
            usage: end.usage,
            llmReceipts: end.llmReceipts,
            ...(end.error ? { error: toWire(end.error) } : {}),
          },
        });
      });
    }
    send({
      t: "answer",
      rid: m.rid,
      response: {
        status: r.status,
        headers: r.headers,
        body: r.body,
        usage: r.usage,
        ...(r.llmReceipts ? { llmReceipts: r.llmReceipts } : {}),
        streamed: r.stream !== undefined,
      },
    });
  } catch (err) {
    send({ t: "failed", rid: m.rid, error: toWire(err) });
  }
}

/** One chunk per pull: the worker's reader sets the pace, as it would in the worker's process. */
async function pull(rid: number): Promise<void> {
  const entry = streams.get(rid);
  if (!entry) {
    send({ t: "chunks-ended", rid });
    return;
  }
  try {
    const next = await entry.iterator.next();
    if (next.done) {
      streams.delete(rid);
      send({ t: "chunks-ended", rid });
    } else send({ t: "chunk", rid, bytes: next.value });
  } catch (err) {
    streams.delete(rid);
    send({ t: "chunks-ended", rid, error: toWire(err) });
  }
}

process.on("message", (message: ToProcess) => {
  switch (message.t) {
    case "create":
      void create(message);
      break;
    case "invoke":
      void invoke(message);
      break;
    case "pull":
      void pull(message.rid);
      break;
    case "cancel": {
      const entry = streams.get(message.rid);
      streams.delete(message.rid);
      entry?.stream.cancel();
      break;
    }
    case "dispose":
      sandboxes.get(message.sid)?.dispose();
      sandboxes.delete(message.sid);
      asking.delete(message.sid);
      break;
    case "reply": {
      const call = calls.get(message.cid);
      calls.delete(message.cid);
      if (!call) break;
      if (message.ok) call.resolve(message.value);
      else call.reject(fromWire(message.error));
      break;
    }
  }
});

// The worker went away (its IPC channel closed): nothing is left to serve.
process.on("disconnect", () => process.exit(0));
lowerPriority();
send({ t: "ready" });
