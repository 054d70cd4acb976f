import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import vm from "node:vm";
import { bundleForBrowser } from "../helpers/browser-bundle.ts";
import { repoRoot } from "../helpers/cli.ts";

// verifyAgent must run in a browser: its code path may use web APIs and @noble only. These
// tests bundle it for platform=browser and fail on any Node built-in, then run the DCAP and
// simulated-evidence verification it relies on in a bare `vm` context (no process, Buffer,
// require: only what a browser has).

const bundle = bundleForBrowser;

test("the SDK's verifyAgent bundles for the browser without any Node built-in", async () => {
  const found: string[] = [];
  const code = await bundle(
    'export { verifyAgent, formatAgentVerdict } from "./src/sdk/verify-agent.ts";',
    found,
  );
  assert.deepEqual(found, [], "Node built-ins pulled into the browser bundle");
  assert.ok(code.length > 10_000);
});

const fixtures = join(repoRoot, "..", "shared", "fixtures", "attestation");

test("its verification runs in a context with web APIs only", {
  skip: !existsSync(fixtures) && "../shared/fixtures is not beside the repository",
}, async () => {
  const found: string[] = [];
  const code = await bundle(
    `export { verifyEvidence } from "./src/tee/verify.ts";
     export { encodeDcapEvidence } from "./src/tee/dcap-evidence.ts";
     export { dcapCrypto } from "./src/tee/dcap-crypto.ts";
     export { verifyAgent } from "./src/sdk/verify-agent.ts";`,
    found,
  );
  assert.deepEqual(found, []);
  // What a browser offers (and nothing of Node's).
  const context = vm.createContext({
    TextEncoder,
    TextDecoder,
    atob,
    btoa,
    crypto: globalThis.crypto,
    URL,
    AbortSignal,
    quoteHex: readFileSync(join(fixtures, "sgx_quote")).toString("hex"),
    collateralJson: readFileSync(join(fixtures, "sgx_quote_collateral.json"), "utf8"),
  });
  const run = (script: string) => vm.runInContext(`${code}\n${script}`, context, { timeout: 60_000 });
  const result = JSON.parse(
    run(`(() => {
      if (typeof process !== "undefined" || typeof Buffer !== "undefined" || typeof require !== "undefined")
        throw new Error("Node globals leaked into the context");
      const quote = new Uint8Array(quoteHex.match(/../g).map((h) => parseInt(h, 16)));
      const collateral = JSON.parse(collateralJson);
      const now = Date.parse("2025-07-01T00:00:00Z") / 1000;
      const expectedReportData = new TextEncoder().encode("Hello, world!");
      const ok = veil.verifyEvidence(veil.encodeDcapEvidence("sgx", quote, collateral), { expectedReportData, now });
      const altered = quote.slice();
      altered[100] ^= 1;
      let refused = "";
      try {
        veil.verifyEvidence(veil.encodeDcapEvidence("sgx", altered, collateral), { expectedReportData, now });
      } catch (e) { refused = e.code; }
      let expired = "";
      try {
        veil.verifyEvidence(veil.encodeDcapEvidence("sgx", quote, collateral), { expectedReportData });
      } catch (e) { expired = e.code; }
      return JSON.stringify({
        crypto: veil.dcapCrypto().name,
        tee: ok.tee, tcbStatus: ok.tcbStatus, measurement: ok.measurement, confidence: ok.confidence,
        refused, expired, verifyAgent: typeof veil.verifyAgent,
      });
    })()`),
  );
  assert.deepEqual(result, {
    crypto: "noble",
    tee: "sgx",
    tcbStatus: "ConfigurationAndSWHardeningNeeded",
    measurement: "0x33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb",
    confidence: 4,
    refused: "ATTESTATION_INVALID",
    expired: "ATTESTATION_EXPIRED",
    verifyAgent: "function",
  });
});
