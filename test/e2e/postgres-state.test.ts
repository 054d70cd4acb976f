import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { Hex } from "viem";
import {
  readNetwork,
  startNetwork,
  stopNetwork,
  veil,
  veilBin,
  writeTransactionalCounterAgent,
} from "../helpers/cli.ts";
import { testDatabase } from "../helpers/postgres.ts";

// A network whose workers keep agents' state in PostgreSQL (`veil up --state postgres://…`):
// the two workers serving an agent see one ctx.state, concurrent increments through both lose
// nothing, and the database's password shows neither in the network file nor in `ps`.
describe("veil up --state postgres://", { timeout: 420_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-pgnet-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  let url = "";

  const joiners: ChildProcess[] = [];
  /** The environment of a process on another host: no network file of ours, only the state's URL. */
  const joinerEnv = (stateUrl: string) => {
    const { VEIL_NETWORK: _ours, ...rest } = process.env;
    return { ...rest, VEIL_STATE: stateUrl };
  };
  after(async () => {
    for (const j of joiners) j.kill("SIGKILL");
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  const ok = async (args: string[]) => {
    const r = await veil(args, { env });
    assert.equal(r.code, 0, `veil ${args.join(" ")}\n${r.stderr}`);
    return r.stdout;
  };

  test("the workers share one state in PostgreSQL; the password stays out of the network file and ps", async () => {
    // Trust authentication takes any password: this one is only there to be looked for.
    const db = new URL(await testDatabase());
    db.username = "postgres";
    db.password = "hunter2-not-shown";
    url = db.toString();
    network = await startNetwork(dir, ["--workers", "2", "--gateway", "process", "--state", url]);
    assert.match(network.output(), /state\s+PostgreSQL \(schema veil_[0-9a-f]+\)/);
    const file = readFileSync(env.VEIL_NETWORK, "utf8");
    assert.doesNotMatch(file, /hunter2/);
    assert.equal(JSON.parse(file).state.kind, "postgres");
    assert.equal(statSync(join(dir, "state-url")).mode & 0o077, 0, "state-url is readable by its owner only");
    for (const w of readNetwork(dir).workers) {
      const cmdline = readFileSync(`/proc/${w.pid}/cmdline`, "utf8");
      assert.doesNotMatch(cmdline, /hunter2/, "a worker's command line shows the password");
    }

    const counter = join(work, "counter");
    writeTransactionalCounterAgent(counter);
    await ok(["deploy", counter, "--name", "counter"]);
    const workers = readNetwork(dir).workers;
    // Straight to each worker in turn, so that both serve it at once.
    const call = async (i: number, path = "/"): Promise<number> => {
      for (let attempt = 0; attempt < 200; attempt++) {
        const res = await fetch(`${workers[i % 2]!.url}/v1/agents/counter/invoke${path}`, { method: "POST" });
        if (res.status === 200) return ((await res.json()) as { n: number }).n;
        // Until the worker has loaded the agent (and has its keys).
        if (res.status !== 503 && res.status !== 404) throw new Error(`${res.status} ${await res.text()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error("the counter was never served");
    };
    assert.equal(await call(0, "/count"), 0);
    assert.equal(await call(1, "/count"), 0);
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => call(i)));
    assert.deepEqual(
      answers.sort((a, b) => a - b),
      Array.from({ length: 40 }, (_, i) => i + 1),
      "every increment answered with its own count",
    );
    assert.equal(await call(0, "/count"), 40);
    assert.equal(await call(1, "/count"), 40);
  });

  test("bundles: uploaded by deploy to the gateway, fetched by hash; the gateway keeps no bytes that are no agent's version", async () => {
    const gateway = readNetwork(dir).gateway.url;
    const info = JSON.parse(await ok(["inspect", "counter", "--json"])) as { codeHash: Hex; id: string };
    const code = await fetch(`${gateway}/v1/bundles/${info.codeHash}`);
    assert.equal(code.status, 200);
    const bytes = new Uint8Array(await code.arrayBuffer());
    assert.equal(`0x${createHash("sha256").update(bytes).digest("hex")}`, info.codeHash);
    // Each worker holds its own copy, and serves it to peers.
    for (const w of readNetwork(dir).workers) {
      const res = await fetch(`${w.url}/v1/bundles/${info.codeHash}`);
      assert.equal(res.status, 200);
      assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
    }
    // A stranger storing its own bytes on the network: refused, nothing kept.
    const junk = new TextEncoder().encode("not anyone's agent");
    const junkHash = `0x${createHash("sha256").update(junk).digest("hex")}`;
    const put = await fetch(`${gateway}/v1/agents/counter/bundles/${junkHash}`, {
      method: "PUT",
      body: junk,
    });
    assert.equal(put.status, 409);
    assert.equal(((await put.json()) as { error: { code: string } }).error.code, "BUNDLE_NOT_REGISTERED");
    assert.equal((await fetch(`${gateway}/v1/bundles/${junkHash}`)).status, 404);
    // Other bytes under a registered version's hash: refused.
    const swapped = await fetch(`${gateway}/v1/agents/${info.id}/bundles/${info.codeHash}`, {
      method: "PUT",
      body: junk,
    });
    assert.equal(swapped.status, 400);
    assert.equal(((await swapped.json()) as { error: { code: string } }).error.code, "BUNDLE_HASH_MISMATCH");
  });

  test("a worker joins from its own directory with only the gateway's URL, and serves the agent from the shared state", async () => {
    const gateway = readNetwork(dir).gateway.url;
    const joined = await fetch(`${gateway}/v1/network`);
    assert.equal(joined.status, 200);
    const advertised = await joined.text();
    assert.doesNotMatch(advertised, /privateKey|hunter2/, "the gateway hands out no keys and no password");
    const operator = (
      JSON.parse(readFileSync(env.VEIL_NETWORK, "utf8")) as {
        devAccounts: { accounts: { role: string; privateKey: string }[] };
      }
    ).devAccounts.accounts.find((a) => a.role === "operator-5")!;
    const data = join(work, "joined-worker");
    const child = spawn(
      process.execPath,
      [
        veilBin,
        "worker",
        "--join",
        gateway,
        "--data",
        data,
        "--operator-key",
        operator.privateKey,
        "--port",
        "0",
      ],
      // No network file of its own to find, no shared directory: only the gateway's URL and the state's.
      {
        cwd: work,
        env: joinerEnv(url),
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    joiners.push(child);
    let log = "";
    child.stderr.on("data", (c: Buffer) => {
      log += c.toString();
    });
    const ready = await new Promise<{ url: string }>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
        const line = out.split("\n").find((l) => l.startsWith("VEIL_READY "));
        if (line) resolve(JSON.parse(line.slice("VEIL_READY ".length)) as { url: string });
      });
      child.once("exit", (code) => reject(new Error(`the joining worker exited (${code}):\n${log}`)));
    });
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${ready.url}/v1/agents/counter/invoke/`, { method: "POST" });
      if (res.status === 200) {
        assert.deepEqual(await res.json(), { n: 41 }, "the joined worker continues the shared count");
        break;
      }
      assert.ok(
        attempt < 240,
        `the joined worker never served the agent: ${res.status} ${await res.text()}\n${log}`,
      );
      await new Promise((r) => setTimeout(r, 250));
    }
    // It got the bundle by hash, into its own directory.
    const info = JSON.parse(await ok(["inspect", "counter", "--json"])) as { codeHash: string };
    assert.equal((await fetch(`${ready.url}/v1/bundles/${info.codeHash}`)).status, 200);
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  });

  test("two gateways joined from their own directories serve the network and share each caller's budget", async () => {
    const gateway = readNetwork(dir).gateway.url;
    /** `veil gateway --join` from a directory of its own, 1 request/s and a burst of 12 per caller. */
    const startGateway = async (name: string) => {
      const child = spawn(
        process.execPath,
        [
          veilBin,
          "gateway",
          "--join",
          gateway,
          "--data",
          join(work, name),
          "--port",
          "0",
          "--rate-limit",
          "1",
          "--rate-burst",
          "12",
          // The network's gateway link key, copied to the gateway's host: workers take its links.
          "--link-key",
          join(dir, "gateway-link.key"),
        ],
        { cwd: work, env: joinerEnv(url), stdio: ["ignore", "pipe", "pipe"] },
      );
      joiners.push(child);
      let log = "";
      return new Promise<string>((resolve, reject) => {
        child.stderr.on("data", (c: Buffer) => {
          log += c.toString();
          const m = /gateway listening on (http:\/\/[^\s;]+);.*shared with the network's other gateways/.exec(
            log,
          );
          if (m) resolve(m[1]!);
        });
        child.once("exit", (code) => reject(new Error(`the joined gateway exited (${code}):\n${log}`)));
      });
    };
    const [g2, g3] = await Promise.all([startGateway("gateway-2"), startGateway("gateway-3")]);
    // Each serves the network: the counter, through either.
    const first = await fetch(`${g2}/agents/counter/count`, { method: "POST" });
    assert.equal(first.status, 200, await first.clone().text());
    assert.deepEqual(await first.json(), { n: 41 });
    // One caller alternating between them: one budget of 12 (and 1 a second), not two.
    const started = Date.now();
    let admitted = 1;
    let limited = 0;
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${i % 2 ? g2 : g3}/v1/agents/counter`);
      await res.arrayBuffer();
      if (res.status === 200) admitted++;
      else {
        assert.equal(res.status, 429);
        assert.ok(res.headers.get("retry-after"));
        limited++;
      }
    }
    const seconds = Math.ceil((Date.now() - started) / 1000);
    assert.ok(admitted <= 12 + seconds, `${admitted} requests admitted in ${seconds} s across two gateways`);
    assert.ok(limited >= 40 - (12 + seconds));
  });

  test("resumed without --state, the network finds its database again; --state naming SQLite is refused", async () => {
    assert.ok(network);
    network.child.kill("SIGINT");
    await new Promise((r) => network!.child.once("exit", r));
    const refused = await veil([
      "up",
      "--dir",
      dir,
      "--base-port",
      "0",
      "--state",
      join(work, "other.sqlite"),
    ]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /NETWORK_STATE_CHANGED/);
    network = await startNetwork(dir, []);
    assert.match(network.output(), /resuming network/);
    const worker = readNetwork(dir).workers[0]!;
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${worker.url}/v1/agents/counter/invoke/count`, { method: "POST" });
      if (res.status === 200) {
        assert.deepEqual(await res.json(), { n: 41 });
        break;
      }
      assert.ok(attempt < 200, `never served after resume: ${res.status}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  });
});
