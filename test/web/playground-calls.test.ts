import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { chromiumMissing, openBrowser, screenshotSteps } from "../helpers/browser.ts";
import { startNetwork, stopNetwork, veil } from "../helpers/cli.ts";
import { injectWallet, type WalletCall } from "../helpers/injected-wallet.ts";

// The playground's signed and paid calls in a real browser (issue 16): an allowlisted agent
// refuses the anonymous call and answers one signed by an allowlisted account; a priced agent's
// call from the page is paid with a voucher the page signed, and the worker claims it from the
// caller's escrow. Signed by the DEV ONLY development account, then by an injected EIP-1193
// wallet (test/helpers/injected-wallet.ts) that the page must use instead.

/**
 * Answers "hello PATH". Who called is not the agent's to see (ctx.caller names calling agents
 * only): the worker checks the signature and the allowlist before any of its code runs.
 */
function writeWhoAgent(dir: string): void {
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "who", type: "module", main: "src/index.ts" }),
  );
  writeFileSync(
    join(dir, "src/index.ts"),
    `export default {
  async fetch(request: Request): Promise<Response> {
    return new Response("hello " + new URL(request.url).pathname);
  },
};
`,
  );
}

describe("the playground's signed and paid calls", { timeout: 300_000, skip: chromiumMissing }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-playground-calls-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let pageErrors: string[] = [];
  let consoleUrl = "";
  const net = () => JSON.parse(readFileSync(join(dir, "network.json"), "utf8"));
  const account = (role: string): string =>
    net().devAccounts.accounts.find((a: { role: string }) => a.role === role).address;
  const step = screenshotSteps("playground-calls", () => page);
  const run = async (args: string[]) => {
    const r = await veil(args, { env });
    assert.equal(r.code, 0, `veil ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const escrowOf = async (role: string) =>
    /balance\s+([\d.]+) VEIL/.exec(await run(["escrow", "info", account(role)]))?.[1];

  before(async () => {
    // Claims go out at every paid call, so the caller's escrow shows the fee at once.
    network = await startNetwork(dir, ["--workers", "1", "--fee-claim-calls", "1", "--fee-interval", "20"]);
    consoleUrl = net().console.url;
    for (const name of ["members", "priced"]) {
      writeWhoAgent(join(work, name));
      await run(["deploy", join(work, name), "--name", name]);
    }
    await run(["agent", "acl", "members", "--allowlist", "--allow", "user", "operator-3"]);
    await run(["agent", "price", "priced", "0.5"]);
    await run(["escrow", "deposit", "10", "--from", "user"]);
    // A price increase waits the dev network's 5 s (ADR 0020).
    for (let i = 0; i < 60 && /rising/.test(await run(["agent", "price", "priced"])); i++)
      await new Promise((r) => setTimeout(r, 250));
    // The worker reads a due increase again by its last block's clock, at most once a second
    // (src/worker/policy.ts): until then it still serves at the old price. Give it two of each.
    await new Promise((r) => setTimeout(r, 2_500));
    ({ browser, page, pageErrors } = await openBrowser());
  });
  after(async () => {
    assert.deepEqual(pageErrors, [], "no uncaught error in the page");
    await browser?.close();
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  /** Invokes `agent` from the playground as `signer` ("" for nobody) and waits for the outcome. */
  async function invoke(
    p: Page,
    agent: string,
    signer: string | undefined,
    encrypt: boolean,
    maxPrice = "",
  ): Promise<void> {
    await p.goto(`${consoleUrl}#/playground/${agent}`);
    await p.locator("#pg-max-price").fill(maxPrice);
    await p.locator(`#pg-agent option[value="${agent}"]`).waitFor({ state: "attached", timeout: 20_000 });
    if (signer !== undefined) {
      await p.locator(`#pg-signer option[value="${signer}"]`).waitFor({ state: "attached", timeout: 20_000 });
      await p.locator("#pg-signer").selectOption(signer);
    }
    await p.locator("#pg-method").selectOption("GET");
    await p.locator("#pg-path").fill("/hi");
    await p.locator("#pg-encrypt").setChecked(encrypt);
    await p.locator("#pg-send").click();
    // Done: failed, or the answer read and its receipt checked (not "… Checking the receipt…").
    await p.locator("#pg-status", { hasText: /^(Failed\.|\d{3}, .*\.)$/ }).waitFor({ timeout: 30_000 });
  }

  test("an allowlisted agent refuses the anonymous call and answers one signed by an allowlisted account", async () => {
    await step("allowlist", async () => {
      await invoke(page, "members", "", false);
      const error = page.locator("#pg-error");
      assert.equal(await error.locator("strong").textContent(), "CALLER_SIGNATURE_REQUIRED");
      assert.match((await error.textContent()) ?? "", /Hint: /);

      const user = account("user");
      for (const encrypt of [false, true]) {
        await invoke(page, "members", user, encrypt);
        assert.equal(
          await page.locator("#pg-error").isHidden(),
          true,
          (await page.locator("#pg-error").textContent()) ?? "",
        );
        assert.equal(await page.locator("#pg-answer").textContent(), "hello /hi");
        assert.equal(await page.locator("#pg-receipt-verdict").textContent(), "Receipt valid");
        const signed = (await page.locator("#pg-signed").textContent()) ?? "";
        assert.match(signed, new RegExp(`^Signed as ${user} by the DEV ONLY development account`, "i"));
      }
      // Signed, but not allowlisted: refused.
      await invoke(page, "members", account("operator-1"), false);
      assert.equal(await page.locator("#pg-error strong").textContent(), "CALLER_NOT_ALLOWED");
    });
  });

  test("a priced agent's call from the page is paid: the page signs the voucher, the caller's escrow pays", async () => {
    await step("priced", async () => {
      const user = account("user");
      assert.equal(await escrowOf("user"), "10");
      await invoke(page, "priced", "", false);
      assert.equal(await page.locator("#pg-error strong").textContent(), "CALLER_SIGNATURE_REQUIRED");

      // Attack: a host on the way inflates the quote (it says the caller owes 2000 calls' worth
      // unclaimed). The page checks it against the chain and signs nothing.
      const voucherSignatures: string[] = [];
      const watch = (request: { postData(): string | null }) => {
        const body = request.postData() ?? "";
        if (body.includes("eth_signTypedData_v4") && body.includes("Voucher")) voucherSignatures.push(body);
      };
      page.on("request", watch);
      await page.route("**/agents/priced/**", async (route) => {
        const res = await route.fetch();
        const quote = res.headers()["x-veil-fee-quote"];
        if (res.status() !== 402 || !quote) return route.fulfill({ response: res });
        const q = JSON.parse(Buffer.from(quote, "base64").toString()) as { amount: string; price: string };
        q.amount = (BigInt(q.price) * 2000n).toString();
        await route.fulfill({
          response: res,
          headers: {
            ...res.headers(),
            "x-veil-fee-quote": Buffer.from(JSON.stringify(q)).toString("base64"),
          },
        });
      });
      await invoke(page, "priced", user, false);
      await page.unrouteAll();
      assert.equal(await page.locator("#pg-error strong").textContent(), "FEE_QUOTE_INVALID");
      assert.match((await page.locator("#pg-error").textContent()) ?? "", /Hint: /);
      assert.deepEqual(voucherSignatures, [], "no voucher signed for an inflated quote");
      assert.equal(await escrowOf("user"), "10");

      // A price above what the caller allows: refused before anything is signed (ADR 0020).
      await invoke(page, "priced", user, false, "0.1");
      assert.equal(await page.locator("#pg-error strong").textContent(), "PRICE_ABOVE_MAXIMUM");
      assert.match(
        (await page.locator("#pg-error").textContent()) ?? "",
        /costs 0\.5 VEIL, more than the 0\.1 VEIL you allowed/,
      );
      assert.deepEqual(voucherSignatures, []);

      await invoke(page, "priced", user, false, "0.5");
      page.off("request", watch);
      assert.equal(voucherSignatures.length, 1, "the honest quote's voucher, signed by the dev account");
      assert.equal(await page.locator("#pg-answer").textContent(), "hello /hi");
      assert.match(
        (await page.locator("#pg-paid").textContent()) ?? "",
        new RegExp(`^Paid 0\\.5 VEIL from ${user}'s escrow`, "i"),
      );
      await invoke(page, "priced", user, true);
      assert.equal(await page.locator("#pg-receipt-verdict").textContent(), "Receipt valid");
      for (let i = 0; i < 120 && (await escrowOf("user")) !== "9"; i++)
        await new Promise((r) => setTimeout(r, 250));
      assert.equal(await escrowOf("user"), "9", "two calls of 0.5 VEIL claimed from the user's escrow");
    });
  });

  test("with an injected EIP-1193 wallet the page signs with it, not with a DEV ONLY account", async () => {
    await step("wallet", async () => {
      const wallet = account("operator-3");
      const calls: WalletCall[] = [];
      assert.ok(browser);
      const p = await browser.newPage();
      p.on("pageerror", (err) => pageErrors.push(err.message));
      await injectWallet(
        p,
        { rpcUrl: net().chain.rpcUrl, chainId: net().chain.chainId, account: wallet },
        calls,
      );
      page = p;
      await invoke(p, "members", "wallet", false);
      assert.equal(await p.locator("#pg-answer").textContent(), "hello /hi");
      const signed = (await p.locator("#pg-signed").textContent()) ?? "";
      assert.match(signed, new RegExp(`^Signed as ${wallet} by your wallet`, "i"));
      assert.doesNotMatch(signed, /DEV ONLY/);
      assert.ok(calls.some((c) => c.method === "eth_signTypedData_v4" && c.from === wallet.toLowerCase()));

      // A transaction through the same wallet: contributing to a pool from the staking page.
      await run(["pool", "create", "--commission", "10", "--from", "operator-1"]);
      await p.goto(`${consoleUrl}#/staking`);
      await p.locator('#pools tbody tr[data-pool="1"]').waitFor({ timeout: 20_000 });
      const note = (await p.locator("#econ-signer").textContent()) ?? "";
      assert.doesNotMatch(note, /DEV ONLY/);
      assert.equal(await p.locator("#econ-account").isHidden(), true);
      await p.locator("#stake-pool").fill("1");
      await p.locator("#stake-amount").fill("3");
      await p.locator("#stake-contribute").click();
      await p.locator("#stake-result", { hasText: "Contributed 3 VEIL" }).waitFor({ timeout: 20_000 });
      assert.match((await p.locator("#stake-result").textContent()) ?? "", /signed by your wallet/);
      const sent = calls.filter((c) => c.method === "eth_sendTransaction");
      assert.ok(sent.length >= 1, "the page sent its transactions through the wallet");
      assert.ok(sent.every((c) => c.from === wallet.toLowerCase()));
      const info = JSON.parse(await run(["pool", "info", "1", "--from", "operator-3", "--json"])) as {
        you: { shares: string };
      };
      assert.equal(info.you.shares, "3000000000000000000");
    });
  });
});
