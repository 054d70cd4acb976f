// The hot-thread watch (src/sandbox/hot-threads.ts, docs/adr/0018): a thread that runs without
// sleeping is slowed (nice 19) and gets its priority back once it sleeps; a thread that runs
// short bursts between sleeps, as one serving short requests does, is never slowed.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { after, test } from "node:test";
import { Worker } from "node:worker_threads";
import { watchHotThreads } from "../../src/sandbox/hot-threads.ts";

const watch = watchHotThreads();
after(() => watch.stop());

function threads(): number[] {
  return readdirSync("/proc/self/task").map(Number);
}

/** A thread's nice value (undefined once it has ended). */
function niceOf(tid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/stat`, "latin1").split(") ")[1]!.split(" ")[16]);
  } catch {
    return undefined;
  }
}

/** A thread's time on a CPU, in ns. */
function ranNs(tid: number): number {
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, "latin1").split(" ")[0]);
  } catch {
    return 0;
  }
}

/** The thread of those started since `before` that ran most in the last 100 ms: the worker's. */
async function busiestNewThread(before: Set<number>): Promise<number> {
  const fresh = threads().filter((t) => !before.has(t));
  const start = new Map(fresh.map((t) => [t, ranNs(t)]));
  await new Promise((r) => setTimeout(r, 100));
  const [tid] = fresh.sort((a, b) => ranNs(b) - start.get(b)! - (ranNs(a) - start.get(a)!));
  assert.ok(tid !== undefined, "no new thread for the worker");
  return tid;
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return check();
}

/** A worker thread running `body` (a function's source taking the shared flag array). */
function thread(body: string): { worker: Worker; flags: Int32Array } {
  const flags = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(`const { workerData } = require("node:worker_threads"); (${body})(workerData);`, {
    eval: true,
    workerData: flags,
  });
  return { worker, flags };
}

test("the watch runs here (root or CAP_SYS_NICE, Linux)", () => {
  assert.equal(watch.enabled, true, `the hot-thread watch is ${watch.why}`);
});

test("a thread that spins is slowed within ~50 ms and gets its priority back once it sleeps", async () => {
  const before = new Set(threads());
  const { worker, flags } = thread(`(flags) => {
    flags[1] = 1;
    while (Atomics.load(flags, 0) === 0) {}
    Atomics.wait(flags, 0, 1, 2000);
  }`);
  try {
    await until(() => flags[1] === 1, 5000);
    const t0 = Date.now();
    const tid = await busiestNewThread(before);
    const slowed = await until(() => niceOf(tid) === 19, 1000);
    assert.ok(slowed, "a thread spinning without pause was not slowed within 1 s");
    assert.ok(Date.now() - t0 < 500, `slowed only after ${Date.now() - t0} ms`);
    // It stops spinning and sleeps: its priority comes back.
    Atomics.store(flags, 0, 1);
    const back = await until(() => niceOf(tid) === 0, 500);
    assert.ok(back, "the thread was still slowed 500 ms after it went to sleep");
  } finally {
    Atomics.store(flags, 0, 2);
    Atomics.notify(flags, 0);
    await worker.terminate();
  }
});

test("a thread that runs short bursts between sleeps (short requests) is never slowed", async () => {
  const before = new Set(threads());
  const { worker, flags } = thread(`(flags) => {
    flags[1] = 1;
    // 1 ms of work, then a 1 ms sleep, for ~1.5 s: busy half the time, asleep between bursts.
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      const t = performance.now();
      while (performance.now() - t < 1) {}
      Atomics.wait(flags, 0, 0, 1);
    }
    flags[1] = 2;
  }`);
  try {
    await until(() => flags[1] === 1, 5000);
    const tid = await busiestNewThread(before);
    let looks = 0;
    let everSlowed = false;
    while (flags[1] === 1) {
      looks++;
      if (niceOf(tid) === 19) everSlowed = true;
      await new Promise((r) => setTimeout(r, 3));
    }
    assert.ok(looks > 100, `only ${looks} looks at the thread`);
    assert.equal(everSlowed, false, "a thread that sleeps between 1 ms bursts was slowed");
  } finally {
    await worker.terminate();
  }
});
