/**
 * Long bursts of CPU yield to short ones (docs/adr/0018, "Hot threads yield"). isolated-vm runs
 * every agent's isolate on one pool of threads and cannot preempt one, so an agent that spins for
 * its whole CPU limit holds a core, and a short request of another agent waits behind it for the
 * kernel's time slice. This watch looks at the process's threads every few milliseconds and lowers
 * the kernel priority (nice 19) of any thread but the main one that has used 8 ms of CPU without
 * once going to sleep; it gives the priority back as soon as the thread has slept (its task ended
 * and it waited for the next). A thread running short requests sleeps between them and is never
 * slowed, so it goes ahead of a hot one whenever both want a core, and a hot thread still gets
 * every core nobody else wants. It is a policy on threads, not agents: whoever spins is slowed,
 * and V8's threads collecting a big heap are too.
 *
 * What it reads, per thread: /proc/self/task/TID/schedstat (time on a CPU) and, for threads that
 * ran, `voluntary_ctxt_switches` of /proc/self/task/TID/status (a sleep is a voluntary switch),
 * each from a file kept open (~4 µs a read).
 *
 * Giving a thread its priority back needs the right to lower a nice value (root, CAP_SYS_NICE, or
 * `ulimit -e` ≥ 20). Without it the watch would leave threads slowed for good, so it stays off and
 * says why.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

/** How often the threads are looked at. */
const LOOK_EVERY_MS = 3;
/** CPU a thread must use without once sleeping to be slowed. */
const HOT_RUN_NS = 8_000_000n;
/** The nice value of a hot thread: the kernel gives it ~1.5% of a core against a nice-0 one. */
const HOT_NICE = 19;
/** How often the list of threads is read again (threads come and go). */
const LIST_EVERY_MS = 100;

interface ThreadLook {
  /** Its /proc/self/task/TID/schedstat and status, kept open: reading again from the start is one call. */
  schedstat: number;
  status: number;
  ranNs: bigint;
  sleeps: number;
  /** Its time on a CPU when it was last seen to have slept. */
  ranAtSleep: bigint;
  slowed: boolean;
  baseNice: number;
}

export interface HotThreadStats {
  /** Threads slowed since the watch started. */
  slowed: number;
  /** Threads slowed now. */
  slowedNow: number;
}

let watch: HotThreadWatch | undefined;

/** Starts the process's watch (once; later calls return the same one). */
export function watchHotThreads(): HotThreadWatch {
  watch ??= new HotThreadWatch();
  return watch;
}

export class HotThreadWatch {
  readonly enabled: boolean;
  readonly why: string;
  #threads = new Map<number, ThreadLook>();
  #timer: NodeJS.Timeout | undefined;
  #lastList = 0;
  #slowed = 0;

  constructor() {
    const check = canRestorePriority();
    this.enabled = check.ok && process.env.VEIL_HOT_THREADS !== "off";
    this.why = check.ok ? (this.enabled ? "on" : "off (VEIL_HOT_THREADS=off)") : check.why;
    if (!this.enabled) return;
    this.#timer = setInterval(() => this.#look(), LOOK_EVERY_MS);
    this.#timer.unref();
  }

