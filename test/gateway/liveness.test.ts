import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { type Attempt, WorkerLinks } from "../../src/gateway/worker-link.ts";
import { canNamespace, firstConnect, type Hosts, makeHosts } from "../helpers/hosts.ts";
import { TEST_GATEWAY_KEY } from "../helpers/link-keys.ts";

// How the gateway tells a worker that is gone from one that is busy (src/gateway/README.md):
// a worker process holding its event loop still has a kernel that acknowledges what the link
// writes, and is waited for; a host cut off acknowledges nothing, and its link is given up
// within a second. The worker runs in a process of its own (test/helpers/busy-worker.ts).

const script = join(import.meta.dirname, "..", "helpers", "busy-worker.ts");
const address = "0x0000000000000000000000000000000000000001";

/** Starts the busy worker (through `start`) and resolves with its URL once it listens. */
function startWorker(
  host: string,
  start: (command: string[]) => ChildProcess,
  port = 0,
): Promise<{ child: ChildProcess; url: string }> {
  const child = start([process.execPath, "--import", "tsx", script, host, String(port)]);
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      const port = /PORT (\d+)/.exec(out)?.[1];
      if (port) resolve({ child, url: `http://${host}:${port}` });
    });
    child.once("exit", (code) => reject(new Error(`the worker exited (${code})`)));
  });
}

type Outcome = { at: number; done: number; status?: number; kind?: Attempt["kind"]; code?: string };

async function call(links: WorkerLinks, url: string, path: string): Promise<Outcome> {
  const at = Date.now();
  try {
    const attempt = await links.send(
      { address, url },
      { method: "GET", path, rawHeaders: [], body: undefined },
    );
    return {
      at,
      done: Date.now(),
      kind: attempt.kind,
      ...(attempt.kind === "done" ? { status: attempt.status } : {}),
    };
  } catch (err) {
    return { at, done: Date.now(), code: (err as { code?: string }).code ?? String(err) };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a worker's link: busy is not gone", { timeout: 60_000 }, () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) c.kill("SIGKILL");
  });

  test("a worker whose event loop is held for 300 ms, 800 ms or 1.5 s is waited for: every request on its link is answered", async () => {
    const worker = await startWorker("127.0.0.1", (command) => {
      const child = spawn(command[0]!, command.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
      children.push(child);
      return child;
    });
    const links = new WorkerLinks(30_000, undefined, TEST_GATEWAY_KEY);
    try {
      assert.equal((await call(links, worker.url, "/hello")).status, 200);
      for (const ms of [300, 800, 1_500]) {
        const stalled = call(links, worker.url, `/stall/${ms}`);
        await sleep(20);
        const others = await Promise.all(Array.from({ length: 10 }, () => call(links, worker.url, "/hello")));
        const all = [await stalled, ...others];
        assert.deepEqual(
          all.filter((o) => o.status !== 200),
          [],
          `held for ${ms} ms: a request on the link failed`,
        );
        console.error(
          `held ${ms} ms: answered after ${Math.max(...all.map((o) => o.done - o.at))} ms at most, link kept`,
        );
      }
    } finally {
      links.close();
    }
  });

  test("a worker stopped outright (SIGSTOP; its kernel still acknowledges) is given up after 2 s of silence", async () => {
    const worker = await startWorker("127.0.0.1", (command) => {
      const child = spawn(command[0]!, command.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
      children.push(child);
      return child;
    });
    const links = new WorkerLinks(30_000, undefined, TEST_GATEWAY_KEY);
    try {
      assert.equal((await call(links, worker.url, "/hello")).status, 200);
      worker.child.kill("SIGSTOP");
      const stopped = await call(links, worker.url, "/hello");
      worker.child.kill("SIGCONT");
      assert.equal(stopped.code, "WORKER_FAILED");
      const waited = stopped.done - stopped.at;
      assert.ok(waited >= 1_900 && waited < 3_000, `given up after ${waited} ms`);
      console.error(`stopped: given up after ${waited} ms`);
    } finally {
      links.close();
    }
  });
});

