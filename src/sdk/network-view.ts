import type { Hex } from "viem";
import {
  agentAccessName,
  chainError,
  TeeType,
  VeilChain,
  WorkerStatus,
  workerStatusName,
} from "../chain/index.ts";
import { RotationClient, rotationStateName } from "../chain/rotation.ts";
import { isVeilErrorJSON, VeilError } from "../errors/index.ts";
import type { NetworkFile } from "../network/config.ts";
import { resolveAgentId } from "./identity.ts";

// Browser-safe (the web console bundles it, src/sdk/browser.ts): web APIs, viem and Veil's own
// browser-safe modules only; `import type` of the network file costs nothing at run time.

/** The network file as any gateway hands it out (`GET /v1/network`): no keys, pids or paths. */
export type PublicNetwork = Omit<NetworkFile, "devAccounts">;

/** A network reached through its gateway: what it says of itself, and a client of its chain. */
export type ConnectedNetwork = { gatewayUrl: string; network: PublicNetwork; chain: VeilChain };

/** Where a worker stands, read from the chain (and from the gateway, for `routed`). */
export type WorkerGlance = {
  address: Hex;
  operator: Hex;
  /** The endpoint the worker registered on chain. */
  url: string;
  /** "simulated", "sgx", "tdx", or "#N" for a TEE type this SDK does not know. */
  tee: string;
  /** Runs on the simulated TEE: no hardware protects anything it holds. */
  insecure: boolean;
  /** Active, verified by a gatekeeper within the policy's evidence age, within the policy now. */
  attested: boolean;
  /** One line a person reads: "INSECURE (simulated TEE)", "attested (tdx)" or "NOT ATTESTED". */
  verdict: string;
  /** The WorkerRegistry status: "Active", "Stopped", "Evicted", "Expired", … */
  status: string;
  /** The gateway routes requests to it now (undefined: the gateway could not be asked). */
  routed: boolean | undefined;
  /** When a gatekeeper last verified its evidence (unix seconds of chain time; 0: never). */
  verifiedAt: number;
};

export type GatekeeperGlance = { address: Hex; url: string; active: boolean };

export type AgentGlance = {
  id: bigint;
  name: string;
  owner: Hex;
  /** The active version (from 0, as `veil inspect` and `veil versions` number them) and how many there are. */
  version: number;
  versions: number;
  /** The code hash of the active version. */
  codeHash: Hex;
  /** Price per call in wei of VEIL (0n: free), the access mode ("public", "allowlist", "token"), paused. */
  price: bigint;
  access: string;
  paused: boolean;
  /** Workers the gateway says serve it now (status "ready"); undefined: the gateway was not asked. */
  serving: number | undefined;
};

/** A key rotation's progress, as `veil keys status` shows it (docs/adr/0010). */
export type KeyRotationGlance = {
  /** The epoch it rotates to (0n: no rotation yet). */
  epoch: bigint;
  /** "idle", "open", "confirmed" or "completed". */
  state: string;
  elected: number;
  contributions: number;
  confirmations: number;
  /** Elected gatekeepers that destroyed the old epoch's key. */
  destroyed: number;
  /** Key traffic (provisioning, re-wrapping) is paused while a rotation is being confirmed. */
  keyTrafficOpen: boolean;
};

/** The network at a glance, as the console's landing page shows it. */
export type NetworkGlance = {
  chainId: number;
  block: bigint;
  /** The head block's timestamp (unix seconds): the chain's own clock, which may run ahead of this one's. */
  blockTime: number;
  /** The key epoch in force (GatekeeperRegistry.epoch). */
  epoch: bigint;
  /** The last key rotation opened (epoch 0n: none yet) and whether key traffic flows now. */
  rotation: KeyRotationGlance;
  gatekeepers: GatekeeperGlance[];
  workers: WorkerGlance[];
  agents: AgentGlance[];
};

type Fetch = typeof fetch;

/**
 * Reaches a network through its gateway alone: reads the public network file (`GET /v1/network`)
 * and makes a chain client for the chain it names. Runs in browsers (the web console) and Node.
 *
 * @example
 * ```ts
 * const { network, chain } = await connectNetwork("http://127.0.0.1:8546");
 * console.log(network.name, await chain.blockNumber());
 * ```
 */
