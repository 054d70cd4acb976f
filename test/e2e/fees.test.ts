import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Hex, parseUnits } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { VeilEconomy } from "../../src/chain/economy-client.ts";
import { signQuote } from "../../src/chain/fee-vouchers.ts";
import { VeilError } from "../../src/errors/index.ts";
import type { NetworkFile } from "../../src/network/config.ts";
import { VeilClient } from "../../src/sdk/client.ts";
import { readNetwork, startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

// Fees on a live `veil up` network: priced agents paid with vouchers through the gateway, the
// worker's settlement loop claiming them from FeeEscrow, and a calling agent's owner paying for
// its calls to a priced agent.

const TOOL = `export default { async fetch(request: Request) { return Response.json({ ok: true, path: new URL(request.url).pathname }); } };`;
const PLANNER = `export default { async fetch(request: Request, _env: unknown, ctx: any) {
  try { const r = await ctx.agents.call("tool", "/used"); return Response.json({ tool: await r.json() }); }
  catch (e: any) { return Response.json({ code: e.code, message: e.message }, { status: 402 }); }
} };`;

describe("fees on a dev network", { timeout: 400_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-fees-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  const run = (args: string[]) => veil(args, { env });
  let network: Awaited<ReturnType<typeof startNetwork>>;
  let file: NetworkFile;
  let reader: VeilEconomy;
  /** Until a scheduled price increase of `agent` applies (ADR 0020: 5 s on a dev network). */
  const untilPriceApplies = async (agent: string) => {
    for (let i = 0; i < 60 && /rising/.test((await run(["agent", "price", agent])).stdout); i++) {
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const key = (role: string): Hex => file.devAccounts!.accounts.find((a) => a.role === role)!.privateKey;
  const address = (role: string): Hex => file.devAccounts!.accounts.find((a) => a.role === role)!.address;

  before(async () => {
    network = await startNetwork(dir, ["--workers", "1", "--fee-claim-calls", "2", "--fee-interval", "20"]);
    file = readNetwork(dir) as unknown as NetworkFile;
    reader = new VeilEconomy({ ...file.chain, economy: file.chain.economy! }, { pollingIntervalMs: 50 });
    for (const [name, code] of [
      ["tool", TOOL],
      ["planner", PLANNER],
    ] as const) {
      mkdirSync(join(work, name, "src"), { recursive: true });
      writeFileSync(join(work, name, "src", "index.ts"), code);
      const d = await run(["deploy", join(work, name), "--name", name]);
      assert.equal(d.code, 0, d.stderr);
    }
    const priced = await run(["agent", "price", "tool", "0.5"]);
    assert.equal(priced.code, 0, priced.stderr);
    // An increase waits the dev network's 5 s (ADR 0020); the CLI says when it applies.
    assert.match(
      priced.stdout,
      /price: 0\.5 VEIL per call from .* \(increases wait 5 s; until then 0 VEIL\)/,
    );
    await untilPriceApplies("tool");
  });
  after(async () => {
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  const until = async (check: () => Promise<boolean>, what: string, ms = 60_000) => {
    const end = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > end) {
        // The worker's own account of its settlement rounds, to tell a slow chain from a bug.
        const log = readFileSync(join(dir, "logs", "worker-1.log"), "utf8")
          .split("\n")
          .slice(-25)
          .join("\n");
        assert.fail(`timed out: ${what}\nworker-1.log:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  };

  test("paid calls through the gateway are claimed in batches: the operator is paid, the escrow falls, a second claim is refused", async () => {
    const worker = file.workers[0]!.address;
    const toolId = (await new VeilClient(file).identity("tool")).id;
    const payer = address("operator-3");
    const noEscrow = await run(["invoke", "tool", "--path", "/x", "--as", "operator-3"]);
    assert.notEqual(noEscrow.code, 0);
    assert.match(noEscrow.stderr, /ESCROW_INSUFFICIENT_PREPAID/);
    // In the user's units, with the command that fixes it.
    assert.match(
      noEscrow.stderr,
      /has 0 VEIL prepaid; (a call to tool costs|with this call to tool it owes this worker) [\d.]+ VEIL/,
    );
    assert.match(noEscrow.stderr, /veil escrow deposit [\d.]+/);
    const deposited = await run(["escrow", "deposit", "10", "--from", "operator-3"]);
    assert.equal(deposited.code, 0, deposited.stderr);
    assert.match(deposited.stdout, /holds 10 VEIL/);

    const operator = address("operator-1");
    const before = {
      operator: await reader.balanceOf(operator),
      treasury: await reader.balanceOf(file.chain.economy!.treasury),
    };
    // Two calls from the CLI (each a new process: quoted, then paid).
    for (let i = 0; i < 2; i++) {
      const r = await run(["invoke", "tool", "--path", "/x", "--as", "operator-3"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /"ok":true/);
    }
    // An encrypted call carries its voucher sealed; then one from an SDK client signed ahead.
    const client = new VeilClient(file);
    const sealed = await client.invoke("tool", { path: "/y", as: key("operator-3"), encrypt: true });
    assert.equal(sealed.status, 200);
    const r = await client.invoke("tool", { path: "/y", as: key("operator-3") });
    assert.equal(r.status, 200);
    const price = parseUnits("0.5", 18);
    await until(
      async () => (await reader.feeChannel(payer, worker, toolId)).calls === 4n,
      "the worker claimed 4 calls",
    );
    assert.equal((await reader.feeChannel(payer, worker, toolId)).amount, 4n * price);
    // Batched: claims go out at 2 pending calls (or after 20 s), so fewer rounds than calls.
    const rounds = readFileSync(join(dir, "logs", "worker-1.log"), "utf8").match(/fees: claimed/g) ?? [];
    assert.ok(rounds.length >= 1 && rounds.length < 4, `${rounds.length} claim rounds for 4 calls`);
    assert.equal((await reader.escrowAccount(payer)).balance, parseUnits("10", 18) - 4n * price);
    const fee = 4n * price;
    assert.equal(await reader.balanceOf(operator), before.operator + fee - fee / 10n, "90% to the operator");
    assert.equal(await reader.balanceOf(file.chain.economy!.treasury), before.treasury + fee / 10n);

    const status = await run(["worker", "status", "--from", "operator-1"]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /fees pending\s+0 VEIL for 0 calls/);
    assert.match(status.stdout, /fees claimed\s+2 VEIL for 4 calls/);

    // The same voucher submitted again (by anyone) is refused on chain.
    const again = await signQuote(privateKeyToAccount(key("operator-3")), {
      chainId: file.chain.chainId,
      feeEscrow: file.chain.economy!.feeEscrow,
      worker,
      payer,
      agentId: toolId.toString(),
      calls: "4",
      amount: (4n * price).toString(),
      price: price.toString(),
    });
    const econ = new VeilEconomy(
      { ...file.chain, economy: file.chain.economy! },
      { account: key("operator-1"), pollingIntervalMs: 50 },
    );
    await assert.rejects(
      econ.claimFees(worker, [
        { payer, agentId: toolId, calls: 4n, amount: 4n * price, r: again.r, vs: again.vs },
      ]),
      (e: unknown) => e instanceof VeilError && e.code === "VOUCHER_ALREADY_CLAIMED",
    );
  });

  test("an agent calling a priced agent is paid for by its owner, within its cap; refused without escrow or over the cap", async () => {
    const plan = async () => {
      const r = await run(["invoke", "planner", "--path", "/plan"]);
      return JSON.parse(r.stdout) as { code?: string; tool?: { ok: boolean } };
    };
    assert.equal((await plan()).code, "SPENDING_CAP_REACHED", "a cap of zero: the owner pays for nothing");
    assert.equal((await run(["agent", "price", "planner", "--cap", "1"])).code, 0);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(
      (await plan()).code,
      "VOUCHER_SIGNATURE_INVALID",
      "the owner has not let the agent's key sign",
    );
    const sponsor = await run(["escrow", "sponsor", "planner", "--outbound"]);
    assert.equal(sponsor.code, 0, sponsor.stderr);
    await new Promise((r) => setTimeout(r, 5500));
    assert.equal((await plan()).code, "ESCROW_INSUFFICIENT_PREPAID", "the owner's escrow is empty");
    assert.equal((await run(["escrow", "deposit", "5"])).code, 0);
    assert.deepEqual((await plan()).tool, { ok: true, path: "/used" });
    assert.deepEqual((await plan()).tool, { ok: true, path: "/used" });
    assert.equal((await plan()).code, "SPENDING_CAP_REACHED", "2 × 0.5 reached the cap of 1");
    const owner = address("user");
    const worker = file.workers[0]!.address;
    const toolId = (await new VeilClient(file).identity("tool")).id;
    await until(
      async () => (await reader.feeChannel(owner, worker, toolId)).calls === 2n,
      "the planner's calls were claimed from its owner's escrow",
    );
    assert.equal((await reader.escrowAccount(owner)).balance, parseUnits("4", 18));
  });

  test("an owner's price increase: callers see it coming, and never pay more than they allow (attack)", async () => {
    // Issue 18: price 0.5 → the owner sets 9.5 → the caller's next identical call paid 9.5.
    const raised = await run(["agent", "price", "tool", "9.5"]);
    assert.equal(raised.code, 0, raised.stderr);
    assert.match(raised.stdout, /9\.5 VEIL per call from .*increases wait 5 s; until then 0\.5 VEIL/);
    await untilPriceApplies("tool");
    const refused = await run(["invoke", "tool", "--path", "/z", "--as", "operator-3", "--max-price", "0.5"]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /PRICE_ABOVE_MAXIMUM/);
    assert.match(refused.stderr, /costs 9\.5 VEIL, more than the 0\.5 VEIL you allowed/);
    const status = await run(["worker", "status", "--from", "operator-1"]);
    assert.match(status.stdout, /fees pending\s+0 VEIL for 0 calls/, "nothing was signed or owed");
    // Without --max-price the caller is told the price before paying it.
    assert.equal((await run(["escrow", "deposit", "10", "--from", "operator-3"])).code, 0);
    const told = await run(["invoke", "tool", "--path", "/z", "--as", "operator-3"]);
    assert.equal(told.code, 0, told.stderr);
    assert.match(told.stderr, /tool costs 9\.5 VEIL a call/);
  });
});
