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
};

/** Calls an async host function and gets a copied result back. */
export function callHost(ref: HostReference, args: unknown[]): Promise<unknown> {
  return ref.apply(undefined, args, { arguments: { copy: true }, result: { promise: true, copy: true } });
}