export async function connectNetwork(
  gatewayUrl: string,
  options: { fetch?: Fetch } = {},
): Promise<ConnectedNetwork> {
  const base = gatewayUrl.replace(/\/+$/, "");
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(`${base}/v1/network`, { headers: { accept: "application/json" } });
  } catch (err) {
    throw new VeilError("GATEWAY_UNREACHABLE", `The gateway at ${base} is not reachable`, {
      cause: err,
      retryable: true,
      hint: "Check that the network is running (`npm start`) and that this is its gateway's URL.",
    });
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const error = (body as { error?: unknown } | undefined)?.error;
    if (isVeilErrorJSON(error)) throw VeilError.fromJSON(error, response.status);
    throw new VeilError("GATEWAY_ERROR", `The gateway at ${base} answered ${response.status}`, {
      status: response.status,
    });
  }
  const network = body as PublicNetwork;
  if (typeof network?.chain?.rpcUrl !== "string" || typeof network.chain.chainId !== "number") {
    throw new VeilError("NETWORK_CONFIG_INVALID", `The gateway at ${base} did not describe a Veil network`, {
      hint: "Is this the URL of a Veil gateway?",
    });
  }
  return { gatewayUrl: base, network, chain: new VeilChain(network.chain) };
}

const teeName = (teeType: number) =>
  (Object.keys(TeeType) as (keyof typeof TeeType)[]).find((k) => TeeType[k] === teeType) ?? `#${teeType}`;

/**
 * Reads the network at a glance, live: chain id and block, the key epoch, the gatekeepers, the
 * workers with their attestation standing on chain (the simulated TEE marked INSECURE) and
 * whether the gateway routes to them, and every agent with its owner and active version. Every
 * figure comes from the chain at the time of the call, except `routed` (the gateway's
 * `GET /v1/health`, when `gatewayUrl` is given).
 *
 * @example
 * ```ts
 * const { chain, gatewayUrl } = await connectNetwork("http://127.0.0.1:8546");
 * const glance = await readNetworkGlance(chain, { gatewayUrl });
 * for (const w of glance.workers) console.log(w.address, w.verdict, w.status);
 * ```
 */
export async function readNetworkGlance(
  chain: VeilChain,
  options: { gatewayUrl?: string; fetch?: Fetch } = {},
): Promise<NetworkGlance> {
  const doFetch = options.fetch ?? fetch;
  const routedBy = options.gatewayUrl
    ? doFetch(`${options.gatewayUrl.replace(/\/+$/, "")}/v1/health`)
        .then((r) => (r.ok ? (r.json() as Promise<{ workers?: { address: string }[] }>) : undefined))
        .then((h) => (h?.workers ? new Set(h.workers.map((w) => w.address.toLowerCase())) : undefined))
        .catch(() => undefined)
    : Promise.resolve(undefined);
  const rotation = new RotationClient(chain);
  const [chainId, head, epoch, gatekeepers, workers, agents, routed, rotating, keyTrafficOpen] =
    await Promise.all([
      chain.public.getChainId().catch((err: unknown) => {
        throw chainError(err, "read the chain id", chain.config.rpcUrl);
      }),
      chain.public.getBlock({ blockTag: "latest" }).catch((err: unknown) => {
        throw chainError(err, "read the head block", chain.config.rpcUrl);
      }),
      chain.epoch(),
      chain.listGatekeepers(),
      chain.listWorkers(),
      chain.listAgents(),
      routedBy,
      rotation.current(),
      rotation.keyTrafficOpen(),
    ]);
  const gateway = options.gatewayUrl?.replace(/\/+$/, "");
  const [attested, policies, serving] = await Promise.all([
    Promise.all(
      workers.map((w) => (w.status === WorkerStatus.Active ? chain.isWorkerAttested(w.address) : false)),
    ),
    Promise.all(agents.map((a) => chain.getAgentPolicy(a.id))),
    Promise.all(
      agents.map((a) =>
        gateway
          ? doFetch(`${gateway}/v1/agents/${a.id}`)
              .then((r) => (r.ok ? (r.json() as Promise<{ workers?: { status?: string }[] }>) : undefined))
              .then((b) => b?.workers?.filter((w) => w.status === "ready").length)
              .catch(() => undefined)
          : undefined,
      ),
    ),
  ]);
  return {
    chainId,
    block: head.number,
    blockTime: Number(head.timestamp),
    epoch,
    rotation: {
      epoch: rotating.epoch,
      state: rotationStateName(rotating.state),
      elected: rotating.elected.length,
      contributions: rotating.contributions,
      confirmations: rotating.confirmations,
      destroyed: rotating.destroyed,
      keyTrafficOpen,
    },
    gatekeepers: gatekeepers.map((g) => ({ address: g.address, url: g.endpoint, active: g.active })),
    workers: workers.map((w, i) => {
      const insecure = w.teeType === TeeType.simulated;
      const tee = teeName(w.teeType);
      const standing = attested[i] === true;
      return {
        address: w.address,
        operator: w.operator,
        url: w.endpoint,
        tee,
        insecure,
        attested: standing,
        verdict: insecure
          ? `INSECURE (simulated TEE${standing ? "" : ", not attested"})`
          : standing
            ? `attested (${tee})`
            : "NOT ATTESTED",
        status: workerStatusName(w.status),
        routed: routed ? routed.has(w.address.toLowerCase()) : undefined,
        verifiedAt: Number(w.verifiedAt),
      };
    }),
    agents: agents.map((a, i) => ({
      id: a.id,
      name: a.name,
      owner: a.owner,
      version: a.currentVersion,
      versions: a.versionCount,
      codeHash: a.codeHash,
      price: policies[i]!.price,
      access: agentAccessName(policies[i]!.access),
      paused: policies[i]!.paused,
      serving: serving[i],
    })),
  };
}

