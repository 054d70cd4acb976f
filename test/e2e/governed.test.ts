import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createPublicClient, type Hex, http } from "viem";
import { attestationPolicyAbi, gatekeeperRegistryAbi } from "../../src/chain/abi.ts";
import { startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Issue 21: `veil up --governed` gives the registries to the timelock, as production does, so
// that a proposal to change them passes and executes end to end from the CLI.
describe("veil up --governed: governance owns the registries", { timeout: 300_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-governed-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  const run = (args: string[]) => veil(args, { env });
  let network: Awaited<ReturnType<typeof startNetwork>>;
  const file = () =>
    JSON.parse(readFileSync(join(dir, "network.json"), "utf8")) as {
      chain: {
        rpcUrl: string;
        governed?: boolean;
        contracts: { attestationPolicy: Hex; gatekeeperRegistry: Hex };
        economy: { timelock: Hex };
      };
    };

  before(async () => {
    network = await startNetwork(dir, ["--workers", "1", "--governed"]);
  });
  after(async () => {
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  test("the registries belong to the timelock and network.json says so", async () => {
    const n = file();
    assert.equal(n.chain.governed, true);
    assert.match(network.output(), /governed\s+the registries belong to the timelock/);
    const chain = createPublicClient({ transport: http(n.chain.rpcUrl) });
    const owner = await chain.readContract({
      address: n.chain.contracts.gatekeeperRegistry,
      abi: gatekeeperRegistryAbi,
      functionName: "owner",
    });
    assert.equal(owner.toLowerCase(), n.chain.economy.timelock.toLowerCase());
  });

  test("a direct key rotation is refused with what to do instead; nothing changes", async () => {
    const r = await run(["keys", "rotate"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /NOT_OWNER.*timelock owns/);
    assert.match(r.stderr, /veil keys rotate --propose/);
    const status = JSON.parse((await run(["keys", "status", "--json"])).stdout) as { epoch: string };
    assert.equal(status.epoch, "1");
  });

  test("gov propose --call on a registry: no warning, and it executes", async () => {
    const proposed = await run([
      "gov",
      "propose",
      "--call",
      "attestationPolicy.setParameters(7200, 900, 5)",
      "--description",
      "fresher evidence",
      "--json",
    ]);
    assert.equal(proposed.code, 0, proposed.stderr);
    assert.doesNotMatch(proposed.stderr, /warning/);
    const { proposal } = JSON.parse(proposed.stdout) as { proposal: string };
    assert.match(proposal, /^\d{20,}$/);
    await sleep(2000);
    const voted = await run(["gov", "vote", "latest", "for", "--from", "deployer", "--json"]);
    assert.equal(voted.code, 0, voted.stderr);
    assert.equal((JSON.parse(voted.stdout) as { proposal: string }).proposal, proposal);
    // The first digits name it too, as `latest` does.
    const status = await run(["gov", "status", proposal.slice(0, 8), "--json"]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { state: string }).state, "active");
    const queued = await run(["gov", "queue", "latest", "--wait"]);
    assert.equal(queued.code, 0, queued.stderr);
    const executed = await run(["gov", "execute", "latest", "--wait", "--json"]);
    assert.equal(executed.code, 0, executed.stderr);
    assert.equal((JSON.parse(executed.stdout) as { state: string }).state, "executed");

    const n = file();
    const chain = createPublicClient({ transport: http(n.chain.rpcUrl) });
    const maxAge = await chain.readContract({
      address: n.chain.contracts.attestationPolicy,
      abi: attestationPolicyAbi,
      functionName: "maxEvidenceAge",
    });
    assert.equal(maxAge, 7200n);
  });
});
