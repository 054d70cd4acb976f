import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { privateKeyToAccount } from "viem/accounts";
import { chromiumMissing, openBrowser, screenshotSteps } from "../helpers/browser.ts";
import { startNetwork, stopNetwork, veil } from "../helpers/cli.ts";

// The console's agent page and playground in a real browser (issue 16): Debian's chromium driven
// by playwright-core against a network this file starts. An agent deployed from the CLI is
// opened from the landing page; its verification verdict is computed by the SDK in the page.

/** An agent that echoes, and on /stream answers in three pieces a moment apart. */
function writeEchoAgent(dir: string, tag: string): void {
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: "echo", type: "module", main: "src/index.ts" }),
  );
  writeFileSync(
    join(dir, "src/index.ts"),
    `export default {
  async fetch(request: Request, env: Record<string, unknown>): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/env")
      return new Response("API_KEY " + (typeof env.API_KEY === "string" ? env.API_KEY.length + " chars" : "unset"));
    const text = request.method === "POST" ? await request.text() : "";
    if (url.pathname === "/stream") {
      const enc = new TextEncoder();
      const body = new ReadableStream({
        async start(c) {
          for (const piece of ["one ", "two ", "three: " + text]) {
            c.enqueue(enc.encode(piece));
            await new Promise((r) => setTimeout(r, 400));
          }
          c.close();
        },
      });
      return new Response(body, { headers: { "content-type": "text/plain" } });
    }
    return new Response("${tag} " + request.method + " " + url.pathname + " " + text);
  },
};
`,
  );
}

