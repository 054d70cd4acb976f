import type ivm from "isolated-vm";
import { isGone } from "./isolate-threads.ts";
import { SlotList } from "./slot-list.ts";

/**
 * The CPU an agent's isolate may spend while none of its requests is in flight: timers,
 * `ctx.waitUntil` work and promises still running after the response (docs/adr/0018). Before
 * this, the limit watch stopped at the response, so `setTimeout(() => { for (;;) {} }, 50)` ran
 * on one core for ever, unwatched, and slowed every other agent on the worker.
 *
 * Each agent has a bucket of background CPU: full, it holds the agent's CPU limit; it refills
 * at that much a minute. CPU the isolate spends with nothing in flight comes out of it; when it
 * is empty the isolate is thrown away (the owner's log says why). CPU spent while a request is
 * in flight is that request's, under its own limit, as before. The bucket belongs to the agent,
 * not to the isolate: a new isolate after a reset starts with what is left, so an agent cannot
 * buy a full bucket by getting itself reset.
 */
export class BackgroundBudget {
  readonly #capacityMs: number;
  readonly #refillPerMs: number;
  readonly #exhausted: (isolate: ivm.Isolate, usedMs: number) => void;
  #tokensMs: number;
  #refilledAt = Date.now();
  #inFlight = 0;
  #isolate: ivm.Isolate | undefined;
  #lastCpu = 0n;
  /** CPU taken from the bucket since it was last full, for the owner's log. */
  #usedMs = 0;
  #idleSweeps = 0;
  /** Where it is in `watching`, while it is there. */
  slot: number | undefined;

  constructor(options: { capacityMs: number; onExhausted: (isolate: ivm.Isolate, usedMs: number) => void }) {
    this.#capacityMs = options.capacityMs;
    this.#tokensMs = options.capacityMs;
    // Refilled at a full bucket a minute.
    this.#refillPerMs = options.capacityMs / 60_000;
    this.#exhausted = options.onExhausted;
  }

  /** A request starts in `isolate`: what ran there with nothing in flight until now is charged. */
  begin(isolate: ivm.Isolate): void {
    if (this.#inFlight === 0) {
      this.#chargeSince(isolate);
      unwatch(this);
    }
    this.#inFlight++;
  }

  /** A request ended: from now, until the next one begins, the isolate's CPU is background. */
  end(isolate: ivm.Isolate): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
    if (this.#inFlight === 0) this.#start(isolate);
  }

  /**
   * The host is about to hand the isolate something to run (a timer, a host call's answer).
   * With nothing in flight, the host's own work for it comes out of the bucket too, so a loop
   * of tiny timers cannot keep the host busy while its isolate seems idle.
   */
  wake(isolate: ivm.Isolate | undefined, hostCostMs = HOST_WAKE_COST_MS): void {
    if (!isolate || this.#inFlight > 0) return;
    if (this.slot === undefined) this.#start(isolate);
    if (isolate === this.#isolate && !this.#take(hostCostMs)) unwatch(this);
  }

  #start(isolate: ivm.Isolate): void {
    if (isGone(isolate)) return;
    this.#isolate = isolate;
    this.#lastCpu = isolate.cpuTime;
    this.#idleSweeps = 0;
    watch(this);
  }

  #refill(): void {
    const now = Date.now();
    this.#tokensMs = Math.min(
      this.#capacityMs,
      this.#tokensMs + (now - this.#refilledAt) * this.#refillPerMs,
    );
    if (this.#tokensMs >= this.#capacityMs) this.#usedMs = 0;
    this.#refilledAt = now;
  }

  /** Takes what `isolate` ran since the last look out of the bucket; false once it is empty. */
  #chargeSince(isolate: ivm.Isolate): boolean {
    if (isolate !== this.#isolate || isGone(isolate)) return true;
    const cpu = isolate.cpuTime;
    const ranMs = Number(cpu - this.#lastCpu) / 1e6;
    this.#lastCpu = cpu;
    this.#idleSweeps = ranMs > 0 ? 0 : this.#idleSweeps + 1;
    if (ranMs <= 0) return true;
    return this.#take(ranMs);
  }

  #take(ms: number): boolean {
    const isolate = this.#isolate;
    if (!isolate || isGone(isolate)) return true;
    this.#refill();
    this.#tokensMs -= ms;
    this.#usedMs += ms;
    if (this.#tokensMs > 0) return true;
    this.#tokensMs = 0;
    this.#exhausted(isolate, this.#usedMs);
    return false;
  }

  /** One look from the sweep; false when this isolate need not be watched any more. */
  sweep(): boolean {
    const isolate = this.#isolate;
    if (!isolate || isGone(isolate) || this.#inFlight > 0) return false;
    if (!this.#chargeSince(isolate)) return false;
    // Idle for three looks in a row: nothing runs until the host hands it something (wake).
    return this.#idleSweeps < 3;
  }
}

/** What the host's side of one wake costs (a timer or an answer handed in), in ms of budget. */
const HOST_WAKE_COST_MS = 0.1;

const watching = new SlotList<BackgroundBudget>();
let sweeper: NodeJS.Timeout | undefined;
/** How often isolates with nothing in flight are looked at. */
const SWEEP_MS = 10;

function watch(b: BackgroundBudget): void {
  watching.add(b);
  if (!sweeper) {
    sweeper = setInterval(sweepAll, SWEEP_MS);
    // A worker with only idle agents must still be able to exit.
    sweeper.unref();
  }
}

function unwatch(b: BackgroundBudget): void {
  watching.remove(b);
}

function sweepAll(): void {
  for (let i = watching.length - 1; i >= 0; i--) {
    const b = watching.items[i]!;
    if (!b.sweep()) unwatch(b);
  }
  if (watching.length === 0) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}