describe("a worker's link: back again", { timeout: 60_000 }, () => {
  test("a worker that could not be reached is dialled again in the background, and the gateway told, once it is back", async () => {
    const first = await startWorker("127.0.0.1", (command) => spawn(command[0]!, command.slice(1)));
    const port = Number(new URL(first.url).port);
    const linked: { address: string; at: number }[] = [];
    const links = new WorkerLinks(30_000, undefined, TEST_GATEWAY_KEY, {
      onLinked: (w) => linked.push({ address: w.address, at: Date.now() }),
    });
    let again: ChildProcess | undefined;
    try {
      assert.equal((await call(links, first.url, "/hello")).status, 200);
      // Its process goes (kill -9): the link drops, and the next request finds nobody there.
      const gone = new Promise((r) => first.child.once("exit", r));
      first.child.kill("SIGKILL");
      await gone;
      await sleep(100);
      assert.equal((await call(links, first.url, "/hello")).kind, "unreachable");
      // Back on the same port, with no request sent meanwhile.
      again = (await startWorker("127.0.0.1", (command) => spawn(command[0]!, command.slice(1)), port)).child;
      const backAt = Date.now();
      while (linked.length === 0 && Date.now() - backAt < 5_000) await sleep(20);
      console.error(
        `linked again ${linked[0] ? linked[0].at - backAt : "never"} ms after the worker listened`,
      );
      assert.equal(linked.length, 1, "the gateway was not told the worker is linked again");
      assert.equal(linked[0]!.address, address);
      assert.ok(
        linked[0]!.at - backAt < 1_000,
        `linked again ${linked[0]!.at - backAt} ms after it was back`,
      );
      // The first request after it goes over the link already made.
      const o = await call(links, first.url, "/hello");
      assert.equal(o.status, 200);
      assert.ok(o.done - o.at < 500, `the first request took ${o.done - o.at} ms`);
    } finally {
      links.close();
      again?.kill("SIGKILL");
    }
  });
});

describe("a worker's link: a host cut off", {
  skip: canNamespace ? false : "needs root and iproute2 (ip netns)",
  timeout: 60_000,
}, () => {
  let hosts: Hosts | undefined;
  after(() => hosts?.teardown());

  test("a worker whose host is cut off under load is given up within a second; its link is made again within a second of its host coming back", async () => {
    hosts = makeHosts({ count: 2 });
    const h = hosts;
    const worker = await startWorker(h.ip(2), (command) => h.spawnOn(2, command, { cwd: process.cwd() }));
    const linked: number[] = [];
    const links = new WorkerLinks(30_000, undefined, TEST_GATEWAY_KEY, {
      onLinked: () => linked.push(Date.now()),
    });
    try {
      assert.equal((await call(links, worker.url, "/hello")).status, 200);
      const outcomes: Outcome[] = [];
      let stop = false;
      const load = async () => {
        while (!stop) {
          const o = await call(links, worker.url, "/hello");
          outcomes.push(o);
          if (o.status !== 200) await sleep(10);
        }
      };
      const loads = Array.from({ length: 4 }, load);
      await sleep(500);
      const cutAt = Date.now();
      h.sh(["link", "set", h.hostSide(2), "down"]);
      await sleep(2_500);
      stop = true;
      await Promise.all(loads);
      const failed = outcomes.filter((o) => o.done > cutAt && o.status !== 200);
      const found = Math.min(...failed.map((o) => o.done)) - cutAt;
      const slowest = Math.max(...outcomes.filter((o) => o.done > cutAt).map((o) => o.done - o.at));
      console.error(
        `cut: link given up ${found} ms after the cut; slowest request ${slowest} ms; then ${failed.filter((o) => o.kind === "unreachable").length} refused at once as unreachable`,
      );
      assert.ok(failed.length > 0, "nothing failed on a cut link");
      for (const o of failed)
        assert.ok(o.code === "WORKER_FAILED" || o.kind === "unreachable", JSON.stringify(o));
      assert.ok(found < 1_000, `given up ${found} ms after the cut`);
      assert.ok(slowest < 1_000, `a request waited ${slowest} ms`);

      const upAt = Date.now();
      h.sh(["link", "set", h.hostSide(2), "up"]);
      // The veth itself passes nothing for a while after it is set up (up to ~0.9 s seen): a
      // bare connection every 20 ms tells when it does, and the link is held to a second after.
      const through = firstConnect(worker.url);
      // Dialled again in the background: the gateway is told without a request to prompt it.
      while (linked.length === 0 && Date.now() - upAt < 15_000) await sleep(20);
      const floor = (await through) ?? Number.NaN;
      console.error(
        `back: linked again ${linked[0]! - upAt} ms after the link came up (a bare connection got through after ${floor} ms)`,
      );
      assert.ok(
        linked[0]! - upAt < floor + 1_000,
        `linked again ${linked[0]! - upAt} ms after the link came up, ${floor} ms after a bare connection got through`,
      );
      for (;;) {
        const o = await call(links, worker.url, "/hello");
        if (o.status === 200) break;
        assert.ok(
          o.done - o.at < 100,
          `a request waited ${o.done - o.at} ms on a worker being dialled again`,
        );
        assert.ok(Date.now() - upAt < 15_000, "the link was not dialled again");
        await sleep(100);
      }
      console.error(`back: answering again ${Date.now() - upAt} ms after the link came up`);
    } finally {
      links.close();
    }
  });
});
