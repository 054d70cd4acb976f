import type { Command, Option } from "commander";
import type { Hex } from "viem";
import { VeilError } from "../errors/index.ts";
import type { NetworkFile } from "../network/config.ts";
import { type AuditCheck, CANNOT_RUN, describeError, type Verdict } from "./audit/types.ts";
import { progress } from "./output.ts";
import { fromOption, type SignerFlags } from "./signer.ts";

// `veil audit`: issue 18's attacks, run from an attacker's side against a live network (ADR 0020).
// Each check lives in src/cli/audit/ (one module per attack); this file runs them and prints.

/** What main.ts lends this command: its shared options and the signer of the other commands. */
export type AuditCliDeps = {
  networkOption: () => Option;
  keyOption: () => Option;
  loadNetwork: (path?: string) => NetworkFile;
  signingKey: (network: NetworkFile, flags: SignerFlags) => Hex;
  action: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>;
};

export type AuditResult = { id: string; title: string; verdict: Verdict; detail: string };

/** A check that has not ended by then is reported as not run, and the audit goes on. */
const CHECK_TIMEOUT_MS = 120_000;

/**
 * Runs `checks` in order against `network` as the holder of `key`, then undoes what it can
 * (the probe agent paused, the made-up worker stopped). `errored` lists the checks that failed
 * for an unexpected reason (reported as skipped: "could not run").
 */
export async function runAudit(
  network: NetworkFile,
  key: Hex,
  checks: readonly AuditCheck[],
  onProgress: (m: string) => void,
): Promise<{ results: AuditResult[]; errored: string[] }> {
  const { auditContext } = await import("./audit/context.ts");
  const ctx = auditContext(network, key, onProgress);
  const results: AuditResult[] = [];
  const errored: string[] = [];
  try {
    for (const [i, check] of checks.entries()) {
      onProgress(`[${i + 1}/${checks.length}] ${check.id}: ${check.title}…`);
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        const finding = await Promise.race([
          check.run(ctx),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no verdict within ${CHECK_TIMEOUT_MS / 1000} s`)),
              CHECK_TIMEOUT_MS,
            );
          }),
        ]);
        results.push({ id: check.id, title: check.title, ...finding });
      } catch (err) {
        const cannot = err instanceof VeilError && err.code === CANNOT_RUN;
        if (!cannot) errored.push(check.id);
        results.push({
          id: check.id,
          title: check.title,
          verdict: "skipped",
          detail: cannot ? (err as VeilError).shortMessage : `could not run: ${describeError(err)}`,
        });
      } finally {
        clearTimeout(timer);
      }
      const last = results[results.length - 1]!;
      onProgress(`${check.id}: ${last.verdict} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    }
  } finally {
    await ctx.cleanup();
  }
  return { results, errored };
}

const LABEL: Record<Verdict, string> = { held: "held", broken: "BROKEN", skipped: "skipped:" };

function printTable(network: NetworkFile, results: AuditResult[]): void {
  const width = Math.max(...results.map((r) => r.id.length));
  const count = (v: Verdict) => results.filter((r) => r.verdict === v).length;
  const lines = [
    `veil audit of ${network.name} (chain ${network.chain.chainId} at ${network.chain.rpcUrl}${network.chain.embedded ? ", embedded" : ""})`,
    ...results.map((r) => `  ${r.id.padEnd(width)}  ${LABEL[r.verdict].padEnd(8)} ${r.detail}`),
    `${results.length} check${results.length === 1 ? "" : "s"}: ${count("held")} held, ${count("broken")} BROKEN, ${count("skipped")} skipped`,
    "",
  ];
  process.stdout.write(lines.join("\n"));
}

export function registerAuditCommand(program: Command, d: AuditCliDeps): void {
  program
    .command("audit")
    .description(
      "run issue 18's attacks against a live network from an attacker's side; exit 1 if any is BROKEN (see docs/adr/0020-trust-holds.md)",
    )
    .addOption(d.networkOption())
    .addOption(fromOption())
    .addOption(d.keyOption())
    .option("--json", "print [{ id, title, verdict, detail }] as JSON")
    .option("--only <ids>", "run only these checks (comma-separated ids)")
    .addHelpText(
      "after",
      "\nThe audit deploys a probe agent (veil-audit-…) and registers a made-up worker from the\n" +
        "signing account, then pauses and stops them. Exit codes: 0 every check held or was skipped,\n" +
        "1 a check is BROKEN, 2 none is but a check could not run for an unexpected reason.\n",
    )
    .action(
      d.action(async (opts: { network?: string; json?: boolean; only?: string } & SignerFlags) => {
        const { CHECKS } = await import("./audit/checks.ts");
        const network = d.loadNetwork(opts.network);
        const checks = selected(CHECKS, opts.only);
        const key = d.signingKey(network, opts);
        const { results, errored } = await runAudit(network, key, checks, progress);
        if (opts.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
        else printTable(network, results);
        if (results.some((r) => r.verdict === "broken")) process.exitCode = 1;
        else if (errored.length > 0) {
          progress(`could not run ${errored.join(", ")}: see above; nothing was found broken`);
          process.exitCode = 2;
        }
      }),
    );
}

function selected(all: readonly AuditCheck[], only: string | undefined): readonly AuditCheck[] {
  if (only === undefined) return all;
  const ids = only
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = ids.filter((id) => !all.some((c) => c.id === id));
  if (unknown.length > 0 || ids.length === 0) {
    throw new VeilError("BAD_ARGUMENT", `"${only}" names no check of veil audit`, {
      ...(unknown.length > 0 ? { context: [`unknown: ${unknown.join(", ")}`] } : {}),
      hint: `The checks: ${all.map((c) => c.id).join(", ")}.`,
    });
  }
  return all.filter((c) => ids.includes(c.id));
}
