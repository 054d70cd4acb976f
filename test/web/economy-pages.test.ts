import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { chromiumMissing, openBrowser, screenshotSteps } from "../helpers/browser.ts";
import { startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

// The console's staking and governance pages in a real browser (issue 16): a pool made with the
// CLI is staked into from the page (signed by the DEV ONLY development account), and a proposal
// made with the CLI is voted on, queued and executed from the page.

describe("the console's staking and governance pages", { timeout: 240_000, skip: chromiumMissing }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-economy-pages-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let consoleUrl = "";
  const net = () => JSON.parse(readFileSync(join(dir, "network.json"), "utf8"));
  const account = (role: string): string =>
    net().devAccounts.accounts.find((a: { role: string }) => a.role.startsWith(role)).address;

  /** Moves the chain's clock on by `seconds` and mines a block (the dev chain's own RPC). */
  async function advance(seconds: number): Promise<void> {
    for (const [method, params] of [
      ["evm_increaseTime", [seconds]],
      ["evm_mine", []],
    ] as const) {
      const res = await fetch(net().chain.rpcUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
      });
      const body = (await res.json()) as { error?: unknown };
      assert.equal(body.error, undefined, `${method}: ${JSON.stringify(body.error)}`);
    }
  }

  const step = screenshotSteps("economy-pages", () => page);

  before(async () => {
    network = await startNetwork(dir, ["--workers", "1"]);
    consoleUrl = net().console.url;
    ({ browser, page } = await openBrowser());
  });
  after(async () => {
    await browser?.close();
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  test("a pool made with the CLI is staked into from the page; its figures, the plot and the CLI agree", async () => {
    await step("staking", async () => {
      const created = await veil(
        ["pool", "create", "--commission", "12.5", "--from", "operator-1", "--json"],
        {
          env,
        },
      );
      assert.equal(created.code, 0, created.stderr);
      const user = account("user");
      await page.goto(`${consoleUrl}#/staking`);
      const row = page.locator('#pools tbody tr[data-pool="1"]');
      await row.waitFor({ timeout: 20_000 });
      assert.equal(await row.locator("td").nth(2).textContent(), "12.5%");
      assert.equal(await row.locator(".total-stake").textContent(), "0 VEIL");
      const signerNote = page.locator("#econ-signer");
      assert.match((await signerNote.textContent()) ?? "", /^DEV ONLY/);
      assert.equal(await signerNote.getAttribute("class"), "insecure");
      await page.locator("#econ-account").selectOption(user);
      await page.locator("#stake-pool").fill("1");
      await page.locator("#stake-amount").fill("250.5");
      await page.locator("#stake-contribute").click();
      await page
        .locator("#stake-result", { hasText: "Contributed 250.5 VEIL to pool #1" })
        .waitFor({ timeout: 20_000 });
      assert.match((await page.locator("#stake-result").textContent()) ?? "", /DEV ONLY development account/);
      await row.locator(".total-stake", { hasText: "250.5 VEIL" }).waitFor({ timeout: 10_000 });
      assert.equal(await row.locator(".free-stake").textContent(), "250.5 VEIL");
      assert.equal(await row.locator(".your-share").textContent(), "250.5 shares, worth 250.5 VEIL");
      // The plot draws the pool's bar, labelled with its stake.
      const bar = page.locator('#stake-plot svg rect.plot-total[data-pool="1"]');
      assert.ok(Number(await bar.getAttribute("width")) > 100);
      assert.match((await page.locator("#stake-plot svg").textContent()) ?? "", /pool #1250\.5 VEIL/);

      const info = await veil(["pool", "info", "1", "--from", "user", "--json"], { env });
      assert.equal(info.code, 0, info.stderr);
      const parsed = JSON.parse(info.stdout) as { totalStake: string; you: { shares: string } };
      assert.equal(parsed.totalStake, "250500000000000000000");
      assert.equal(parsed.you.shares, "250500000000000000000");

      // Withdrawing more than one holds: the contract's refusal, with its code and hint.
      await page.locator("#stake-amount").fill("1000");
      await page.locator("#stake-withdraw").click();
      const error = page.locator("#stake-error");
      await error.filter({ hasText: "INSUFFICIENT_SHARES" }).waitFor({ timeout: 20_000 });
      assert.equal(await error.locator("strong").textContent(), "INSUFFICIENT_SHARES");
      assert.match((await error.textContent()) ?? "", /Hint: /);

      await page.locator("#stake-amount").fill("50.5");
      await page.locator("#stake-withdraw").click();
      await page.locator("#stake-result", { hasText: "Withdrew 50.5 shares" }).waitFor({ timeout: 20_000 });
      await row.locator(".total-stake", { hasText: /^200 VEIL$/ }).waitFor({ timeout: 10_000 });
      assert.equal(await error.isHidden(), true);

      // Delegating the user's votes to itself.
      await page.locator("#delegate-send").click();
      await page.locator("#you-delegate", { hasText: user }).waitFor({ timeout: 20_000 });
      assert.notEqual(await page.locator("#you-votes").textContent(), "0 VEIL");
    });
  });

  test("a vault made with the CLI is deposited into (approval first) and withdrawn from on the page; the CLI agrees", async () => {
    await step("vault", async () => {
      const created = await veil(["vault", "create", "--commission", "5", "--from", "operator-1", "--json"], {
        env,
      });
      assert.equal(created.code, 0, created.stderr);
      const { vault, address } = JSON.parse(created.stdout) as { vault: number; address: string };
      const user = account("user");
      await page.goto(`${consoleUrl}#/staking`);
      const row = page.locator(`#vaults tbody tr[data-vault="${address}"]`);
      await row.waitFor({ timeout: 20_000 });
      await page.locator("#econ-account").selectOption(user);
      await row.locator(".your-share", { hasText: /^0 shares/ }).waitFor({ timeout: 10_000 });
      await page.locator("#vault-address").fill(String(vault));
      await page.locator("#vault-amount").fill("40");
      await page.locator("#vault-deposit").click();
      await page
        .locator("#vault-result", { hasText: `Deposited 40 VEIL into vault ${address}` })
        .waitFor({ timeout: 20_000 });
      assert.match((await page.locator("#vault-result").textContent()) ?? "", /DEV ONLY development account/);
      await row.locator(".your-share", { hasText: "40 shares, worth 40 VEIL" }).waitFor({ timeout: 10_000 });
      assert.equal(await row.locator(".assets").textContent(), "40 VEIL");

      // More shares than the user holds: the vault's refusal, with its code and hint.
      await page.locator("#vault-amount").fill("1000");
      await page.locator("#vault-withdraw").click();
      const error = page.locator("#vault-error");
      await error.locator("strong").waitFor({ timeout: 20_000 });
      assert.match((await error.locator("strong").textContent()) ?? "", /^[A-Z_]+$/);
      assert.match((await error.textContent()) ?? "", /Hint: /);

      // By address this time, and part of the shares.
      await page.locator("#vault-address").fill(address);
      await page.locator("#vault-amount").fill("15");
      await page.locator("#vault-withdraw").click();
      await page.locator("#vault-result", { hasText: "Withdrew 15 shares" }).waitFor({ timeout: 20_000 });
      await row.locator(".your-share", { hasText: /^25 shares/ }).waitFor({ timeout: 10_000 });
      assert.equal(await error.isHidden(), true);
      const info = await veil(["vault", "info", String(vault), "--from", "user", "--json"], { env });
      assert.equal(info.code, 0, info.stderr);
      const parsed = JSON.parse(info.stdout) as { you: { shares: string } };
      assert.equal(parsed.you.shares, "25000000000000000000");
    });
  });

  test("a proposal made with the CLI is voted on, queued and executed from the page", async () => {
    await step("governance", async () => {
      const proposed = await veil(
        [
          "gov",
          "propose",
          "--set",
          "rewards.minStake=500",
          "--description",
          "lower the minimum stake",
          "--from",
          "user",
          "--json",
        ],
        { env },
      );
      assert.equal(proposed.code, 0, proposed.stderr);
      const { proposal } = JSON.parse(proposed.stdout) as { proposal: string };
      await page.goto(`${consoleUrl}#/governance`);
      const row = page.locator(`#proposals tbody tr[data-proposal="${proposal}"]`);
      await row.waitFor({ timeout: 20_000 });
      assert.equal(await row.locator("td").nth(1).textContent(), "lower the minimum stake");
      await advance(2);
      await row.locator(".state", { hasText: "Active" }).waitFor({ timeout: 10_000 });
      await page.locator("#econ-account").selectOption(account("deployer"));
      await row.locator('button[data-action="for"]').click();
      await page.locator("#gov-result", { hasText: "Voted for on proposal" }).waitFor({ timeout: 20_000 });
      await row.locator(".for", { hasText: /^[1-9]/ }).waitFor({ timeout: 10_000 });
      assert.equal(await row.locator(".against").textContent(), "0 VEIL");

      // Voting twice: the governor's refusal, shown with its code and hint.
      await row.locator('button[data-action="against"]').click();
      const error = page.locator("#gov-error");
      await error.locator("strong").waitFor({ timeout: 20_000 });
      assert.equal(await error.locator("strong").textContent(), "GOVERNANCE_ALREADY_VOTED");
      assert.match(
        (await error.textContent()) ?? "",
        /Hint: This account has voted on the proposal already\./,
      );
      assert.equal(await row.locator(".against").textContent(), "0 VEIL");

      await advance(30);
      await row.locator(".state", { hasText: "Succeeded" }).waitFor({ timeout: 10_000 });
      await row.locator('button[data-action="queue"]').click();
      await row.locator(".state", { hasText: "Queued" }).waitFor({ timeout: 20_000 });
      assert.match((await row.locator(".eta").textContent()) ?? "", /^\d{4}-\d\d-\d\dT/);
      await advance(10);
      await row.locator('button[data-action="execute"]').click();
      await row.locator(".state", { hasText: "Executed" }).waitFor({ timeout: 20_000 });
      const status = await veil(["gov", "status", proposal, "--json"], { env });
      assert.match(status.stdout, /Executed/i);
    });
  });
});
