import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The economy through the CLI, against a live `veil up` network (one worker, operator-1).
describe("the economy on a dev network, through the CLI", { timeout: 400_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-econ-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  const run = (args: string[]) => veil(args, { env });
  let network: Awaited<ReturnType<typeof startNetwork>>;

  before(async () => {
    network = await startNetwork(dir, ["--workers", "1"]);
  });
  after(async () => {
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  test("veil up's network.json lists the economy and its dev governance timings", () => {
    const n = JSON.parse(readFileSync(join(dir, "network.json"), "utf8"));
    for (const key of [
      "token",
      "stakePool",
      "rewards",
      "feeEscrow",
      "slashing",
      "vaultFactory",
      "governor",
      "timelock",
    ]) {
      assert.match(n.chain.economy[key], /^0x[0-9a-fA-F]{40}$/, key);
    }
    assert.ok(n.chain.contracts.agentRegistry, "existing contracts stay");
    assert.equal(n.economy.governance.votingPeriodSeconds, 20);
  });

  test("pool: create, contribute, info; over 100% commission and over-withdrawal are refused", async () => {
    const tooHigh = await run(["pool", "create", "--commission", "150", "--from", "operator-1"]);
    assert.equal(tooHigh.code, 1);
    assert.match(tooHigh.stderr, /COMMISSION_TOO_HIGH/);
    assert.match(tooHigh.stderr, /hint:/);

    const created = await run(["pool", "create", "--commission", "10", "--from", "operator-1"]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /tx\s+0x[0-9a-f]{64}/);
    assert.match(created.stdout, /pool\s+#1 created/);

    const contributed = await run(["pool", "contribute", "1", "5000.5", "--from", "user"]);
    assert.equal(contributed.code, 0, contributed.stderr);
    assert.match(contributed.stdout, /event\s+Contributed\(poolId=1 /);
    assert.match(contributed.stdout, /5000\.5 shares worth 5000\.5 VEIL/);

    const over = await run(["pool", "withdraw", "1", "6000", "--from", "user"]);
    assert.equal(over.code, 1);
    assert.match(over.stderr, /INSUFFICIENT_SHARES/);

    const info = await run(["pool", "info", "1", "--from", "user"]);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /total stake\s+5000\.5 VEIL \(5000\.5 free/);

    // Scripts read the same as one JSON object, amounts in base units.
    const json = await run(["pool", "info", "1", "--from", "user", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { pool: string; totalStake: string; you: { shares: string } };
    assert.equal(parsed.pool, "1");
    assert.equal(parsed.totalStake, "5000500000000000000000");
    assert.equal(parsed.you.shares, "5000500000000000000000");
    const refused = await run(["pool", "withdraw", "1", "6000", "--from", "user", "--json"]);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, "");
    assert.equal(
      (JSON.parse(refused.stderr) as { error: { code: string } }).error.code,
      "INSUFFICIENT_SHARES",
    );
  });

  test("worker: only the operator binds it; started, its heartbeats land and rewards accrue", async () => {
    const stranger = await run(["worker", "add-to-pool", "1", "--from", "user", "--worker", workerAddress()]);
    assert.equal(stranger.code, 1);
    assert.match(stranger.stderr, /NOT_POOL_OWNER|NOT_WORKER_OPERATOR/);

    const bound = await run(["worker", "add-to-pool", "1", "--from", "operator-1"]);
    assert.equal(bound.code, 0, bound.stderr);
    assert.match(bound.stdout, /event\s+WorkerBound\(poolId=1/);

    const wrongStarter = await run([
      "worker",
      "start",
      "--stake",
      "2000",
      "--from",
      "user",
      "--worker",
      workerAddress(),
    ]);
    assert.equal(wrongStarter.code, 1);
    assert.match(wrongStarter.stderr, /NOT_POOL_OWNER/);

    const started = await run(["worker", "start", "--stake", "2000", "--from", "operator-1"]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /MiningStarted/);

    let status = "";
    for (let i = 0; i < 60; i++) {
      status = (await run(["worker", "status", "--from", "operator-1"])).stdout;
      if (/last heartbeat\s+challenge of block \d+/.test(status) && !/pending rewards\s+0 VEIL/.test(status))
        break;
      await sleep(2000);
    }
    assert.match(status, /state\s+working/);
    assert.match(status, /last heartbeat\s+challenge of block \d+/, status);
    assert.doesNotMatch(status, /pending rewards\s+0 VEIL/, status);

    // Early withdrawal: the stake is at work, so the delegator's withdrawal waits in the queue.
    const queued = await run(["pool", "withdraw", "1", "4000", "--from", "user"]);
    assert.equal(queued.code, 0, queued.stderr);
    assert.match(queued.stdout, /WithdrawalQueued/);
    // Free stake pays what it can at once; the rest waits in the queue.
    assert.match(queued.stdout, /shares left, [1-9][\d.]* queued/);

    const stopped = await run(["worker", "stop", "--from", "operator-1"]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, /is cooling down/);
  });

  test("vault: create, invest, withdraw; a holder cannot invest the vault's funds in a pool", async () => {
    const created = await run(["vault", "create", "--commission", "5", "--from", "user"]);
    assert.equal(created.code, 0, created.stderr);
    const vault = /vault\s+#\d+ (0x[0-9a-fA-F]{40}) created/.exec(created.stdout)?.[1];
    assert.ok(vault, created.stdout);
    const invested = await run(["vault", "invest", vault, "300", "--from", "operator-2"]);
    assert.equal(invested.code, 0, invested.stderr);
    assert.match(invested.stdout, /300 shares worth 300 VEIL/);
    const notOwner = await run(["vault", "invest", vault, "100", "--pool", "1", "--from", "operator-2"]);
    assert.equal(notOwner.code, 1);
    assert.match(notOwner.stderr, /NOT_VAULT_OWNER/);
    const withdrawn = await run(["vault", "withdraw", vault, "100", "--from", "operator-2"]);
    assert.equal(withdrawn.code, 0, withdrawn.stderr);
    assert.match(withdrawn.stdout, /200 shares left/);
    // The owner puts 500 in pool 1 in one step: the 300 the vault lacks are deposited first.
    const pooled = await run(["vault", "invest", vault, "500", "--pool", "1", "--from", "user"]);
    assert.equal(pooled.code, 0, pooled.stderr);
    assert.match(pooled.stderr, /holds 200 VEIL idle; depositing the other 300 VEIL first/);
    assert.match(pooled.stdout, /in pool #1/);
  });

  test("gov: propose, vote, queue, execute a parameter change", async () => {
    const proposed = await run([
      "gov",
      "propose",
      "--set",
      "rewards.minStake=500",
      "--description",
      "lower the minimum stake",
      "--from",
      "user",
    ]);
    assert.equal(proposed.code, 0, proposed.stderr);
    const id = /^proposal (\d+)/m.exec(proposed.stdout)?.[1];
    assert.ok(id, proposed.stdout);
    const early = await run(["gov", "queue", id, "--from", "user"]);
    assert.equal(early.code, 1, "a proposal still voting cannot be queued");
    await sleep(2000);
    const voted = await run(["gov", "vote", id, "for", "--from", "deployer"]);
    assert.equal(voted.code, 0, voted.stderr);
    assert.match(voted.stdout, /VoteCast/);
    // As the README shows it: each step waits for the chain's time rather than failing early.
    const queued = await run(["gov", "queue", id, "--wait", "--from", "user"]);
    assert.equal(queued.code, 0, queued.stderr);
    assert.match(queued.stderr, /waiting \d+ s for the vote to end/);
    assert.match(queued.stdout, /is queued/);
    const executed = await run(["gov", "execute", id, "--wait", "--from", "user"]);
    assert.equal(executed.code, 0, executed.stderr);
    assert.match(executed.stdout, /is executed/);
    assert.match(executed.stdout, /ParameterChanged\(name=minStake value=500000000000000000000\)/);
  });

  test("gov propose warns when a call's target is not the timelock's (it would fail at execute)", async () => {
    const registry = await run([
      "gov",
      "propose",
      "--call",
      "attestationPolicy.setParameters(7200, 900, 5)",
      "--description",
      "fresher evidence",
      "--from",
      "user",
    ]);
    assert.equal(registry.code, 0, registry.stderr);
    assert.match(
      registry.stderr,
      /warning: attestationPolicy is owned by 0x[0-9a-fA-F]{40}, not by the timelock/,
    );
    assert.match(registry.stderr, /veil up --fresh --governed/);
    const economyParameter = await run([
      "gov",
      "propose",
      "--set",
      "rewards.treasuryBps=1200",
      "--description",
      "a treasury share",
      "--from",
      "user",
    ]);
    assert.equal(economyParameter.code, 0, economyParameter.stderr);
    assert.doesNotMatch(economyParameter.stderr, /warning/);
  });

  test("veil contract: deploy the oracle's consumer by name, request with a fee, read; bad calls are typed errors", async () => {
    const { mkdirSync, writeFileSync } = await import("node:fs");
    const agentDir = join(work, "oracle");
    mkdirSync(join(agentDir, "src"), { recursive: true });
    writeFileSync(
      join(agentDir, "src", "index.ts"),
      "export default { fetch() { return new Response('ok'); }, onChainRequest() { return new Uint8Array(64); } };\n",
    );
    assert.equal((await run(["deploy", agentDir, "--name", "oracle"])).code, 0);
    const deployed = await run([
      "contract",
      "deploy",
      "PriceFeedConsumer",
      "agentTriggers",
      "agent:oracle",
      "--json",
    ]);
    assert.equal(deployed.code, 0, deployed.stderr);
    const { address } = JSON.parse(deployed.stdout) as { address: string };
    assert.match(address, /^0x[0-9a-fA-F]{40}$/);
    const fee = await run(["contract", "call", "agentTriggers.requiredFee()", "--json"]);
    assert.equal(fee.code, 0, fee.stderr);
    assert.ok(BigInt((JSON.parse(fee.stdout) as { result: string }).result) > 0n);
    const tooLow = await run(["contract", "call", 'PriceFeedConsumer.requestPrice("ETH", 20)']);
    assert.equal(tooLow.code, 1);
    assert.match(tooLow.stderr, /TRIGGER_FEE_TOO_LOW/);
    const requested = await run([
      "contract",
      "call",
      'PriceFeedConsumer.requestPrice("ETH", 20)',
      "--value",
      "0.01",
    ]);
    assert.equal(requested.code, 0, requested.stderr);
    assert.match(requested.stdout, /event\s+PriceRequested\(requestId=1 symbol=ETH\)/);
    const listed = await run(["triggers", "requests", "oracle"]);
    assert.match(listed.stdout, new RegExp(`#1 .* from ${address}`, "i"));
    const read = await run(["contract", "call", "PriceFeedConsumer.oracleAgent()"]);
    assert.equal(read.code, 0, read.stderr);
    assert.match(read.stdout, /"\d+"/);
    const wrong = await run(["contract", "call", "PriceFeedConsumer.nope()"]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /BAD_ARGUMENT.*no function "nope"[\s\S]*Functions: .*requestPrice/);
    const missing = await run(["contract", "deploy", "NoSuchContract"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /CONTRACT_NOT_FOUND[\s\S]*PriceFeedConsumer/);
  });

  test("`veil worker` without a subcommand is still the daemon and still requires --data", async () => {
    const r = await run(["worker", "--operator-key", `0x${"11".repeat(32)}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /required option '--data <dir>' not specified/);
  });

  function workerAddress(): string {
    const n = JSON.parse(readFileSync(join(dir, "network.json"), "utf8"));
    return n.workers[0].address;
  }
});
