import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { VeilError } from "../../src/errors/index.ts";
import { verifyDcapQuoteWithQvl } from "../../src/tee/dcap.ts";
import { nobleCrypto } from "../../src/tee/dcap-crypto.ts";
import type { DcapVerified } from "../../src/tee/dcap-types.ts";
import { clearDcapCaches, verifyQuoteWithVeil } from "../../src/tee/dcap-verifier.ts";
import { checkQuoteStructure } from "../../src/tee/quote-structure.ts";
import { repoRoot } from "../helpers/cli.ts";

// Veil's own DCAP verifier against the reference (@phala/dcap-qvl plus the checks Veil added on
// top of it): the same verdict, the same error code, the same result, on the real fixtures and
// on many single-byte changes of them (ADR 0008).
const fixtures = join(repoRoot, "..", "shared", "fixtures", "attestation");
const inWindow = Date.parse("2025-07-01T00:00:00Z") / 1000;
const load = (kind: "sgx" | "tdx") => ({
  quote: readFileSync(join(fixtures, `${kind}_quote`)),
  collateral: JSON.parse(readFileSync(join(fixtures, `${kind}_quote_collateral.json`), "utf8")) as Record<
    string,
    string
  >,
});

type Outcome = { ok: true; result: unknown } | { ok: false; code: string };
const plain = (v: DcapVerified) => ({ ...v, reportData: Buffer.from(v.reportData).toString("hex") });

function outcome(fn: () => DcapVerified): Outcome {
  try {
    return { ok: true, result: plain(fn()) };
  } catch (err) {
    assert.ok(err instanceof VeilError, `expected a VeilError, got ${err}`);
    return { ok: false, code: err.code };
  }
}

function agree(quote: Uint8Array, collateral: unknown, now: number | undefined, what: string): Outcome {
  const opts = now === undefined ? {} : { now };
  const reference = outcome(() => verifyDcapQuoteWithQvl(quote, collateral, opts));
  const veil = outcome(() => verifyQuoteWithVeil(quote, collateral, opts));
  assert.deepEqual(veil, reference, what);
  return veil;
}

describe("Veil's DCAP verifier agrees with dcap-qvl", {
  skip: !existsSync(fixtures) && "../shared/fixtures is not beside the repository",
}, () => {
  for (const kind of ["sgx", "tdx"] as const) {
    test(`${kind.toUpperCase()}: the same result inside the window, the same refusal at today's date`, () => {
      const { quote, collateral } = load(kind);
      assert.equal(agree(quote, collateral, inWindow, "in window").ok, true);
      const today = agree(quote, collateral, undefined, "today");
      assert.deepEqual(today, { ok: false, code: "ATTESTATION_EXPIRED" });
      // Warm (cached collateral and chain) and cold give the same answer.
      clearDcapCaches();
      assert.equal(agree(quote, collateral, inWindow, "cold").ok, true);
      // The browser's primitives (@noble) give the same answer as node:crypto.
      const noble = plain(verifyQuoteWithVeil(quote, collateral, { now: inWindow, crypto: nobleCrypto }));
      assert.deepEqual(noble, plain(verifyQuoteWithVeil(quote, collateral, { now: inWindow })));
    });

    test(`${kind.toUpperCase()}: the same verdict with one quote byte changed, at many positions`, () => {
      const { quote, collateral } = load(kind);
      const step = Math.max(1, Math.floor(quote.length / 250));
      let refused = 0;
      for (let i = 0; i < quote.length; i += step) {
        const altered = Buffer.from(quote);
        altered[i] = altered[i]! ^ 0x01;
        if (!agree(altered, collateral, inWindow, `quote byte ${i}`).ok) refused++;
      }
      assert.ok(refused > 0);
    });

    test(`${kind.toUpperCase()}: the same verdict with one collateral byte changed, in every field`, () => {
      const { quote, collateral } = load(kind);
      for (const [field, text] of Object.entries(collateral)) {
        const hex = /^[0-9a-f]+$/.test(text);
        const step = Math.max(1, Math.floor(text.length / 25));
        for (let i = 0; i < text.length; i += step) {
          const ch = text[i]!;
          const swapped = hex ? (ch === "0" ? "1" : "0") : String.fromCharCode(ch.charCodeAt(0) ^ 1);
          const altered = { ...collateral, [field]: text.slice(0, i) + swapped + text.slice(i + 1) };
          const o = agree(quote, altered, inWindow, `${field}@${i}`);
          assert.equal(o.ok, false, `${field}@${i} was accepted`);
        }
      }
    });
  }

  test("a TCB info dated to expire is refused by both as expired, not as altered", () => {
    const { quote, collateral } = load("sgx");
    const tcb = collateral.tcb_info!.replace('"nextUpdate":"2025-07-19', '"nextUpdate":"2025-06-20');
    assert.deepEqual(agree(quote, { ...collateral, tcb_info: tcb }, inWindow, "expired TCB info"), {
      ok: false,
      code: "ATTESTATION_EXPIRED",
    });
  });

  test("a PCK chain attached to the collateral: the quote's own passes both, any other is refused by both", () => {
    // dcap-qvl prefers a collateral's pck_certificate_chain to the quote's; Veil's verifier ignored
    // the field (issue 18). Now both take it only when it is the quote's own chain (ADR 0020).
    for (const kind of ["sgx", "tdx"] as const) {
      const { quote, collateral } = load(kind);
      const own = checkQuoteStructure(quote).pckChainPem.replace(/\0+$/, "");
      assert.equal(agree(quote, { ...collateral, pck_certificate_chain: own }, inWindow, "own").ok, true);
      assert.equal(agree(quote, { ...collateral, pck_certificate_chain: null }, inWindow, "null").ok, true);
      const other = checkQuoteStructure(load(kind === "sgx" ? "tdx" : "sgx").quote).pckChainPem.replace(
        /\0+$/,
        "",
      );
      const certs = own.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? [];
      assert.ok(certs.length >= 2);
      for (const [what, chain] of [
        ["the other platform's chain", other],
        ["the chain without its leaf", certs.slice(1).join("")],
        ["the chain in another order", [...certs].reverse().join("")],
        ["not PEM at all", "not a chain"],
      ] as const) {
        assert.deepEqual(
          agree(quote, { ...collateral, pck_certificate_chain: chain }, inWindow, what),
          { ok: false, code: "ATTESTATION_COLLATERAL_INVALID" },
          what,
        );
      }
    }
  });
});
