import type { Hex } from "viem";
import type { AgentRecord, VeilChain } from "../chain/index.ts";
import { VeilError } from "../errors/index.ts";
import {
  DEFAULT_AGENT_LIMITS,
  type EffectiveLimits,
  effectiveLimits,
  type RuntimeLimits,
} from "../network/limits.ts";
import { DEFAULT_EGRESS } from "../sandbox/egress.ts";
import type { AgentCaller } from "../sandbox/host-agents.ts";
import type { LlmSigner } from "../sandbox/host-llm.ts";
import { IsolateSandbox } from "../sandbox/isolate.ts";
import type { AgentPlacement } from "../sandbox/placement.ts";
import type { Sandbox, SandboxLimits } from "../sandbox/types.ts";
import { prewarmIsolate } from "../sandbox/warm-isolates.ts";
import { DEFAULT_STATE_QUOTA, EncryptedAgentState, type StateQuota } from "../storage/agent-state.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import type { StateStore } from "../storage/state-store.ts";
import type { FeeCollector } from "./fees.ts";
import type { AgentIdentity, AgentKeyring } from "./keyring.ts";
import { PolicyGate } from "./policy.ts";
import type { QuotaHomes } from "./quota-home.ts";
import type { ReplayGuard } from "./replay-guard.ts";

export type AgentState =
  | { status: "loading"; record: AgentRecord }
  | {
      status: "ready";
      record: AgentRecord;
      sandbox: Sandbox;
      loadedAt: number;
      identity: AgentIdentity | undefined;
      /** What this worker enforces for the agent: its owner's limits within the network's maxima. */
      limits: EffectiveLimits;
    }
  | { status: "failed"; record: AgentRecord; error: VeilError; failedAt: number };

export type AgentTableOptions = {
  chain: VeilChain;
  blobs: BlobStore;
  limits?: Partial<SandboxLimits>;
  log: (agent: AgentRecord, level: string, message: string) => void;
  pollIntervalMs?: number;
  /** The most any agent may ask for on this network; owners' limits are clamped to these. */
  maxima?: RuntimeLimits;
  /** Where agents' ctx.state lives (sealed under each agent's state key). */
  stateStore?: StateStore;
  stateQuota?: StateQuota;
  /** Signs agents' LLM call receipts with this worker's identity (see sandbox/host-llm.ts). */
  signLlm?: LlmSigner;
  /** Makes an agent's ctx.agents.call caller (see agent-calls.ts). */
  agentCaller?: (record: AgentRecord, identity: AgentIdentity | undefined) => AgentCaller;
  /** The FeeEscrow that prepays agents with a price (see policy.ts). */
  feeEscrow?: Hex;
  /** Takes paid calls' vouchers for this worker (fees.ts). */
  fees?: FeeCollector;
  /** Counts quotas across workers (quota-home.ts). */
  quotas?: QuotaHomes;
  /** Private destinations this worker's operator lets agents reach (none when absent). */
  allowPrivateEgress?: readonly string[];
  /** The replay guard over the nonce space this worker shares with the others (replay-guard.ts). */
  replay?: ReplayGuard;
  /** Where agents run: heavy or hostile ones are moved to the sandbox process (sandbox/placement.ts). */
  placement?: AgentPlacement;
};

/** Retry loading a failed agent (a bundle not yet in the store, say) after this long. */
const RETRY_FAILED_MS = 2_000;

/**
 * The agents this worker serves, kept in step with the AgentRegistry: it reads them all at
 * start, then follows the registry's events block by block. Only code whose hash the chain
 * lists as current is ever loaded, and the bundle's bytes are checked against that hash.
 */
export class AgentTable {
  readonly #opts: AgentTableOptions;
  readonly #agents = new Map<string, AgentState>();
  readonly #byName = new Map<string, string>();
  #lastBlock = -1n;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #keyring: AgentKeyring | undefined;
  /** Pause, removed code, access, quota and price: checked before every invocation. */
  readonly policies: PolicyGate;

  constructor(options: AgentTableOptions) {
    this.#opts = options;
    this.policies = new PolicyGate({
      chain: options.chain,
      ...(options.feeEscrow ? { feeEscrow: options.feeEscrow } : {}),
      ...(options.fees ? { fees: options.fees } : {}),
      ...(options.quotas ? { quotas: options.quotas } : {}),
      ...(options.replay ? { replay: options.replay } : {}),
    });
  }

  /** Once the worker holds the cluster key, agents get their keys and secrets. */
  setKeyring(keyring: AgentKeyring): void {
    this.#keyring = keyring;
  }

