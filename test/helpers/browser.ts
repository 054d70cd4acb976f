import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { repoRoot } from "./cli.ts";

// The console's browser tests share one way to find, start and photograph Debian's chromium
// (issue 16: headless, no sandbox, background networking off).

export const CHROMIUM = "/usr/bin/chromium";
const artifacts = join(repoRoot, "test-artifacts");
const isRoot = process.getuid?.() === 0;

/** Why a browser test cannot run here, or false. As root (CI) chromium is installed instead. */
export const chromiumMissing: string | false =
  !existsSync(CHROMIUM) && !isRoot && `${CHROMIUM} is missing; install it: sudo apt-get install -y chromium`;

/** As root (CI), chromium comes from Debian's packages, as .ci/run installs it. */
function ensureChromium(): void {
  if (existsSync(CHROMIUM) || !isRoot) return;
  console.error("::: installing chromium (apt-get), which the console's tests need");
  const r = spawnSync(
    "sh",
    ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null"],
    { stdio: "inherit" },
  );
  assert.equal(r.status, 0, "apt-get install chromium failed");
}

export interface OpenBrowser {
  browser: Browser;
  page: Page;
  /** Uncaught errors of the page's scripts, in order. */
  pageErrors: string[];
}

/** Starts chromium and opens one page whose uncaught errors are collected. */
export async function openBrowser(): Promise<OpenBrowser> {
  ensureChromium();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-background-networking"],
  });
  const page = await browser.newPage();
  const pageErrors: string[] = [];
  page.on("pageerror", (err) => pageErrors.push(err.message));
  return { browser, page, pageErrors };
}

/**
 * A test step that, when it fails, first saves a screenshot of the page to
 * test-artifacts/PREFIX-NAME.png (issue 16: screenshots of each page on failure).
 */
export function screenshotSteps(
  prefix: string,
  page: () => Page | undefined,
): (name: string, fn: () => Promise<void>) => Promise<void> {
  return async (name, fn) => {
    try {
      await fn();
    } catch (err) {
      const p = page();
      if (p) {
        mkdirSync(artifacts, { recursive: true });
        const file = join(artifacts, `${prefix}-${name}.png`);
        await p.screenshot({ path: file, fullPage: true }).catch(() => undefined);
        console.error(`screenshot of the page: ${file}`);
      }
      throw err;
    }
  };
}
