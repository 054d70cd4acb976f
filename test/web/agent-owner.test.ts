import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { chromiumMissing, openBrowser, screenshotSteps } from "../helpers/browser.ts";
import { startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

// The agent page's owner part in a real browser (issue 16): versions pinned, rolled back and
// removed from the page and the CLI agreeing; a page signing as another account refused with the
// VeilError shown and the chain unchanged; requests and fees drawn as they happen; the agent's
// logs opened in the browser with the owner's log key, and refused with any other.

/** An agent that logs each call and answers with its tag, so the running version shows. */
function writeAgent(dir: string, tag: string): void {
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "owned", type: "module", main: "src/index.ts" }),
  );
  writeFileSync(
    join(dir, "src/index.ts"),
    `export default {
  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    console.log("${tag} served " + path);
    return new Response("${tag} " + path);
  },
};
`,
  );
}

type Versions = { current: number; versions: { version: number; removed: boolean }[] };

describe("the agent page's owner actions and figures", { timeout: 420_000, skip: chromiumMissing }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-agent-owner-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  const run = (args: string[]) => veil(args, { env });
  const agentDir = join(work, "owned");
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let pageErrors: string[] = [];
  const net = () => JSON.parse(readFileSync(join(dir, "network.json"), "utf8"));
  const address = (role: string): string =>
    net().devAccounts.accounts.find((a: { role: string }) => a.role === role).address;
  const step = screenshotSteps("agent-owner", () => page);
  const versions = async (): Promise<Versions> => {
    const r = await run(["agent", "versions", "owned", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Versions;
  };
  const invoke = async (path: string, extra: string[] = []) => {
    const r = await run(["invoke", "owned", "--path", path, ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const signAs = async (role: string) => {
    const select = page.locator("#owner-account");
    await select.locator(`option[value="${address(role)}"]`).waitFor({ state: "attached", timeout: 15_000 });
    await select.selectOption(address(role));
  };

  before(async () => {
    // Workers claim each paid call at once, so the fees settled on chain show within the test.
    network = await startNetwork(dir, ["--fee-claim-calls", "1"]);
    writeAgent(agentDir, "v0");
    const d0 = await run(["deploy", agentDir, "--name", "owned"]);
    assert.equal(d0.code, 0, d0.stderr);
    writeAgent(agentDir, "v1");
    const d1 = await run(["deploy", agentDir, "--name", "owned"]);
    assert.equal(d1.code, 0, d1.stderr);
    ({ browser, page, pageErrors } = await openBrowser());
    page.on("dialog", (d) => void d.accept());
    await page.goto(`${net().console.url}#/agents/owned`);
    await page.locator("#agent-version", { hasText: "1 of 2" }).waitFor({ timeout: 20_000 });
    await page.evaluate(() => {
      (globalThis as unknown as { marker: number }).marker = 1;
    });
  });
  after(async () => {
    await browser?.close();
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  test("a page signing as another account is refused with the VeilError shown, and the chain is unchanged (attack)", async () => {
    await step("not-owner", async () => {
      await page.locator("#owner-signer", { hasText: /^DEV ONLY/ }).waitFor({ timeout: 15_000 });
      // The owner's account is chosen when the chain's node holds it; the attacker picks another.
      assert.equal(await page.locator("#owner-account").inputValue(), address("user"));
      await signAs("operator-1");
      await page.locator("#version-rollback").click();
      const error = page.locator("#version-error");
      await error.filter({ hasText: "NOT_AGENT_OWNER" }).waitFor({ timeout: 15_000 });
      const text = (await error.textContent()) ?? "";
      assert.match(text, new RegExp(`${address("operator-1")} does not own agent owned`));
      assert.match(text, new RegExp(`Hint: Sign with the account that owns it \\(${address("user")}\\)`));
      await page.locator('#agent-versions button[data-action="remove"][data-version="0"]').click();
      await page.locator("#version-error", { hasText: "NOT_AGENT_OWNER" }).waitFor({ timeout: 15_000 });
      const after = await versions();
      assert.equal(after.current, 1);
      assert.deepEqual(
        after.versions.map((v) => v.removed),
        [false, false],
      );
      // The CLI refuses the same account with the same code: one decision (src/sdk/agent-versions.ts).
      const cli = await run(["agent", "rollback", "owned", "--from", "operator-1"]);
      assert.notEqual(cli.code, 0);
      assert.match(cli.stderr, /NOT_AGENT_OWNER/);
    });
  });

  test("the owner rolls back and pins from the page, and the CLI and the agent agree", async () => {
    await step("versions", async () => {
      await signAs("user");
      await page.locator("#version-rollback").click();
      await page.locator("#version-result", { hasText: /^Now runs version 0/ }).waitFor({ timeout: 20_000 });
      assert.ok(await page.locator("#version-error").isHidden());
      assert.equal((await versions()).current, 0);
      await page.locator("#agent-version", { hasText: "0 of 2" }).waitFor({ timeout: 10_000 });
      // Workers follow the chain's event: the old code answers within a few seconds.
      let answer = "";
      for (let i = 0; i < 40 && !answer.startsWith("v0"); i++) {
        answer = await invoke("/which");
        if (!answer.startsWith("v0")) await new Promise((r) => setTimeout(r, 250));
      }
      assert.match(answer, /^v0 \/which/);
      // Forward again: version 1 pinned from its row.
      await page.locator('#agent-versions button[data-action="pin"][data-version="1"]').click();
      await page.locator("#version-result", { hasText: /^Now runs version 1/ }).waitFor({ timeout: 20_000 });
      assert.equal((await versions()).current, 1);
      await page.locator("#agent-version", { hasText: "1 of 2" }).waitFor({ timeout: 10_000 });
    });
  });

  test("the owner removes a version from the page: it is gone for good, and offers nothing more", async () => {
    await step("remove", async () => {
      const row = page.locator('#agent-versions tr[data-version="0"]');
      // The running version offers neither pin nor remove.
      assert.equal(await page.locator('#agent-versions tr[data-version="1"] button').count(), 0);
      await row.locator('button[data-action="remove"]').click();
      await page
        .locator("#version-result", { hasText: /^Version 0 removed for good/ })
        .waitFor({ timeout: 20_000 });
      const after = await versions();
      assert.equal(after.current, 1);
      assert.deepEqual(
        after.versions.map((v) => v.removed),
        [true, false],
      );
      await row.locator(".state", { hasText: "removed" }).waitFor({ timeout: 10_000 });
      assert.equal(
        await row.locator("button").count(),
        0,
        "a removed version can be neither pinned nor removed",
      );
      // And nothing is left to roll back to: the page says why, as the CLI would.
      await page.locator("#version-rollback").click();
      await page.locator("#version-error", { hasText: "VERSION_NOT_FOUND" }).waitFor({ timeout: 15_000 });
      assert.match((await page.locator("#version-error").textContent()) ?? "", /Hint: Name a version/);
    });
  });

  test("requests and fees are counted and plotted as the agent is called, without a reload", async () => {
    await step("usage", async () => {
      const requests = page.locator("#usage-requests");
      await requests.filter({ hasText: /^\d+$/ }).waitFor({ timeout: 15_000 });
      const before = Number(await requests.textContent());
      for (const p of ["/a", "/b", "/c"]) await invoke(p);
      await requests.filter({ hasText: String(before + 3) }).waitFor({ timeout: 15_000 });
      const bars = page.locator("#usage-plot svg rect[data-requests]");
      const drawn = await bars.evaluateAll((rs) =>
        rs.reduce((n, r) => n + Number(r.getAttribute("data-requests")), 0),
      );
      assert.equal(drawn, before + 3, "the bars add up to the requests counted");
      assert.equal(
        await page.locator("#usage-fees").textContent(),
        "0 VEIL",
        "a free agent's calls owe nothing",
      );
      assert.equal(await page.locator("#usage-plot svg polyline").count(), 0);

      // Priced at 0.5 VEIL a call, paid by a caller from its escrow: fees appear, as a line.
      assert.equal((await run(["agent", "price", "owned", "0.5"])).code, 0);
      const deposit = await run(["escrow", "deposit", "10", "--from", "operator-3"]);
      assert.equal(deposit.code, 0, deposit.stderr);
      for (let i = 0; i < 60 && /rising/.test((await run(["agent", "price", "owned"])).stdout); i++) {
        await new Promise((r) => setTimeout(r, 250));
      }
      await invoke("/paid", ["--as", "operator-3"]);
      await invoke("/paid", ["--as", "operator-3"]);
      await page.locator("#usage-fees", { hasText: /^1 VEIL$/ }).waitFor({ timeout: 15_000 });
      assert.equal(await requests.textContent(), String(before + 5));
      // And once the workers have claimed them, what FeeEscrow paid, from its events on chain.
      await page.locator("#usage-settled", { hasText: /^1 VEIL \(2 calls\)$/ }).waitFor({ timeout: 60_000 });
      assert.equal(await page.locator("#usage-plot svg polyline").count(), 1);
      // One line point per 10 s bucket: the two calls may fall in one bucket or two.
      assert.match(
        (await page.locator("#usage-plot").textContent()) ?? "",
        /fees \(line, up to (0\.5|1) VEIL\)/,
      );
      assert.equal(
        await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker),
        1,
        "no reload",
      );
    });
  });

  test("the agent's logs open in the browser with the owner's log key, and not with another key", async () => {
    await step("logs", async () => {
      // Another account has no log key to print (attack): the CLI refuses it.
      const stranger = await run(["logs", "owned", "--print-key", "--from", "operator-1"]);
      assert.notEqual(stranger.code, 0);
      assert.match(stranger.stderr, /LOGS_NOT_OWNER/);
      // A key that is not the owner's is refused in the page before anything is opened.
      await page.locator("#logs-key").fill(`0x${"11".repeat(32)}`);
      await page.locator("#logs-open").click();
      const error = page.locator("#logs-error");
      await error.filter({ hasText: "LOGS_KEY_MISMATCH" }).waitFor({ timeout: 15_000 });
      assert.match((await error.textContent()) ?? "", /Hint: Use the owner's log key/);
      assert.equal(await page.locator("#agent-logs tbody tr.log-log").count(), 0);

      const printed = await run(["logs", "owned", "--print-key"]);
      assert.equal(printed.code, 0, printed.stderr);
      const key = printed.stdout.trim();
      assert.match(key, /^0x[0-9a-f]{64}$/);
      // The key never leaves the page: no request the page makes carries it.
      const sent: string[] = [];
      page.on("request", (r) => sent.push(`${r.url()} ${r.postData() ?? ""}`));
      await page.locator("#logs-key").fill(key);
      await page.locator("#logs-open").click();
      const lines = page.locator("#agent-logs tbody tr");
      await lines.filter({ hasText: "v1 served /paid" }).first().waitFor({ timeout: 20_000 });
      assert.ok(await error.isHidden(), (await error.textContent()) ?? "");
      assert.ok(
        (await lines.filter({ hasText: "v0 served /which" }).count()) >= 1,
        "the rolled-back version's lines too",
      );
      assert.equal(await page.locator("#logs-key").inputValue(), "", "the key is not left on screen");
      // A line written now appears without a reload.
      await invoke("/fresh", ["--as", "operator-3"]);
      await lines.filter({ hasText: "v1 served /fresh" }).waitFor({ timeout: 20_000 });
      const bare = key.slice(2);
      assert.ok(!sent.some((s) => s.includes(bare)), "the log key was sent somewhere");
      assert.equal(
        await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker),
        1,
        "no reload",
      );
    });
  });

  test("workers let pages read an agent's sealed logs and its usage, and nothing else new", async () => {
    const origin = new URL(net().console.url).origin;
    for (const w of net().workers as { url: string }[]) {
      for (const path of ["/v1/agents/owned/logs", "/v1/agents/owned/usage"]) {
        const res = await fetch(`${w.url}${path}`, { headers: { origin } });
        assert.equal(res.status, 200, path);
        assert.equal(res.headers.get("access-control-allow-origin"), "*", path);
      }
      const logs = (await (await fetch(`${w.url}/v1/agents/owned/logs`)).json()) as {
        entries: { sealed: string }[];
      };
      for (const e of logs.entries) {
        assert.ok(
          !Buffer.from(e.sealed, "base64").toString("latin1").includes("served"),
          "logs travel sealed",
        );
      }
    }
    assert.deepEqual(pageErrors, []);
  });
});
