import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { repoRoot, startNetwork, stopNetwork, veil, veilBin } from "../helpers/cli.ts";

type NetworkJson = {
  gatekeepers: { address: string; pid: number }[];
  devAccounts: { accounts: { role: string; privateKey: string }[] };
};

// Several gatekeepers: the second joins through the first, and then serves alone.
describe("a network with two gatekeepers", { timeout: 360_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-gk-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>>;
  let extra: ChildProcess | undefined;
  let frozen: number | undefined;

  before(async () => {
    network = await startNetwork(dir, ["--gatekeepers", "2", "--workers", "1"]);
  });
  after(async () => {
    extra?.kill("SIGKILL");
    if (frozen) process.kill(frozen, "SIGCONT");
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  test("a gatekeeper on another host starts from the gateway's URL alone and waits for governance to add it", async () => {
    const { readFileSync } = await import("node:fs");
    const gateway = (
      JSON.parse(readFileSync(join(dir, "network.json"), "utf8")) as { gateway: { url: string } }
    ).gateway.url;
    const data = join(work, "gk-joined");
    const { VEIL_NETWORK: _ours, ...rest } = process.env;
    const child = spawn(
      process.execPath,
      [veilBin, "gatekeeper", "--join", gateway, "--data", data, "--port", "0"],
      {
        cwd: work,
        env: rest,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let log = "";
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no word from the joined gatekeeper:\n${log}`)),
          60_000,
        );
        child.stderr.on("data", (c: Buffer) => {
          log += c.toString();
          if (/waiting for 0x[0-9a-fA-F]{40} to be added to the GatekeeperRegistry/.test(log)) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once("exit", (code) => reject(new Error(`the joined gatekeeper exited (${code}):\n${log}`)));
      });
      // It runs on the network file the gateway handed out: no development keys in it.
      const file = readFileSync(join(data, "network.json"), "utf8");
      assert.doesNotMatch(file, /privateKey/);
      assert.equal((JSON.parse(file) as { gateway: { url: string } }).gateway.url, gateway);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("with the first gatekeeper gone, a new worker is provisioned by the one that joined", async () => {
    const { readFileSync } = await import("node:fs");
    const n = JSON.parse(readFileSync(join(dir, "network.json"), "utf8")) as NetworkJson;
    assert.equal(n.gatekeepers.length, 2);
    const [first, second] = n.gatekeepers as [NetworkJson["gatekeepers"][0], NetworkJson["gatekeepers"][0]];
    assert.match(
      readFileSync(join(dir, "logs", "gatekeeper-2.log"), "utf8"),
      /received the master key of epoch 1/,
    );
    // Frozen rather than killed: veil up's supervisor would start a killed one again at once.
    // A frozen gatekeeper takes connections and never answers, the worse case for a worker.
    process.kill(first.pid, "SIGSTOP");
    frozen = first.pid;
    const operator = n.devAccounts.accounts.find((a) => a.role === "operator-6")!.privateKey;
    extra = spawn(
      process.execPath,
      [
        veilBin,
        "worker",
        "--network",
        env.VEIL_NETWORK,
        "--data",
        join(work, "w-extra"),
        "--port",
        "0",
        "--operator-key",
        operator,
      ],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
    );
    let log = "";
    extra.stderr?.on("data", (c: Buffer) => {
      log += c.toString();
    });
    extra.stdout?.on("data", (c: Buffer) => {
      log += c.toString();
    });
    const deadline = Date.now() + 150_000; // each call to the frozen one waits out its 15 s timeout
    while (!/provisioned by gatekeeper/.test(log) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    assert.match(log, new RegExp(`provisioned by gatekeeper ${second.address}`, "i"));
    // And the network still deploys and serves.
    assert.equal((await veil(["init", join(work, "hello")], { env })).code, 0);
    const deploy = await veil(["deploy", join(work, "hello"), "--name", "hello"], { env });
    assert.equal(deploy.code, 0, deploy.stderr);
    const r = await veil(["invoke", "hello", "--path", "/greet", "--data", '{"name":"Gk"}'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { message: "Hello, Gk!" });
  });
});