describe("the console's agent page and playground", { timeout: 120_000, skip: chromiumMissing }, () => {
  const work = mkdtempSync(join(tmpdir(), "veil-agent-page-"));
  const dir = join(work, ".veil");
  const env = { VEIL_NETWORK: join(dir, "network.json") };
  const agentDir = join(work, "echo");
  let network: Awaited<ReturnType<typeof startNetwork>> | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let consoleUrl = "";
  let pageErrors: string[] = [];
  const net = () => JSON.parse(readFileSync(join(dir, "network.json"), "utf8"));
  const step = screenshotSteps("agent-page", () => page);

  before(async () => {
    network = await startNetwork(dir);
    consoleUrl = net().console.url;
    writeEchoAgent(agentDir, "v0");
    const deploy = await veil(["deploy", agentDir, "--name", "echo"], { env });
    assert.equal(deploy.code, 0, deploy.stderr);
    ({ browser, page, pageErrors } = await openBrowser());
  });
  after(async () => {
    await browser?.close();
    if (network) await stopNetwork(network.child);
    rmSync(work, { recursive: true, force: true });
  });

  test("the agent's page, opened from the landing page, shows it from the chain and a verdict computed in the browser", async () => {
    await step("agent", async () => {
      await page.goto(consoleUrl);
      await page.locator("#agents a", { hasText: "echo" }).click();
      assert.match(page.url(), /#\/agents\/echo$/);
      await page.evaluate(() => {
        (globalThis as unknown as { marker: number }).marker = 1;
      });
      const verdict = page.locator("#agent-verdict");
      await verdict.filter({ hasText: /^(PASS|FAIL)/ }).waitFor({ timeout: 20_000 });
      assert.equal(await verdict.textContent(), "PASS (INSECURE: simulated TEE)");
      const n = net();
      const user = n.devAccounts.accounts.find((a: { role: string }) => a.role === "user");
      assert.equal(
        await page.locator("#agent-owner").textContent(),
        privateKeyToAccount(user.privateKey).address,
      );
      assert.equal(await page.locator("#agent-price").textContent(), "free");
      assert.equal(await page.locator("#agent-access").textContent(), "public");
      assert.equal(await page.locator("#agent-version").textContent(), "0 of 1");
      assert.equal(await page.locator("#agent-versions tbody tr[data-version]").count(), 1);
      const checks = (await page.locator("#agent-checks").textContent()) ?? "";
      assert.match(checks, /agent key certificates: agent 0x[0-9a-fA-F]{40} ← cluster/);
      assert.match(checks, /simulated evidence \(INSECURE/);
      const workers = page.locator("#agent-workers tbody tr[data-address]");
      await workers.nth(n.workers.length - 1).waitFor({ timeout: 10_000 });
      for (const w of n.workers as { address: string }[]) {
        const row = workers.filter({ hasText: w.address });
        assert.equal(await row.count(), 1, `worker ${w.address} serves it`);
        await row.locator(".verdict", { hasText: "PASS" }).waitFor({ timeout: 10_000 });
        assert.equal(await row.locator(".verdict").textContent(), "PASS (INSECURE: simulated TEE)");
      }
    });
  });

  test("workers answer the page's cross-origin reads of their public facts, and nothing else of theirs", async () => {
    const origin = new URL(consoleUrl).origin;
    for (const w of net().workers as { url: string }[]) {
      for (const path of ["/v1/health", "/v1/attestation", "/v1/agents/echo"]) {
        const res = await fetch(`${w.url}${path}`, { headers: { origin } });
        assert.equal(res.status, 200, path);
        assert.equal(res.headers.get("access-control-allow-origin"), "*", path);
      }
      const invoke = await fetch(`${w.url}/v1/agents/echo/invoke/`, { headers: { origin } });
      assert.equal(invoke.headers.get("access-control-allow-origin"), null, "invocations stay same-origin");
    }
  });

  test("a new version deployed from the CLI shows on the agent page without a reload", async () => {
    await step("agent-live", async () => {
      writeEchoAgent(agentDir, "v1");
      const deploy = await veil(["deploy", agentDir, "--name", "echo"], { env });
      assert.equal(deploy.code, 0, deploy.stderr);
      await page.locator("#agent-version", { hasText: "1 of 2" }).waitFor({ timeout: 15_000 });
      const rows = page.locator("#agent-versions tbody tr[data-version]");
      assert.equal(await rows.count(), 2);
      assert.equal(await rows.filter({ hasText: "active" }).getAttribute("data-version"), "1");
      await page.locator("#agent-verdict", { hasText: /^PASS/ }).waitFor({ timeout: 15_000 });
      assert.equal(
        await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker),
        1,
        "no reload",
      );
      assert.ok(await page.locator("#error").isHidden(), (await page.locator("#error").textContent()) ?? "");
      assert.deepEqual(pageErrors, []);
    });
  });

  test("the playground invokes the agent end-to-end encrypted from the browser: the answer as it streams, a receipt checked and explained", async () => {
    await step("playground-encrypted", async () => {
      await page.locator("#agent-try").click();
      assert.match(page.url(), /#\/playground\/echo$/);
      await page
        .locator("#pg-agent option", { hasText: "echo" })
        .waitFor({ state: "attached", timeout: 10_000 });
      assert.equal(await page.locator("#pg-agent").inputValue(), "echo");
      await page.locator("#pg-method").selectOption("POST");
      await page.locator("#pg-path").fill("/stream");
      await page.locator("#pg-body").fill("sealed hello");
      assert.ok(await page.locator("#pg-encrypt").isChecked(), "encrypted by default");
      const sent: { url: string; body: Buffer | null }[] = [];
      const onRequest = (r: import("playwright-core").Request) => {
        // To the gateway (the chain's JSON-RPC is POSTed to as well).
        if (r.method() === "POST" && r.url().startsWith(net().gateway.url))
          sent.push({ url: r.url(), body: r.postDataBuffer() });
      };
      page.on("request", onRequest);
      await page.locator("#pg-send").click();
      const answer = page.locator("#pg-answer");
      // The first piece is on the page while the agent is still writing the rest.
      await answer.filter({ hasText: /^one/ }).waitFor({ timeout: 20_000 });
      const early = (await answer.textContent()) ?? "";
      assert.ok(!early.includes("three"), `the answer showed only at its end: "${early}"`);
      assert.equal(await page.locator("#pg-receipt-verdict").textContent(), "");
      await page.locator("#pg-receipt-verdict", { hasText: /Receipt/ }).waitFor({ timeout: 20_000 });
      page.off("request", onRequest);
      assert.ok(
        await page.locator("#pg-error").isHidden(),
        (await page.locator("#pg-error").textContent()) ?? "",
      );
      assert.equal(await page.locator("#pg-receipt-verdict").textContent(), "Receipt valid");
      assert.equal(await answer.textContent(), "one two three: sealed hello");
      assert.ok(Number(await answer.getAttribute("data-pieces")) >= 3, "it came in pieces");
      assert.match(
        (await page.locator("#pg-status").textContent()) ?? "",
        /^200, .*end-to-end encrypted, streamed/,
      );
      const receipt = page.locator("#pg-receipt");
      assert.match(
        (await receipt.locator('[data-check="signature"]').textContent()) ?? "",
        /^Signature valid/,
      );
      const worker = (await receipt.locator('[data-check="worker"]').textContent()) ?? "";
      assert.ok(
        (net().workers as { address: string }[]).some((w) => worker.includes(w.address)),
        `the receipt names one of the network's workers: ${worker}`,
      );
      assert.match(
        (await receipt.locator('[data-check="usage"]').textContent()) ?? "",
        /CPU \d+\.\d ms, wall \d+\.\d ms/,
      );
      assert.match(
        (await receipt.locator('[data-check="carrier"]').textContent()) ?? "",
        /sealed with the answer/,
      );
      // What left the browser: one sealed envelope, to the encrypted route, without the body in clear.
      assert.equal(sent.length, 1, JSON.stringify(sent.map((r) => r.url)));
      assert.match(sent[0]!.url, /\/v1\/agents\/\d+\/encrypted$/);
      assert.ok(!sent[0]!.body?.includes("sealed hello"), "the body went out in clear");
    });
  });

  test("plain invocations from the playground carry checked receipts too: a header for a whole answer, the gateway's pickup for a streamed one", async () => {
    await step("playground-plain", async () => {
      await page.locator("#pg-encrypt").uncheck();
      for (const [path, body, carrier] of [
        ["/stream", "in clear", /picked up from the gateway by the request's nonce/],
        ["/whole", "in clear", /x-veil-receipt header/],
      ] as const) {
        await page.locator("#pg-path").fill(path);
        await page.locator("#pg-body").fill(body);
        await page.locator("#pg-send").click();
        await page.locator("#pg-receipt-verdict", { hasText: /Receipt/ }).waitFor({ timeout: 20_000 });
        assert.equal(await page.locator("#pg-receipt-verdict").textContent(), "Receipt valid", path);
        assert.match((await page.locator("#pg-receipt [data-check=carrier]").textContent()) ?? "", carrier);
        assert.match(
          (await page.locator("#pg-answer").textContent()) ?? "",
          path === "/stream" ? /^one two three: in clear$/ : /^v1 POST \/whole in clear$/,
        );
        await page.locator("#pg-send:not([disabled])").waitFor();
      }
    });
  });

  test("an answer altered on the way fails its receipt check, shown with the error's code, message and hint", async () => {
    await step("playground-tampered", async () => {
      await page.route("**/agents/echo/whole", async (route) => {
        const response = await route.fetch();
        await route.fulfill({ response, body: `${await response.text()} (altered)` });
      });
      await page.locator("#pg-send").click();
      const error = page.locator("#pg-error");
      await error.waitFor({ timeout: 20_000 });
      assert.match(
        (await error.textContent()) ?? "",
        /^RECEIPT_INVALID The response's receipt does not verify: the body is not the one the agent signedHint: Do not trust this response/,
      );
      assert.equal(
        await page.locator("#pg-receipt-verdict").textContent(),
        "Receipt INVALID (RECEIPT_INVALID)",
      );
      await page.unroute("**/agents/echo/whole");
      assert.deepEqual(pageErrors, []);
    });
  });

  test("the owner sets a secret from the agent's page, sealed in the browser; DEV ONLY signing is said plainly", async () => {
    await step("secrets", async () => {
      await page.goto(`${consoleUrl}#/agents/echo`);
      const signer = page.locator("#secret-signer");
      await signer.filter({ hasText: /^DEV ONLY/ }).waitFor({ timeout: 15_000 });
      assert.equal(await signer.getAttribute("class"), "insecure");
      assert.match((await page.locator("#agent-secrets").textContent()) ?? "", /^none$/);
      const toChain: string[] = [];
      const onRequest = (r: import("playwright-core").Request) => {
        if (r.method() === "POST" && r.url().startsWith(net().chain.rpcUrl)) toChain.push(r.postData() ?? "");
      };
      page.on("request", onRequest);
      await page.locator("#secret-name").fill("API_KEY");
      await page.locator("#secret-value").fill("s3cret");
      await page.locator("#secret-set").click();
      await page
        .locator("#secret-result", { hasText: /^Set API_KEY: sealed here/ })
        .waitFor({ timeout: 20_000 });
      page.off("request", onRequest);
      assert.ok(
        await page.locator("#secret-error").isHidden(),
        (await page.locator("#secret-error").textContent()) ?? "",
      );
      assert.match(
        (await page.locator("#secret-result").textContent()) ?? "",
        /signed by the DEV ONLY development account/,
      );
      const sent = toChain.filter((b) => b.includes("eth_sendTransaction"));
      assert.equal(sent.length, 1, "one transaction");
      for (const body of toChain) {
        assert.ok(
          !body.includes("s3cret") && !body.includes(Buffer.from("s3cret").toString("hex")),
          "the value left in clear",
        );
      }
      await page.locator("#agent-secrets", { hasText: "API_KEY" }).waitFor({ timeout: 10_000 });
      // The agent has it in its env (sealed to it, opened only inside its worker).
      await page.goto(`${consoleUrl}#/playground/echo`);
      await page
        .locator("#pg-agent option", { hasText: "echo" })
        .waitFor({ state: "attached", timeout: 10_000 });
      await page.locator("#pg-method").selectOption("GET");
      await page.locator("#pg-path").fill("/env");
      const deadline = Date.now() + 20_000;
      let seen = "";
      while (Date.now() < deadline) {
        await page.locator("#pg-send:not([disabled])").click();
        await page.locator("#pg-receipt-verdict", { hasText: /Receipt/ }).waitFor({ timeout: 10_000 });
        seen = (await page.locator("#pg-answer").textContent()) ?? "";
        if (seen === "API_KEY 6 chars") break;
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.equal(seen, "API_KEY 6 chars");
      assert.deepEqual(pageErrors, []);
    });
  });
});
