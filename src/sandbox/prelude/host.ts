// The host hooks the sandbox hands the prelude (then deletes from the global object).

/** An isolated-vm Reference to a host function, as seen inside the isolate. */
export type HostReference = {
  apply(
    receiver: undefined,
    args: unknown[],
    options: { arguments?: { copy?: boolean }; result?: { promise?: boolean; copy?: boolean } },
  ): Promise<unknown>;
};

export type HostHooks = {
  log?: (level: string, message: string) => void;
  random?: (n: number) => ArrayBuffer;
  digest?: (algorithm: string, data: ArrayBuffer) => ArrayBuffer;
  hmac?: (hash: string, key: ArrayBuffer, data: ArrayBuffer) => ArrayBuffer;
  /** Resolves after `ms`; `id` names the timer for cancelSleep. */
  sleep?: HostReference;
  /** Clears a sleep on the host (so a cleared timer holds nothing there) and settles it. */
  cancelSleep?: (id: number) => void;
  /** The agent's memory limit, which bounds its WebAssembly memories (prelude/wasm.ts). */
  memoryMb?: number;
  fetch?: HostReference;
  state?: HostReference;
  llm?: HostReference;
  agents?: HostReference;
  /** crypto.subtle's operations on the host's Web Crypto (src/sandbox/host-crypto.ts). */
  subtle?: HostReference;
};

/**
 * Host calls this realm may have waiting at once. Each holds ~4 KB of isolated-vm's native
 * memory until answered, outside any limit, and a loop of 60,000 never awaited crashed the
 * worker's process: so the cap is kept here, where the call is made, before it crosses.
 */
export const MAX_PENDING_HOST_CALLS = 512;
let pending = 0;
// One refusal for every call past the cap: a loop of them must not also pay for a stack trace
// each (20,000 cost the agent most of its CPU limit on a loaded machine).
const tooMany = new RangeError(
  `${MAX_PENDING_HOST_CALLS} host calls (state, fetch, llm, agents, timers) are already waiting; await some first`,
);

/** Calls an async host function and gets a copied result back. */
export function callHost(ref: HostReference, args: unknown[]): Promise<unknown> {
  if (pending >= MAX_PENDING_HOST_CALLS) return Promise.reject(tooMany);
  pending++;
  const settled = () => {
    pending--;
  };
  const call = ref.apply(undefined, args, {
    arguments: { copy: true },
    result: { promise: true, copy: true },
  });
  call.then(settled, settled);
  return call;
}
