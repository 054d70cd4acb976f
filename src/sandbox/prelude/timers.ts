// setTimeout/setInterval for agents. The realm keeps its timers itself, in a heap by due time,
// and holds at most one sleep on the host: until the earliest is due. So setting and clearing
// timers costs the host nothing (a host timer per setTimeout, never cleared there, let a loop of
// set-and-clear pin ~110 MB of a worker's memory and ~70 µs of its main thread per timer). The
// callbacks run in the isolate, within the agent's limits; the host drops its sleep when the
// isolate is thrown away, and caps how many any agent may hold whatever this file does.
import type { Host } from "./host.ts";

const MAX_TIMERS = 10_000;
const MAX_DELAY_MS = 24 * 60 * 60 * 1000;

type Timer = {
  cb: (...a: unknown[]) => void;
  args: unknown[];
  interval: number | undefined;
  nesting: number;
  /** Its current place in the heap (a stale place of a cleared or re-placed timer is skipped). */
  slot?: Slot | undefined;
};
/** As in browsers (HTML's timer nesting level): past 5 nested timers, none is due sooner than 4 ms. */
const NESTING_CLAMP = 5;
const CLAMPED_MS = 4;
/** A place in the heap: a timer id due at `at`; `seq` keeps timers due together in order. */
type Slot = { at: number; seq: number; id: number };

const before = (a: Slot, b: Slot) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

function push(heap: Slot[], s: Slot): void {
  heap.push(s);
  let i = heap.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!before(heap[i]!, heap[p]!)) break;
    [heap[i], heap[p]] = [heap[p]!, heap[i]!];
    i = p;
  }
}

function pop(heap: Slot[]): Slot | undefined {
  const top = heap[0];
  const last = heap.pop();
  if (heap.length > 0 && last) {
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  }
  return top;
}

export function makeTimers(
  sleep: Host["sleep"],
  cancel: ((token: number) => void) | undefined,
  onError: (err: unknown) => void = () => {},
): Record<string, unknown> {
  const live = new Map<number, Timer>();
  /** Due times; a cleared timer's slot stays until it comes up (or the heap is rebuilt). */
  let heap: Slot[] = [];
  let nextId = 1;
  let seq = 0;
  /** The host sleep waited on now: its token and when it ends (Infinity: none). */
  let armedToken = 0;
  let armedAt = Number.POSITIVE_INFINITY;
  let nextToken = 1;
  /** The nesting level of the timer whose callback runs now (0: none runs). */
  let running = 0;

  const earliest = (): Slot | undefined => {
    while (heap.length > 0 && live.get(heap[0]!.id)?.slot !== heap[0]) pop(heap);
    return heap[0];
  };

  const disarm = () => {
    if (armedToken !== 0) cancel?.(armedToken);
    armedToken = 0;
    armedAt = Number.POSITIVE_INFINITY;
  };

  const arm = () => {
    const next = earliest();
    if (!next) {
      disarm();
      return;
    }
    if (next.at >= armedAt) return;
    disarm();
    const token = nextToken++;
    armedToken = token;
    armedAt = next.at;
    sleep!(Math.max(0, next.at - Date.now()), token).then(
      (fired) => {
        if (fired === true && token === armedToken) fire();
      },
      () => {
        if (token === armedToken) armedAt = Number.POSITIVE_INFINITY;
      },
    );
  };

  const fire = () => {
    armedToken = 0;
    armedAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    // What is due now runs now; what these callbacks set runs at a later wake, never in this one.
    const due: number[] = [];
    for (let s = earliest(); s && s.at <= now; s = earliest()) {
      pop(heap);
      live.get(s.id)!.slot = undefined;
      due.push(s.id);
    }
    for (const id of due) {
      const t = live.get(id);
      if (!t) continue;
      if (t.interval === undefined) live.delete(id);
      else {
        t.nesting++;
        place(t, id, now + (t.nesting > NESTING_CLAMP ? Math.max(CLAMPED_MS, t.interval) : t.interval));
      }
      running = t.nesting;
      try {
        t.cb(...t.args);
      } catch (err) {
        onError(err);
      } finally {
        running = 0;
      }
    }
    arm();
  };

  const place = (t: Timer, id: number, at: number) => {
    t.slot = { at, seq: seq++, id };
    push(heap, t.slot);
    // Churn of set and clear leaves stale slots: rebuild before they outnumber the live ones.
    if (heap.length > 2 * live.size + 64) {
      heap = [];
      for (const timer of live.values()) if (timer.slot) push(heap, timer.slot);
    }
  };

  const schedule = (interval: boolean, cb: unknown, ms: unknown, args: unknown[]): number => {
    if (typeof cb !== "function") throw new TypeError("The callback must be a function");
    if (!sleep) throw new Error("timers are not available");
    if (live.size >= MAX_TIMERS) throw new RangeError(`More than ${MAX_TIMERS} timers pending`);
    const id = nextId++;
    const nesting = running + 1;
    const asked = Math.min(Math.max(interval ? 1 : 0, Number(ms) || 0), MAX_DELAY_MS);
    const delay = nesting > NESTING_CLAMP ? Math.max(CLAMPED_MS, asked) : asked;
    const timer: Timer = { cb: cb as Timer["cb"], args, interval: interval ? asked : undefined, nesting };
    live.set(id, timer);
    place(timer, id, Date.now() + delay);
    arm();
    return id;
  };
  const clear = (id: unknown) => {
    const n = Number(id);
    if (!live.delete(n)) return;
    // The host sleep stays armed (one per realm, harmless when it finds nothing due): dropping
    // it here would make a loop of set-and-clear a host call each time again.
    if (live.size === 0) heap = [];
  };
  return {
    setTimeout: (cb: unknown, ms?: unknown, ...args: unknown[]) => schedule(false, cb, ms, args),
    setInterval: (cb: unknown, ms?: unknown, ...args: unknown[]) => schedule(true, cb, ms, args),
    clearTimeout: clear,
    clearInterval: clear,
  };
}
