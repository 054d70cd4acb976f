import { type Hex, hexToBytes } from "viem";
import { type VeilChain, WorkerStatus, workerStatusName } from "../chain/index.ts";
import { VeilError } from "../errors/index.ts";
// The tee modules one by one, not ../tee/index.ts: this file is bundled for browsers, and the
// backends behind the index need Node (test/sdk/verify-agent-browser.test.ts checks).
import type { Evidence, TeeKind } from "../tee/enclave.ts";
import { evaluateEvidence } from "../tee/policy.ts";
import { identityReportData } from "../tee/report-data.ts";
import { evidenceHash, verifyEvidence } from "../tee/verify.ts";
import { verifyAgentIdentity } from "./identity.ts";

export type VerifyCheck = { name: string; ok: boolean; detail: string };

export type WorkerVerdict = {
  address: Hex;
  url: string;
  pass: boolean;
  tee?: TeeKind;
  insecure?: boolean;
  measurement?: Hex;
  tcbStatus?: string;
  confidence?: number;
  checks: VerifyCheck[];
};

export type AgentVerdict = {
  pass: boolean;
  agent?: { id: string; name: string; owner: Hex; codeHash: Hex; address?: Hex };
  /** Agent-level checks: on chain, key certificates, at least one worker serving it. */
  checks: VerifyCheck[];
  workers: WorkerVerdict[];
  /** True when a passing worker runs on the simulated TEE: no confidentiality at all. */
  insecure: boolean;
};

export type VerifyAgentOptions = {
  /** Seconds since the epoch to verify at (collateral windows); default now. */
  now?: number;
  /**
   * The hash of the code the caller built from the agent's source (`buildAgent`, `veil verify
   * --source`): the agent's current code on chain must be it.
   */
  sourceCodeHash?: Hex;
  /** Fail workers on the simulated backend even when the policy allows them. */
  requireHardware?: boolean;
  /** How long to wait for each worker's answers. */
  timeoutMs?: number;
  fetch?: typeof fetch;
};

/**
 * Everything a caller should check before trusting an agent, in one step, trusting nothing
 * but the chain: the agent's current code hash; its key certificates up to the epoch's master
 * key; and for each worker serving it, that the worker is registered and within the policy,
 * that the evidence it serves is the evidence on chain, that the quote (and collateral)
 * verify and are bound to the worker's registered keys, that the measurement and TCB level
 * meet the policy, and that it runs the chain's current code. Passes only if at least one
 * worker serves the agent and every serving worker passes.
 */
