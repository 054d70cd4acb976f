// Issue 15 on a real network: a worker moves an agent its CPU limit stopped to its sandbox
// process (built entry, every thread at nice 10), where the agent keeps its sealed state and
// serves on; the sandbox process killed with -9, the agent is served from a new one.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

const AGENT = `export default { async fetch(request: Request, env: unknown, ctx: any): Promise<Response> {
  if (new URL(request.url).pathname === "/spin") for (;;) {}
  const n = ((await ctx.state.get("n")) ?? 0) + 1;
  await ctx.state.put("n", n);
  return new Response("count " + n);
} };
`;

function niceOfThreads(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  });
}

describe("a worker moves a runaway agent to its sandbox process", { timeout: 240_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-moved-out-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  const workerLog = () => readFileSync(join(dir, "logs", "worker-1.log"), "utf8");
  const sandboxPid = () => Number(/sandbox process: pid (\d+)/.exec(workerLog())?.[1]);
  const invoke = (path: string) => veil(["invoke", "runaway", "--path", path], { env });

  before(async () => {
    network = await startNetwork(dir, ["--workers", "1"]);
    mkdirSync(join(work, "runaway", "src"), { recursive: true });
    writeFileSync(join(work, "runaway", "src", "index.ts"), AGENT);
    const d = await veil(["deploy", join(work, "runaway"), "--name", "runaway", "--cpu-ms", "300"], { env });
    assert.equal(d.code, 0, d.stderr);
  });
  after(async () => {
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  test("stopped once in the worker, it answers from the sandbox process with its state; killed there, from a new one", async () => {
    const first = await invoke("/");
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /count 1/);
    const pid = sandboxPid();
    assert.ok(pid > 0, workerLog());
    const spin = await invoke("/spin");
    assert.notEqual(spin.code, 0);
    assert.match(spin.stderr, /LIMIT_CPU_EXCEEDED/);
    const second = await invoke("/");
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /count 2/);
    // The process is the worker's child, runs the built entry, and every thread is niced.
    assert.match(readFileSync(`/proc/${pid}/cmdline`, "utf8"), /sandbox-process\.mjs|process-main\.ts/);
    assert.deepEqual([...new Set(niceOfThreads(pid))], [10]);
    process.kill(pid, "SIGKILL");
    let third = await invoke("/");
    // The request that found the process gone may be refused as retryable; the next is served.
    if (third.code !== 0) {
      assert.match(third.stderr, /AGENT_CRASHED/);
      third = await invoke("/");
    }
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stdout, /count 3/);
  });
});
