// The host's operations as the prelude calls them: typed by the bridge's table (../bridge.ts),
// made from what the host hands the realm (Callbacks and References by operation name).
import { HOST_OPS, type HostOpName, type HostOps, type RealmConfig } from "../bridge.ts";

/** An isolated-vm Reference to a host function, as seen inside the isolate. */
type HostReference = {
  apply(
    receiver: undefined,
    args: unknown[],
    options: { arguments?: { copy?: boolean }; result?: { promise?: boolean; copy?: boolean } },
  ): Promise<unknown>;
};

/** The host's operations; one is missing where this host offers none (ctx.state without a store). */
export type Host = { [K in HostOpName]?: HostOps[K] };

/**
 * Host calls this realm may have waiting at once. Each holds ~4 KB of isolated-vm's native
 * memory until answered, outside any limit, and a loop of 60,000 never awaited crashed the
 * worker's process: so the cap is kept here, where the call is made, before it crosses.
 */
const MAX_PENDING_HOST_CALLS = 512;
/**
 * Of those, how many cross to the host at once; the others wait here, in order, and cross as
 * earlier ones are answered. The host's side of a call runs on the worker's main thread, which
 * every agent's requests share: 512 at once from each of a few agents kept it busy enough to
 * multiply a bystander's tail latency by 5 (bench/noisy-neighbour.ts, "host calls never awaited").
 */
const MAX_CROSSING_HOST_CALLS = 64;
let pending = 0;
let crossing = 0;
const waiting: (() => void)[] = [];
// One refusal for every call past the cap: a loop of them must not also pay for a stack trace
// each (20,000 cost the agent most of its CPU limit on a loaded machine).
const tooMany = new RangeError(
  `${MAX_PENDING_HOST_CALLS} host calls (state, fetch, llm, agents, timers) are already waiting; await some first`,
);

function asyncOp(ref: HostReference) {
  const cross = (args: unknown[]): Promise<unknown> => {
    crossing++;
    const settled = () => {
      pending--;
      crossing--;
      waiting.shift()?.();
    };
    const call = ref.apply(undefined, args, {
      arguments: { copy: true },
      result: { promise: true, copy: true },
    });
    call.then(settled, settled);
    return call;
  };
  return (...args: unknown[]): Promise<unknown> => {
    if (pending >= MAX_PENDING_HOST_CALLS) return Promise.reject(tooMany);
    pending++;
    if (crossing < MAX_CROSSING_HOST_CALLS) return cross(args);
    return new Promise((resolve, reject) => {
      waiting.push(() => cross(args).then(resolve, reject));
    });
  };
}

/** What the host handed the realm (`HOST_GLOBAL`): its operations by name, and plain config. */
export type HostHandoff = { ops?: Record<string, unknown>; config?: Partial<RealmConfig> };

/** The typed operations, from the host's handoff; an unknown or missing one is left out. */
export function hostFrom(handoff: HostHandoff): { host: Host; config: RealmConfig } {
  const host: Record<string, unknown> = {};
  const ops = handoff.ops ?? {};
  for (const name of Object.keys(HOST_OPS) as HostOpName[]) {
    const op = ops[name];
    if (op === undefined || op === null) continue;
    host[name] = HOST_OPS[name] === "async" ? asyncOp(op as HostReference) : op;
  }
  return { host: host as Host, config: { memoryMb: handoff.config?.memoryMb ?? 128 } };
}
