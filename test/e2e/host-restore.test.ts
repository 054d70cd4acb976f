import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { readNetwork, startNetwork, stopNetwork, veil, writeCounterAgent } from "../helpers/cli.ts";

// Issue 20, from the host's side: the worker's host puts back an older copy of everything it
// holds (the worker's data directory, its sealed anchor file included, and the state store), so
// the store's heads and the worker's own anchor agree with each other. Only the counters the
// gatekeeper holds for the worker tell (docs/adr/0020): the agent's state is refused, never
// served from the past.
describe("a worker host restored to an older copy is caught by the gatekeepers' anchors", {
  timeout: 300_000,
}, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-host-restore-"));
  const dir = join(work, ".veil");
  const backup = join(work, "backup");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  after(async () => {
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  const increment = async (): Promise<{ status: number; text: string }> => {
    const res = await fetch(`${readNetwork(dir).gateway.url}/agents/counter/`, { method: "POST" });
    return { status: res.status, text: await res.text() };
  };
  // A Unix socket is not data: the worker makes its link socket again at start.
  const notSocket = (source: string) => !statSync(source).isSocket();
  /** What the host holds for its worker: its data directory and the state store. */
  const hostFiles = () => ["workers", ...readdirSync(dir).filter((f) => f.startsWith("state.sqlite"))];

  test("write 3, copy the host, write 3 more, put the copy back: the agent's state is refused", async () => {
    network = await startNetwork(dir, ["--workers", "1"]);
    const counter = join(work, "counter");
    writeCounterAgent(counter);
    const deployed = await veil(["deploy", counter, "--name", "counter"], { env });
    assert.equal(deployed.code, 0, deployed.stderr);
    for (let i = 1; i <= 3; i++) assert.equal((await increment()).text, JSON.stringify({ n: i }));
    await new Promise((r) => setTimeout(r, 2_500)); // anchored at the gatekeeper (every second)
    await stopNetwork(network.child);

    mkdirSync(backup);
    for (const f of hostFiles())
      cpSync(join(dir, f), join(backup, f), { recursive: true, filter: notSocket });

    network = await startNetwork(dir, ["--workers", "1"]);
    for (let i = 4; i <= 6; i++) assert.equal((await increment()).text, JSON.stringify({ n: i }));
    await new Promise((r) => setTimeout(r, 2_500));
    await stopNetwork(network.child);

    // The host puts its older copy back, anchor file and all.
    for (const f of hostFiles()) rmSync(join(dir, f), { recursive: true, force: true });
    for (const f of readdirSync(backup)) cpSync(join(backup, f), join(dir, f), { recursive: true });

    network = await startNetwork(dir, ["--workers", "1"]);
    const after = await increment();
    assert.notEqual(after.text, JSON.stringify({ n: 4 }), "the state was served from the past");
    assert.notEqual(after.status, 200);
    assert.match(after.text, /state store went back: its head is at write 3, this worker saw write 6/);
    // The agent did not catch the refusal; the caller still gets the store's own code.
    assert.equal(
      (JSON.parse(after.text) as { error: { code: string } }).error.code,
      "STATE_ROLLBACK_DETECTED",
    );
  });
});
