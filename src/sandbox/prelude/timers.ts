// setTimeout/setInterval for agents: the host sleeps, the callback runs in the isolate. The
// host drops every pending timer when the agent's isolate is thrown away.
import { callHost, type HostReference } from "./host.ts";

const MAX_TIMERS = 1000;
const MAX_DELAY_MS = 24 * 60 * 60 * 1000;

export function makeTimers(sleep: HostReference | undefined): Record<string, unknown> {
  const live = new Map<number, boolean>();
  let next = 1;
  const schedule = (repeat: boolean, cb: unknown, ms: unknown, args: unknown[]): number => {
    if (typeof cb !== "function") throw new TypeError("The callback must be a function");
    if (!sleep) throw new Error("timers are not available");
    if (live.size >= MAX_TIMERS) throw new RangeError(`More than ${MAX_TIMERS} timers pending`);
    const id = next++;
    const delay = Math.min(Math.max(0, Number(ms) || 0), MAX_DELAY_MS);
    live.set(id, repeat);
    const tick = () => {
      callHost(sleep, [delay]).then(
        () => {
          if (!live.has(id)) return;
          if (!repeat) live.delete(id);
          try {
            (cb as (...a: unknown[]) => void)(...args);
          } finally {
            if (repeat && live.has(id)) tick();
          }
        },
        () => live.delete(id),
      );
    };
    tick();
    return id;
  };
  const clear = (id: unknown) => {
    live.delete(Number(id));
  };
  return {
    setTimeout: (cb: unknown, ms?: unknown, ...args: unknown[]) => schedule(false, cb, ms, args),
    setInterval: (cb: unknown, ms?: unknown, ...args: unknown[]) =>
      schedule(true, cb, Math.max(1, Number(ms) || 0), args),
    clearTimeout: clear,
    clearInterval: clear,
  };
}
