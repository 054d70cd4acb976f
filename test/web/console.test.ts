import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { chromiumMissing, openBrowser, screenshotSteps } from "../helpers/browser.ts";
import { startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

// The console in a real browser (issue 16): Debian's chromium driven by playwright-core, against a
// network this file starts, as a person would use it: open the URL `veil up` printed, read the
// network at a glance, deploy from the CLI and watch the agent appear without a reload.

describe("the web console", { timeout: 600_000, skip: chromiumMissing }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-console-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let consoleUrl = "";
  let pageErrors: string[] = [];
  let navigations = 0;

  /** Runs a step; on failure saves a screenshot of the page to test-artifacts/ first. */
  const step = screenshotSteps("console", () => page);

  before(async () => {
    ({ browser, page, pageErrors } = await openBrowser());
    network = await startNetwork(dir);
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame()) navigations++;
    });
  });
  after(async () => {
    await browser?.close();
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  test("veil up prints the console's URL and writes it to network.json as console.url", () => {
    const n = JSON.parse(readFileSync(join(dir, "network.json"), "utf8"));
    consoleUrl = n.console?.url;
    assert.equal(consoleUrl, `${n.gateway.url}/console/`);
    assert.match(network!.output(), new RegExp(`console\\s+${consoleUrl.replace(/[.:/]/g, "\\$&")}`));
  });

  test("the gateway serves the console's files read-only, with a content security policy", async () => {
    const base = consoleUrl.replace(/\/console\/$/, "");
    const index = await fetch(consoleUrl);
    assert.equal(index.status, 200);
    assert.match(index.headers.get("content-type") ?? "", /^text\/html/);
    assert.match(index.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    assert.equal(index.headers.get("x-content-type-options"), "nosniff");
    assert.match(await index.text(), /<script type="module" src="console.js">/);
    const script = await fetch(`${consoleUrl}console.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get("content-type") ?? "", /^text\/javascript/);
    const bare = await fetch(`${base}/console`, { redirect: "manual" });
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.get("location"), "/console/");
    for (const path of ["/console/.hidden.js", "/console/%2e%2e%2fnetwork.json", "/console/network.json"]) {
      assert.equal((await fetch(`${base}${path}`)).status, 404, path);
    }
    assert.equal((await fetch(consoleUrl, { method: "POST", body: "x" })).status, 405);
  });

  test("the chain's JSON-RPC answers the browser's CORS preflight", async () => {
    const n = JSON.parse(readFileSync(join(dir, "network.json"), "utf8"));
    const preflight = await fetch(n.chain.rpcUrl, {
      method: "OPTIONS",
      headers: {
        origin: new URL(consoleUrl).origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    assert.ok(preflight.status < 300, `preflight answered ${preflight.status}`);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
  });

  test("the landing page shows the chain, the epoch, and each worker with INSECURE plainly", async () => {
    await step("landing", async () => {
      await page.goto(consoleUrl);
      await page.locator("#epoch").filter({ hasText: /^\d+$/ }).waitFor({ timeout: 30_000 });
      assert.equal(await page.locator("#chain-id").textContent(), "31337");
      assert.match((await page.locator("#block").textContent()) ?? "", /^\d+$/);
      assert.ok(await page.locator("#insecure").isVisible(), "the INSECURE banner is shown");
      const n = JSON.parse(readFileSync(join(dir, "network.json"), "utf8"));
      const rows = page.locator("#workers tbody tr[data-address]");
      // Every worker of the network file, once the page has read them all from the chain.
      await rows.nth(n.workers.length - 1).waitFor({ timeout: 30_000 });
      assert.equal(await rows.count(), n.workers.length);
      for (const w of n.workers as { address: string; url: string }[]) {
        const row = rows.filter({ hasText: w.address });
        assert.equal(await row.count(), 1, `a row for worker ${w.address}`);
        assert.match((await row.locator(".verdict").textContent()) ?? "", /^INSECURE \(simulated TEE\)$/);
        assert.equal(await row.locator(".status").textContent(), "Active");
        // Its stake and mining, from the stake pools and the rewards contract (`veil up` binds
        // each dev worker to a pool and starts it mining).
        await row.locator(".stake").filter({ hasNotText: "…" }).waitFor({ timeout: 20_000 });
        assert.match(
          (await row.locator(".stake").textContent()) ?? "",
          /^(no pool|[\d.,]+ VEIL \(pool \d+\))$/,
        );
        assert.match((await row.locator(".mining").textContent()) ?? "", /^(Idle|\w+ \(\d+\))$/);
      }
      const gatekeepers = page.locator("#gatekeepers tbody tr[data-address]");
      assert.equal(await gatekeepers.count(), n.gatekeepers.length);
      assert.match((await page.locator("#agents tbody").textContent()) ?? "", /No agent yet/);
      assert.equal(await page.locator("#rotation").textContent(), "none yet; key traffic open");
    });
  });

  test("an agent deployed from the CLI appears in the list without a reload, and the block moves on", async () => {
    await step("deploy", async () => {
      const before = Number(await page.locator("#block").textContent());
      const init = await veil(["init", join(work, "hello-agent")], { env });
      assert.equal(init.code, 0, init.stderr);
      const deploy = await veil(["deploy", join(work, "hello-agent"), "--name", "hello"], { env });
      assert.equal(deploy.code, 0, deploy.stderr);
      const started = Date.now();
      const row = page.locator('#agents tbody tr[data-name="hello"]');
      await row.waitFor({ timeout: 15_000 });
      console.log(`the agent appeared on the page ${Date.now() - started} ms after veil deploy returned`);
      assert.match((await row.textContent()) ?? "", /hello/);
      assert.match((await row.locator("td").nth(3).textContent()) ?? "", /^0 of 1$/);
      assert.equal(await row.locator(".price").textContent(), "free");
      assert.equal(await row.locator(".access").textContent(), "public");
      // Served by every worker once they loaded it; verified by the SDK in this page.
      await row.locator(".serving").filter({ hasText: "2" }).waitFor({ timeout: 20_000 });
      await row
        .locator(".verdict")
        .filter({ hasText: /^(PASS|FAIL|not verified)/ })
        .waitFor({ timeout: 30_000 });
      assert.equal(await row.locator(".verdict").textContent(), "PASS (INSECURE: simulated TEE)");
      assert.equal(await page.locator("#agent-count").textContent(), "1");
      assert.ok(Number(await page.locator("#block").textContent()) > before, "the block number moved on");
      assert.equal(navigations, 1, "the page was never reloaded");
      assert.ok(await page.locator("#error").isHidden(), (await page.locator("#error").textContent()) ?? "");
      assert.deepEqual(pageErrors, []);
    });
  });

  test("a key rotation from the CLI shows on the landing page as it completes, without a reload", async () => {
    await step("rotation", async () => {
      const n = JSON.parse(readFileSync(join(dir, "network.json"), "utf8"));
      const rotate = await veil(["keys", "rotate", "--timeout", "180"], { env });
      assert.equal(rotate.code, 0, rotate.stderr);
      await page.locator("#epoch").filter({ hasText: /^2$/ }).waitFor({ timeout: 20_000 });
      const all = n.gatekeepers.length;
      await page
        .locator("#rotation")
        .filter({ hasText: /^to epoch 2: completed/ })
        .waitFor({ timeout: 20_000 });
      assert.equal(
        await page.locator("#rotation").textContent(),
        `to epoch 2: completed; contributed ${all}/${all}, confirmed ${all}/${all}, old key destroyed ${all}/${all}; key traffic open`,
      );
      assert.equal(navigations, 1, "the page was never reloaded");
      assert.deepEqual(pageErrors, []);
    });
  });
});
