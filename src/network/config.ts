import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Hex } from "viem";
import type { EconomyAddresses } from "../chain/economy-deploy.ts";
import type { ChainConfig } from "../chain/index.ts";
import { VeilError } from "../errors/index.ts";
import { DEFAULT_NETWORK_MAXIMA, NUMERIC_LIMITS, type RuntimeLimits } from "./limits.ts";

/** network.json: how every client and daemon finds one Veil network. */
export type NetworkFile = {
  version: 1;
  name: string;
  /** `contractsBuild`: the key of the contracts' sources the network was deployed from. */
  chain: ChainConfig & {
    embedded: boolean;
    economy?: EconomyAddresses;
    contractsBuild?: string;
    /** The registries belong to governance's timelock (`veil up --governed`), not the deployer. */
    governed?: boolean;
  };
  /** The economy's dev settings (governance timings, challenge), when `veil up` deployed it. */
  economy?: {
    governance: { votingDelaySeconds: number; votingPeriodSeconds: number; timelockDelaySeconds: number };
    challenge: { target: Hex; window: number };
  };
  /** The gateway, and the address of its link key (workers take links from it; docs/adr/0018). */
  gateway?: { url: string; linkAddress?: Hex; pid?: number };
  gatekeepers: { address: Hex; url: string; pid?: number }[];
  workers: { address: Hex; url: string; operator: Hex; pid?: number }[];
  blobStore: { kind: "fs"; path: string };
  /**
   * Where the workers keep agents' state, nonces and logs (`veil up --state`): the kind, and the
   * PostgreSQL schema this network's tables live in (so networks sharing a database never meet).
   * The database URL itself is not here (it may hold a password): `state-url` beside this file.
   */
  state?: { kind: "sqlite" | "postgres"; namespace: string };
  tee: { backend: "simulated" | "tdx" | "dstack"; insecure: boolean; measurement: Hex };
  /** The most any agent may ask for (workers clamp to these; `veil deploy` checks against them). */
  runtime?: {
    maxima: RuntimeLimits;
    /** How many agents deep a chain of ctx.agents.call may go (default 4). */
    maxCallDepth?: number;
  };
  /** The web console, served by the gateway at `/console/` (built by `veil up` into `console/`). */
  console?: { url: string };
  /** Well-known keys of the embedded chain. DEV ONLY. */
  devAccounts?: { warning: string; accounts: { role: string; address: Hex; privateKey: Hex }[] };
};

/** Where the network file is: --network, then VEIL_NETWORK, then ./.veil/network.json. */
export function networkPath(explicit?: string): string {
  return resolve(explicit ?? process.env.VEIL_NETWORK ?? ".veil/network.json");
}

/** Where the web console's built files are: `console/` beside the network file. */
export function consoleDirOf(networkFile?: string): string {
  return join(dirname(networkPath(networkFile)), "console");
}

function malformed(path: string, problem: string): VeilError {
  return new VeilError("NETWORK_CONFIG_INVALID", `${path} is not a valid Veil network file: ${problem}`, {
    hint: "Start a network with `npm start` (it writes .veil/network.json), or fix VEIL_NETWORK to point at one.",
  });
}

const isHex = (v: unknown, bytes?: number): v is Hex =>
  typeof v === "string" &&
  (bytes === undefined ? /^0x[0-9a-fA-F]*$/ : new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`)).test(v);

/** Reads and checks network.json; every problem is a NETWORK_CONFIG_INVALID / NETWORK_NOT_FOUND. */
export function loadNetwork(explicit?: string): NetworkFile {
  const path = networkPath(explicit);
  if (!existsSync(path)) {
    throw new VeilError("NETWORK_NOT_FOUND", `No Veil network file at ${path}`, {
      hint: "Start the network with `npm start` in the repository (it writes .veil/network.json), or set VEIL_NETWORK.",
    });
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    throw malformed(path, "not JSON");
  }
  const n = data as Partial<NetworkFile>;
  if (typeof n !== "object" || n === null || n.version !== 1) throw malformed(path, 'missing "version": 1');
  const chain = n.chain as Partial<NetworkFile["chain"]> | undefined;
  if (!chain || typeof chain.rpcUrl !== "string" || !/^https?:\/\//.test(chain.rpcUrl)) {
    throw malformed(path, "chain.rpcUrl must be an http(s) URL");
  }
  if (!Number.isSafeInteger(chain.chainId)) throw malformed(path, "chain.chainId must be an integer");
  const c = chain.contracts as Partial<ChainConfig["contracts"]> | undefined;
  for (const key of [
    "agentRegistry",
    "agentKeys",
    "workerRegistry",
    "gatekeeperRegistry",
    "attestationPolicy",
  ] as const) {
    if (!c || !isHex(c[key], 20)) throw malformed(path, `chain.contracts.${key} must be a 20-byte address`);
  }
  if (chain.economy !== undefined) {
    for (const [key, value] of Object.entries(chain.economy ?? {})) {
      if (!isHex(value, 20)) throw malformed(path, `chain.economy.${key} must be a 20-byte address`);
    }
  }
  if (
    n.gateway !== undefined &&
    (typeof n.gateway?.url !== "string" || !/^https?:\/\//.test(n.gateway.url))
  ) {
    throw malformed(path, "gateway.url must be an http(s) URL");
  }
  if (n.gateway?.linkAddress !== undefined && !isHex(n.gateway.linkAddress, 20)) {
    throw malformed(path, "gateway.linkAddress must be a 20-byte address");
  }
  if (n.blobStore?.kind !== "fs" || typeof n.blobStore.path !== "string") {
    throw malformed(path, 'blobStore must be { "kind": "fs", "path": "…" }');
  }
  if (!Array.isArray(n.workers) || !Array.isArray(n.gatekeepers)) {
    throw malformed(path, "workers and gatekeepers must be lists");
  }
  if (!n.tee || typeof n.tee.backend !== "string") throw malformed(path, "tee.backend is missing");
  if (n.runtime !== undefined) {
    const m = n.runtime?.maxima as Partial<RuntimeLimits> | undefined;
    for (const k of NUMERIC_LIMITS) {
      if (!m || !Number.isSafeInteger(m[k]) || (m[k] as number) <= 0) {
        throw malformed(path, `runtime.maxima.${k} must be a positive integer`);
      }
    }
  }
  return n as NetworkFile;
}

/** The network's maxima for agents' limits (the built-in ones when the file names none). */
export function networkMaxima(network: NetworkFile): RuntimeLimits {
  return network.runtime?.maxima ?? DEFAULT_NETWORK_MAXIMA;
}

/** Writes network.json atomically, so a reader never sees half a file. */
export function saveNetwork(path: string, network: NetworkFile): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(network, null, 2)}\n`);
  renameSync(tmp, path);
}
