import type { Hex } from "viem";
import type { VeilChain } from "../chain/index.ts";
import type { NetworkFile } from "../network/config.ts";
import { networkMaxima } from "../network/config.ts";
import { type EffectiveLimits, effectiveLimits, type RequestedLimits } from "../network/limits.ts";
import { contentHash, httpBlobSource } from "../storage/blob-store.ts";
import { gatewayError, gatewayFetch } from "./gateway.ts";
import type { VerifiedAgentIdentity } from "./identity.ts";
import { once } from "./lazy.ts";
import type { AgentVerdict, VerifyAgentOptions } from "./verify-agent.ts";

// Reading about an agent: its id, certified keys, price, limits, the workers serving it (as the
// gateway sees them), its bundle and the handlers it has, and checking it (`verifyAgent`).

const identityModule = once(() => import("./identity.ts"));

/** What a call to an agent costs, and an increase its owner scheduled (ADR 0020). */
export type AgentPrice = {
  /** VeilToken base units per call, now. */
  price: bigint;
  /** A higher price and when it applies (unix seconds), if one is scheduled. */
  pending?: { price: bigint; at: number };
  /** Whether the owner pays for callers' calls (a sponsored agent; callers pay nothing). */
  sponsored: boolean;
};

export type AgentInfo = {
  id: string;
  name: string;
  owner: Hex;
  codeHash: Hex;
  currentVersion: number;
  versionCount: number;
  workers: { address: Hex; url: string; status: string; codeHash?: Hex }[];
};

/**
 * The agent's id (a decimal id as it is, a name as the chain lists it; `AGENT_NOT_FOUND`).
 *
 * @example
 * const id = await agentIdOf(chain, "hello"); // 7n
 */
export async function agentIdOf(chain: VeilChain, nameOrId: string): Promise<bigint> {
  return (await identityModule()).resolveAgentId(chain, nameOrId);
}

/** How long a verified agent identity is reused (keys change only at a rotation). */
const IDENTITY_TTL_MS = 30_000;

/**
 * Verified agent identities (see identity.ts) kept for 30 s, so that checking a receipt costs
 * no chain read.
 *
 * @example
 * const identities = new AgentIdentities(() => client.chain());
 * const { encryptionKey } = await identities.get("hello");
 */
export class AgentIdentities {
  readonly #chain: () => Promise<VeilChain>;
  readonly #cache = new Map<string, { at: number; identity: VerifiedAgentIdentity }>();

  constructor(chain: () => Promise<VeilChain>) {
    this.#chain = chain;
  }

  /** The agent's certified keys, checked up to the master key on chain. */
  async get(nameOrId: string): Promise<VerifiedAgentIdentity> {
    const cached = this.#cache.get(nameOrId);
    if (cached && Date.now() - cached.at < IDENTITY_TTL_MS) return cached.identity;
    const chain = await this.#chain();
    const { verifyAgentIdentity, resolveAgentId } = await identityModule();
    const identity = await verifyAgentIdentity(chain, await resolveAgentId(chain, nameOrId));
    this.#cache.set(nameOrId, { at: Date.now(), identity });
    return identity;
  }

  /** Forgets the agent's identity (its keys changed: an epoch ended). */
  forget(nameOrId: string): void {
    this.#cache.delete(nameOrId);
  }
}

/**
 * What a call to the agent costs now, and any increase its owner has scheduled.
 *
 * @example
 * const { price, pending, sponsored } = await agentPrice(chain, "hello");
 */
export async function agentPrice(chain: VeilChain, nameOrId: string): Promise<AgentPrice> {
  const policy = await chain.getAgentPolicy(await agentIdOf(chain, nameOrId));
  return {
    price: policy.price,
    ...(policy.pendingPriceAt > 0n
      ? { pending: { price: policy.pendingPrice, at: Number(policy.pendingPriceAt) } }
      : {}),
    sponsored: policy.spendingCap > 0n,
  };
}

/**
 * The agent as the gateway sees it: owner, code, versions and the workers serving it.
 *
 * @example
 * const { workers } = await inspectAgent("http://127.0.0.1:8787", "hello");
 */
export async function inspectAgent(gatewayUrl: string, nameOrId: string): Promise<AgentInfo> {
  const res = await gatewayFetch(gatewayUrl, `/v1/agents/${encodeURIComponent(nameOrId)}`, { method: "GET" });
  const body = await res.json();
  if (!res.ok) throw gatewayError(body, res.status);
  return body as AgentInfo;
}

/**
 * The bytes of a registered bundle, from the network's gateway (checked against the hash).
 *
 * @example
 * const code = new TextDecoder().decode(await fetchBundle(network, record.codeHash));
 */
export async function fetchBundle(network: NetworkFile, hash: Hex): Promise<Uint8Array | undefined> {
  const gateway = network.gateway?.url;
  if (!gateway) return undefined;
  return httpBlobSource(gateway)
    .get(hash)
    .then(
      (bytes) => (bytes && contentHash(bytes) === hash ? bytes : undefined),
      () => undefined,
    );
}

/**
 * What the agent's running code handles, read by loading its bundle in a worker's sandbox;
 * undefined when the bundle is not reachable from here.
 *
 * @example
 * const handlers = await agentHandlers(chain, network, "oracle"); // ["fetch", "scheduled"]
 */
export async function agentHandlers(
  chain: VeilChain,
  network: NetworkFile,
  nameOrId: string,
): Promise<readonly string[] | undefined> {
  const record = await chain.getAgent(await agentIdOf(chain, nameOrId));
  const bytes = await fetchBundle(network, record.codeHash);
  if (!bytes) return undefined;
  const { IsolateSandbox } = await import("../sandbox/isolate.ts");
  const sandbox = await IsolateSandbox.create({
    code: new TextDecoder().decode(bytes),
    meta: { id: record.id.toString(), name: record.name, codeHash: record.codeHash },
  });
  const handlers = sandbox.handlers;
  sandbox.dispose();
  return handlers;
}

/**
 * The limits workers enforce for the agent: as its owner set them, and with the network's maxima.
 *
 * @example
 * const { effective } = await agentLimits(chain, network, "hello");
 */
export async function agentLimits(
  chain: VeilChain,
  network: NetworkFile,
  nameOrId: string,
): Promise<{ requested: RequestedLimits; effective: EffectiveLimits }> {
  const requested = await chain.getAgentLimits(await agentIdOf(chain, nameOrId));
  return { requested, effective: effectiveLimits(requested, networkMaxima(network)) };
}

/**
 * `verifyAgent`, with `source`: the agent's project rebuilt here, whose hash must be the code on chain.
 *
 * @example
 * const verdict = await verifyAgentSource(chain, "hello", { source: "./agents/hello" });
 */
export async function verifyAgentSource(
  chain: VeilChain,
  nameOrId: string,
  options: VerifyAgentOptions & { source?: string } = {},
): Promise<AgentVerdict> {
  const { verifyAgent } = await import("./verify-agent.ts");
  const { source, ...rest } = options;
  if (source !== undefined) {
    const { buildAgent } = await import("./build.ts");
    rest.sourceCodeHash = (await buildAgent(source)).hash;
  }
  return verifyAgent(chain, nameOrId, rest);
}