  async start(): Promise<void> {
    // The first agent deployed after start should not pay for starting V8.
    prewarmIsolate(DEFAULT_AGENT_LIMITS.memoryMb);
    const head = await this.#opts.chain.blockNumber();
    const records = await this.#opts.chain.listAgents();
    this.#lastBlock = head;
    await Promise.all(records.map((r) => this.#apply(r)));
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const state of this.#agents.values()) if (state.status === "ready") state.sandbox.dispose();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#poll()
        .catch((err) => console.error(`following the chain: ${(err as Error).message}`))
        .finally(() => this.#schedule());
    }, this.#opts.pollIntervalMs ?? 200);
  }

  async #poll(): Promise<void> {
    const head = await this.#opts.chain.blockNumber();
    if (head > this.#lastBlock) {
      const events = await this.#opts.chain.agentEvents(this.#lastBlock + 1n, head);
      for (const e of events) this.policies.invalidate(e.id);
      const touched = new Set(events.filter((e) => e.kind !== "limits").map((e) => e.id));
      // Secrets changed: the agent restarts with its new env. So do limits that changed, whatever
      // else changed in the same poll: a re-deploy of the same code with new limits lands a version
      // and a limits event together, and skipping the reload (same code hash) left the old
      // limits, a wider egress list among them, in force.
      const keyed = await this.#opts.chain.agentKeyEvents(this.#lastBlock + 1n, head);
      const reload = new Set<bigint>([
        ...keyed,
        ...events.filter((e) => e.kind === "limits").map((e) => e.id),
      ]);
      for (const id of reload) {
        if (touched.has(id)) continue;
        const state = this.#agents.get(id.toString());
        if (state) await this.#apply(state.record, true);
      }
      for (const id of touched) {
        // Re-read the agent rather than trust event order: the chain's current state wins.
        await this.#apply(await this.#opts.chain.getAgent(id), reload.has(id));
      }
      this.#lastBlock = head;
    }
    const now = Date.now();
    for (const state of this.#agents.values()) {
      if (state.status === "failed" && now - state.failedAt > RETRY_FAILED_MS && state.error.retryable) {
        await this.#apply(state.record, true);
      }
    }
  }

  async #apply(record: AgentRecord, force = false): Promise<void> {
    const key = record.id.toString();
    const current = this.#agents.get(key);
    if (!force && current && current.record.codeHash === record.codeHash && current.status !== "failed") {
      current.record = record;
      return;
    }
    this.#byName.set(record.name, key);
    if (current?.status !== "ready") this.#agents.set(key, { status: "loading", record });
    try {
      const code = new TextDecoder("utf-8", { fatal: true }).decode(
        await this.#opts.blobs.get(record.codeHash),
      );
      const identity = this.#keyring ? await this.#keyring.identity(record.id) : undefined;
      const limits = effectiveLimits(await this.#opts.chain.getAgentLimits(record.id), this.#opts.maxima);
      const secrets = this.#keyring
        ? await this.#keyring.secrets(record.id, (name) =>
            this.#opts.log(
              record,
              "error",
              `secret ${name} does not open with this agent's key; it is left out of env`,
            ),
          )
        : {};
      const place = this.#opts.placement ?? IsolateSandbox;
      const sandbox = await place.create({
        code,
        meta: {
          id: key,
          name: record.name,
          codeHash: record.codeHash,
          ...(identity ? { address: identity.address } : {}),
          secrets,
        },
        ...(identity ? { secretKey: identity.keys.derivedSecretsKey } : {}),
        ...(identity && this.#opts.stateStore && this.#keyring
          ? {
              state: new EncryptedAgentState(
                this.#opts.stateStore,
                record.id,
                this.#keyring.stateKeys(record.id, identity),
                {
                  ...(this.#opts.stateQuota ?? DEFAULT_STATE_QUOTA),
                  maxBytes: limits.maxStateBytes,
                },
              ),
            }
          : {}),
        limits: {
          memoryMb: limits.memoryMb,
          cpuTimeMs: limits.cpuTimeMs,
          wallTimeMs: limits.wallTimeMs,
          maxResponseBytes: limits.maxResponseBytes,
          maxConcurrent: limits.maxConcurrent,
          egress: {
            ...DEFAULT_EGRESS,
            allowHosts: limits.egressHosts,
            privateAllowed: [...(this.#opts.allowPrivateEgress ?? [])],
          },
          ...this.#opts.limits,
        },
        log: (level, message) => this.#opts.log(record, level, message),
        ...(this.#opts.signLlm ? { llmSigner: this.#opts.signLlm } : {}),
        ...(this.#opts.agentCaller ? { agentCaller: this.#opts.agentCaller(record, identity) } : {}),
      });
      const previous = this.#agents.get(key);
      this.#agents.set(key, { status: "ready", record, sandbox, loadedAt: Date.now(), identity, limits });
      if (previous?.status === "ready") previous.sandbox.dispose();
      console.error(`agent ${record.name} (#${key}) serving code ${record.codeHash.slice(0, 18)}…`);
    } catch (err) {
      const error =
        err instanceof VeilError
          ? err
          : new VeilError("AGENT_LOAD_FAILED", `Agent ${record.name} could not be loaded`, {
              cause: err,
              status: 502,
            });
      this.#agents.set(key, { status: "failed", record, error, failedAt: Date.now() });
      console.error(`agent ${record.name} (#${key}) failed to load: ${error.shortMessage}`);
    }
  }

  /** The agent by id or name. */
  get(idOrName: string): AgentState | undefined {
    const id = /^\d+$/.test(idOrName) ? idOrName : this.#byName.get(idOrName);
    return id === undefined ? undefined : this.#agents.get(id);
  }

  list(): { id: string; name: string; codeHash: Hex; status: AgentState["status"] }[] {
    return [...this.#agents.entries()].map(([id, s]) => ({
      id,
      name: s.record.name,
      codeHash: s.record.codeHash,
      status: s.status,
    }));
  }
}