/** One worker as the gateway sees it for an agent (`GET /v1/agents/:nameOrId`). */
export type AgentWorkerGlance = {
  address: Hex;
  url: string;
  /** The worker's own word: "ready", "loading", "failed", "unreachable", … */
  status: string;
  /** The code the worker runs for the agent, when it said. */
  codeHash?: Hex;
};

/** One agent, as the console's agent page shows it. */
export type AgentDetail = {
  id: bigint;
  name: string;
  owner: Hex;
  /** The active version (from 0) and the code it runs. */
  version: number;
  codeHash: Hex;
  /** Every version on chain, with whether its owner removed it. */
  versions: { version: number; codeHash: Hex; removed: boolean; active: boolean }[];
  /** The price of a call in the fee token's base units (0n: free). */
  price: bigint;
  /** "public", "allowlist" or "tokenHolders". */
  access: string;
  paused: boolean;
  /** The names of its secrets on chain (their values are sealed; nobody reads them back). */
  secrets: readonly string[];
  /** The workers that serve it now ("ready"), as the gateway asked them. */
  serving: AgentWorkerGlance[];
  /** Every worker the gateway routes to, with what it said of the agent (undefined: gateway not asked). */
  workers: AgentWorkerGlance[] | undefined;
};

/**
 * Reads one agent as the console's agent page shows it: owner, every version, price, access
 * mode from the chain, and which workers serve it from the gateway (`GET /v1/agents/:nameOrId`,
 * when `gatewayUrl` is given). Throws `AGENT_NOT_FOUND` for a name no agent has.
 *
 * @example
 * ```ts
 * const { chain, gatewayUrl } = await connectNetwork("http://127.0.0.1:8546");
 * const agent = await readAgentDetail(chain, "hello", { gatewayUrl });
 * console.log(agent.owner, agent.price, agent.serving.map((w) => w.address));
 * ```
 */
export async function readAgentDetail(
  chain: VeilChain,
  nameOrId: string,
  options: { gatewayUrl?: string; fetch?: Fetch } = {},
): Promise<AgentDetail> {
  const doFetch = options.fetch ?? fetch;
  const id = await resolveAgentId(chain, nameOrId);
  const asked = options.gatewayUrl
    ? doFetch(`${options.gatewayUrl.replace(/\/+$/, "")}/v1/agents/${id}`)
        .then((r) => (r.ok ? (r.json() as Promise<{ workers?: AgentWorkerGlance[] }>) : undefined))
        .then((d) => d?.workers)
        .catch(() => undefined)
    : Promise.resolve(undefined);
  const [agent, versions, policy, secrets, workers] = await Promise.all([
    chain.getAgent(id),
    chain.agentVersions(id),
    chain.getAgentPolicy(id),
    chain.secretNames(id),
    asked,
  ]);
  return {
    id: agent.id,
    name: agent.name,
    owner: agent.owner,
    version: agent.currentVersion,
    codeHash: agent.codeHash,
    versions: versions.map((v) => ({ ...v, active: v.version === agent.currentVersion })),
    price: policy.price,
    access: agentAccessName(policy.access),
    paused: policy.paused,
    secrets,
    serving: (workers ?? []).filter((w) => w.status === "ready"),
    workers,
  };
}