export async function verifyAgent(
  chain: VeilChain,
  nameOrId: string,
  options: VerifyAgentOptions = {},
): Promise<AgentVerdict> {
  const checks: VerifyCheck[] = [];
  const verdict = (workers: WorkerVerdict[] = []): AgentVerdict => {
    const passing = workers.filter((w) => w.pass);
    return {
      pass: checks.every((c) => c.ok) && workers.length > 0 && passing.length === workers.length,
      checks,
      workers,
      insecure: passing.some((w) => w.insecure === true),
    };
  };
  let id: bigint;
  if (/^\d{1,30}$/.test(nameOrId)) id = BigInt(nameOrId);
  else id = await chain.agentIdOf(nameOrId);
  let agent: Awaited<ReturnType<VeilChain["getAgent"]>>;
  try {
    if (id === 0n) throw new VeilError("AGENT_NOT_FOUND", `There is no agent "${nameOrId}"`, {});
    agent = await chain.getAgent(id);
  } catch (err) {
    if (err instanceof VeilError && err.code === "AGENT_NOT_FOUND") {
      checks.push({ name: "agent on chain", ok: false, detail: `there is no agent "${nameOrId}"` });
      return verdict();
    }
    throw err;
  }
  checks.push({
    name: "agent on chain",
    ok: true,
    // Versions are numbered from 0 everywhere (inspect, agent versions, rollback, remove-version).
    detail: `id ${agent.id}, version ${agent.currentVersion} (versions 0–${agent.versionCount - 1}), code ${agent.codeHash}`,
  });
  if (options.sourceCodeHash) {
    const built = options.sourceCodeHash.toLowerCase() === agent.codeHash.toLowerCase();
    checks.push({
      name: "code built from source",
      ok: built,
      detail: built
        ? `the source builds to ${agent.codeHash}, the code on chain`
        : `the source builds to ${options.sourceCodeHash}, the chain has ${agent.codeHash}`,
    });
  }
  let address: Hex | undefined;
  try {
    const identity = await verifyAgentIdentity(chain, agent.id);
    address = identity.address;
    checks.push({
      name: "agent key certificates",
      ok: true,
      detail: `agent ${identity.address} ← cluster ${identity.clusterSigner} ← master ${identity.masterSigner} (epoch ${identity.epoch}, on chain)`,
    });
  } catch (err) {
    if (!(err instanceof VeilError)) throw err;
    checks.push({ name: "agent key certificates", ok: false, detail: `${err.code}: ${err.shortMessage}` });
  }
  const agentSummary = {
    id: agent.id.toString(),
    name: agent.name,
    owner: agent.owner,
    codeHash: agent.codeHash,
    ...(address ? { address } : {}),
  };

  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 3_000;
  const getJson = async (url: string): Promise<Record<string, unknown> | undefined> => {
    try {
      const res = await doFetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) return undefined;
      return (await res.json()) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  };

  // Which workers serve it: asked of every active worker on chain, not of the gateway.
  const registered = (await chain.listWorkers()).filter(
    (w) => w.status === WorkerStatus.Active && /^https?:\/\//.test(w.endpoint),
  );
  const serving = (
    await Promise.all(
      registered.map(async (w) => {
        const url = w.endpoint.replace(/\/$/, "");
        const state = await getJson(`${url}/v1/agents/${agent.id}`);
        return state && state.status === "ready" ? { record: w, url, state } : undefined;
      }),
    )
  ).filter((x) => x !== undefined);

  const workers = await Promise.all(
    serving.map(async ({ record, url, state }): Promise<WorkerVerdict> => {
      const wChecks: VerifyCheck[] = [];
      const out: WorkerVerdict = { address: record.address, url, pass: false, checks: wChecks };
      const attested = await chain.isWorkerAttested(record.address);
      wChecks.push({
        name: "registered and within policy",
        ok: attested,
        detail: attested
          ? `active since ${new Date(Number(record.attestedAt) * 1000).toISOString()} (last attestation)`
          : `status ${workerStatusName(record.status)}, but its evidence is too old or the policy changed`,
      });
      const codeOk = state.codeHash === agent.codeHash;
      wChecks.push({
        name: "runs the current code",
        ok: codeOk,
        detail: codeOk
          ? `${agent.codeHash}`
          : `serves ${String(state.codeHash)}, the chain says ${agent.codeHash}`,
      });
      const body = await getJson(`${url}/v1/attestation`);
      const ev = body?.evidence as { tee?: unknown; bytes?: unknown } | undefined;
      if (typeof ev?.tee !== "string" || typeof ev.bytes !== "string") {
        wChecks.push({ name: "evidence", ok: false, detail: "the worker serves no attestation evidence" });
        return out;
      }
      const evidence: Evidence = {
        tee: ev.tee as TeeKind,
        bytes: Uint8Array.from(atob(ev.bytes), (c) => c.charCodeAt(0)),
      };
      const sameEvidence = evidenceHash(evidence).toLowerCase() === record.evidenceHash.toLowerCase();
      wChecks.push({
        name: "evidence",
        ok: sameEvidence,
        detail: sameEvidence
          ? `the evidence served is the evidence on chain (${record.evidenceHash.slice(0, 18)}…)`
          : "the evidence served is not the evidence registered on chain",
      });
      const expectedReportData = identityReportData(record.address, hexToBytes(record.encryptionKey));
      try {
        const v = verifyEvidence(evidence, {
          expectedReportData,
          ...(options.now !== undefined ? { now: options.now } : {}),
        });
        out.tee = v.tee;
        out.insecure = v.insecure;
        out.measurement = v.measurement;
        out.tcbStatus = v.tcbStatus;
        wChecks.push({
          name: "quote",
          ok: true,
          detail: v.insecure
            ? "simulated evidence (INSECURE: development only, no hardware protection), bound to the worker's registered keys"
            : `${v.tee.toUpperCase()} quote and collateral verify to Intel's root, TCB ${v.tcbStatus}, bound to the worker's registered keys`,
        });
      } catch (err) {
        if (!(err instanceof VeilError)) throw err;
        wChecks.push({ name: "quote", ok: false, detail: `${err.code}: ${err.shortMessage}` });
        return out;
      }
      try {
        const p = await evaluateEvidence(evidence, chain, {
          expectedReportData,
          ...(options.now !== undefined ? { now: options.now } : {}),
        });
        out.confidence = p.confidence;
        wChecks.push({
          name: "measurement and TCB against the policy",
          ok: true,
          detail: `measurement ${p.measurement} is allowed; confidence level ${p.confidence}`,
        });
      } catch (err) {
        if (!(err instanceof VeilError)) throw err;
        wChecks.push({
          name: "measurement and TCB against the policy",
          ok: false,
          detail: `${err.code}: ${err.shortMessage}`,
        });
      }
      if (options.requireHardware && out.insecure) {
        wChecks.push({ name: "hardware TEE", ok: false, detail: "the worker runs the simulated backend" });
      }
      out.pass = wChecks.every((c) => c.ok);
      return out;
    }),
  );
  if (workers.length === 0) {
    checks.push({ name: "served", ok: false, detail: "no registered worker serves the agent right now" });
  }
  return { ...verdict(workers), agent: agentSummary };
}

/** The verdict as `veil verify NAME` prints it. */
export function formatAgentVerdict(v: AgentVerdict): string[] {
  const lines: string[] = [];
  if (v.agent) lines.push(`agent ${v.agent.name} (id ${v.agent.id}), owner ${v.agent.owner}`);
  for (const c of v.checks) lines.push(`${c.ok ? "✔" : "✘"} ${c.name}: ${c.detail}`);
  for (const w of v.workers) {
    lines.push("");
    lines.push(
      `worker ${w.address} at ${w.url}${w.tee ? ` (${w.tee}${w.insecure ? ", INSECURE" : ""})` : ""}`,
    );
    for (const c of w.checks) lines.push(`  ${c.ok ? "✔" : "✘"} ${c.name}: ${c.detail}`);
  }
  lines.push("");
  lines.push(
    v.pass
      ? v.insecure
        ? "PASS (INSECURE: simulated TEE; fine for development, never for secrets that matter)"
        : "PASS"
      : "FAIL",
  );
  return lines;
}