  stats(): HotThreadStats {
    let slowedNow = 0;
    for (const t of this.#threads.values()) if (t.slowed) slowedNow++;
    return { slowed: this.#slowed, slowedNow };
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const [tid, t] of this.#threads) if (t.slowed) restore(tid, t);
    for (const tid of [...this.#threads.keys()]) forget(this.#threads, tid);
    if (watch === this) watch = undefined;
  }

  #look(): void {
    const now = Date.now();
    if (now - this.#lastList >= LIST_EVERY_MS) {
      this.#lastList = now;
      this.#relist();
    }
    for (const [tid, t] of this.#threads) {
      const ran = readRunNs(t.schedstat);
      if (ran === undefined) {
        forget(this.#threads, tid);
        continue;
      }
      const ranSince = ran > t.ranNs;
      t.ranNs = ran;
      // An idle thread costs one read.
      if (!ranSince && ran === t.ranAtSleep && !t.slowed) continue;
      const sleeps = readSleeps(t.status);
      if (sleeps === undefined) {
        forget(this.#threads, tid);
        continue;
      }
      if (sleeps !== t.sleeps) {
        // It slept since the last look: its run starts again (what it ran before the sleep is
        // counted in, so a hot run needs HOT_RUN_NS after this look at most).
        t.sleeps = sleeps;
        t.ranAtSleep = ran;
        if (t.slowed) restore(tid, t);
        continue;
      }
      // Counted in CPU, not in looks: a thread that gets little of a core on a busy machine
      // and sleeps between short bursts must not look hot because the looks are far apart.
      if (!t.slowed && ran - t.ranAtSleep >= HOT_RUN_NS) {
        try {
          t.baseNice = getPriority(tid);
          setPriority(tid, HOT_NICE);
          t.slowed = true;
          this.#slowed++;
        } catch {
          // The thread ended between the look and now.
        }
      }
    }
  }

  #relist(): void {
    let tids: number[];
    try {
      tids = readdirSync("/proc/self/task").map(Number);
    } catch {
      return;
    }
    const seen = new Set(tids);
    for (const tid of this.#threads.keys()) if (!seen.has(tid)) forget(this.#threads, tid);
    for (const tid of tids) {
      // The main thread runs the event loop every request needs; it is never slowed.
      if (tid === process.pid || this.#threads.has(tid)) continue;
      let schedstat: number | undefined;
      let status: number | undefined;
      try {
        schedstat = openSync(`/proc/self/task/${tid}/schedstat`, "r");
        status = openSync(`/proc/self/task/${tid}/status`, "r");
        const ran = readRunNs(schedstat);
        const sleeps = readSleeps(status);
        if (ran === undefined || sleeps === undefined) throw new Error("ended");
        this.#threads.set(tid, {
          schedstat,
          status,
          ranNs: ran,
          sleeps,
          ranAtSleep: ran,
          slowed: false,
          baseNice: 0,
        });
      } catch {
        // The thread ended while it was being added.
        if (schedstat !== undefined) closeSync(schedstat);
        if (status !== undefined) closeSync(status);
      }
    }
  }
}

function restore(tid: number, t: ThreadLook): void {
  try {
    setPriority(tid, t.baseNice);
  } catch {
    // The thread ended.
  }
  t.slowed = false;
}

function forget(threads: Map<number, ThreadLook>, tid: number): void {
  const t = threads.get(tid);
  threads.delete(tid);
  if (t) {
    closeSync(t.schedstat);
    closeSync(t.status);
  }
}

const readBuffer = Buffer.alloc(2048);
/** The thread's time on a CPU in ns (schedstat's first field); undefined once it has ended. */
function readRunNs(fd: number): bigint | undefined {
  try {
    const n = readSync(fd, readBuffer, 0, 96, 0);
    const space = readBuffer.indexOf(32);
    if (n <= 0 || space <= 0 || space > n) return undefined;
    return BigInt(readBuffer.toString("latin1", 0, space));
  } catch {
    return undefined;
  }
}

const SLEEPS = Buffer.from("voluntary_ctxt_switches:");
/** How many times the thread has gone to sleep (`voluntary_ctxt_switches`); undefined once it has ended. */
function readSleeps(fd: number): number | undefined {
  try {
    const n = readSync(fd, readBuffer, 0, readBuffer.length, 0);
    const at = readBuffer.subarray(0, n).indexOf(SLEEPS);
    if (at < 0) return undefined;
    let value = 0;
    for (let i = at + SLEEPS.length; i < n; i++) {
      const c = readBuffer[i]!;
      if (c === 10) break;
      if (c >= 48 && c <= 57) value = value * 10 + (c - 48);
    }
    return value;
  } catch {
    return undefined;
  }
}

/** Whether this process may give a thread its priority back after slowing it. */
function canRestorePriority(): { ok: true } | { ok: false; why: string } {
  if (process.platform !== "linux") return { ok: false, why: "off (Linux only)" };
  try {
    readFileSync(`/proc/self/task/${process.pid}/schedstat`);
  } catch {
    return { ok: false, why: "off (the kernel gives no /proc/*/schedstat)" };
  }
  // Lowering a nice value needs CAP_SYS_NICE (root has it) or a soft RLIMIT_NICE of at least
  // 20 − the value (`ulimit -e`).
  const base = getPriority(process.pid);
  if (base >= HOT_NICE) return { ok: false, why: `off (the process already runs at nice ${base})` };
  const status = readFileSync("/proc/self/status", "latin1");
  const capEff = /^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1];
  const CAP_SYS_NICE = 23n;
  if (capEff !== undefined && (BigInt(`0x${capEff}`) >> CAP_SYS_NICE) & 1n) return { ok: true };
  const limits = readFileSync("/proc/self/limits", "latin1");
  const soft = /^Max nice priority\s+(\S+)/m.exec(limits)?.[1];
  if (soft === "unlimited" || (soft !== undefined && 20 - Number(soft) <= base)) return { ok: true };
  return {
    ok: false,
    why: "off (a slowed thread could not be given its priority back: run the worker as root, with CAP_SYS_NICE, or after `ulimit -e 20`)",
  };
}
