import type { Hex } from "viem";
import type { VeilChain } from "../chain/index.ts";
import { VeilError } from "../errors/index.ts";
import { type NetworkFile, networkMaxima } from "../network/config.ts";
import { checkRequestedLimits, type RequestedLimits } from "../network/limits.ts";
import type { AgentInfo } from "./agent-admin.ts";
import type { BuiltAgent } from "./build.ts";
import { gatewayError } from "./gateway.ts";

// Deploying an agent: build, check that the bundle loads, register it on chain (a new agent or a
// new version), upload the bundle, set the log key and limits, and wait until a worker serves it.

export type DeployResult = {
  id: bigint;
  name: string;
  codeHash: Hex;
  version: number;
  upgraded: boolean;
  txHash: Hex;
  bundleBytes: number;
  servedBy: string[];
};

export type DeployOptions = {
  onProgress?: (m: string) => void;
  timeoutMs?: number;
  /** Runtime limits to set (the rest keep their values; 0 is the network default). */
  limits?: Partial<RequestedLimits>;
};

/** What deploying needs of the client: the network, the owner's chain client and key, and `inspect`. */
export type DeployContext = {
  network: NetworkFile;
  chain(): Promise<VeilChain>;
  privateKey: Hex | undefined;
  inspect(nameOrId: string): Promise<AgentInfo>;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Builds, checks that the bundle loads, registers it on chain (a new agent, or a new version of
 * one you own), uploads it, and waits until a worker serves it.
 *
 * @example
 * const result = await deployAgent(
 *   { network, chain: () => client.chain(), privateKey, inspect: (n) => inspectAgent(gatewayUrl, n) },
 *   "./agents/hello",
 *   "hello",
 *   { onProgress: console.log },
 * );
 */
export async function deployAgent(
  context: DeployContext,
  dir: string,
  name: string,
  options: DeployOptions = {},
): Promise<DeployResult> {
  const { network, privateKey } = context;
  const progress = options.onProgress ?? (() => {});
  if (!/^[a-z][a-z0-9-]{0,63}$/.test(name)) {
    throw new VeilError("AGENT_NAME_INVALID", `"${name}" is not a valid agent name`, {
      hint: "Use 1–64 characters of a–z, 0–9 and '-', starting with a letter.",
    });
  }
  if (options.limits) checkRequestedLimits(options.limits, networkMaxima(network));
  const chain = await context.chain();
  const owner = chain.account;
  const existingId = await chain.agentIdOf(name);
  if (existingId !== 0n) {
    const existing = await chain.getAgent(existingId);
    if (existing.owner.toLowerCase() !== owner.toLowerCase()) {
      throw new VeilError("AGENT_NAME_TAKEN", `The name "${name}" is taken by ${existing.owner}`, {
        hint: "Choose another --name; names are global.",
      });
    }
  }
  progress("building with esbuild…");
  const { buildAgent } = await import("./build.ts");
  const built = await buildAgent(dir);
  progress(`built ${built.bytes.byteLength} bytes, hash ${built.hash}`);
  await checkLoads(built, name);
  progress("registering on chain…");

  let id: bigint;
  let txHash: Hex;
  let version = 0;
  if (existingId === 0n) {
    ({ id, hash: txHash } = await chain.registerAgent(name, built.hash));
  } else {
    id = existingId;
    txHash = await chain.addAgentVersion(id, built.hash, true);
    version = (await chain.getAgent(id)).currentVersion;
  }
  progress(`registered as agent #${id} (tx ${txHash}); uploading the bundle…`);
  await uploadBundle(network, id, built.bytes, built.hash);
  if (privateKey) {
    // The agent's logs are sealed to a key derived from the owner's: set it once.
    const { ownerLogPublicKey } = await import("./logs.ts");
    const logKey = ownerLogPublicKey(privateKey);
    if ((await chain.getLogKey(id)).toLowerCase() !== logKey.toLowerCase()) {
      progress(`set the log key (tx ${await chain.setLogKey(id, logKey)})`);
    }
  }
  if (options.limits && Object.keys(options.limits).length > 0) {
    const current = await chain.getAgentLimits(id);
    const limitsTx = await chain.setAgentLimits(id, { ...current, ...options.limits });
    progress(`set its limits (tx ${limitsTx})`);
  }
  progress("waiting for a worker to serve it…");
  const servedBy = await waitUntilServed(context.inspect, name, built.hash, options.timeoutMs ?? 60_000);
  return {
    id,
    name,
    codeHash: built.hash,
    version,
    upgraded: existingId !== 0n,
    txHash,
    bundleBytes: built.bytes.byteLength,
    servedBy,
  };
}

/**
 * Polls `inspect` until at least one worker serves `codeHash` for the agent; the addresses of
 * those that do. `DEPLOY_NOT_SERVED` after `timeoutMs`.
 *
 * @example
 * const servedBy = await waitUntilServed((n) => inspectAgent(gatewayUrl, n), "hello", codeHash, 60_000);
 */
export async function waitUntilServed(
  inspect: (nameOrId: string) => Promise<AgentInfo>,
  nameOrId: string,
  codeHash: Hex,
  timeoutMs: number,
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let last: AgentInfo | undefined;
  while (Date.now() < deadline) {
    try {
      last = await inspect(nameOrId);
      const ready = last.workers.filter((w) => w.status === "ready" && w.codeHash === codeHash);
      if (ready.length > 0) return ready.map((w) => w.address);
    } catch (err) {
      if (!(err instanceof VeilError) || !["AGENT_NOT_FOUND", "GATEWAY_UNREACHABLE"].includes(err.code))
        throw err;
    }
    await sleep(100);
  }
  throw new VeilError("DEPLOY_NOT_SERVED", `No worker served "${nameOrId}" within ${timeoutMs / 1000}s`, {
    context: (last?.workers ?? []).map((w) => `${w.url}: ${w.status}`),
    hint: "The agent is registered; check the workers' logs in .veil/logs/ and `veil inspect NAME`.",
  });
}

/**
 * Uploads an agent's bundle to the network's gateway, which keeps it only if `hash` is one of
 * the agent's versions on chain (so: after registering it); workers fetch it from there by hash.
 *
 * @example
 * await uploadBundle(network, 7n, built.bytes, built.hash);
 */
export async function uploadBundle(
  network: NetworkFile,
  agentId: bigint,
  bytes: Uint8Array,
  hash: Hex,
): Promise<void> {
  const gateway = network.gateway?.url;
  if (!gateway)
    throw new VeilError("GATEWAY_UNKNOWN", "The network file names no gateway to upload the bundle to", {
      hint: "Start the network (npx veil up), or use a network file that names its gateway.",
    });
  let res: Response;
  try {
    res = await fetch(`${gateway}/v1/agents/${agentId}/bundles/${hash}`, {
      method: "PUT",
      body: bytes,
      headers: { "content-type": "application/javascript" },
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    throw new VeilError("GATEWAY_UNREACHABLE", `Cannot upload the bundle to ${gateway}`, {
      cause: err,
      retryable: true,
      hint: "Check that the network is up; `veil deploy` again uploads it (the version stays registered).",
    });
  }
  if (res.status !== 201) throw gatewayError(await res.json().catch(() => undefined), res.status);
}

/** Loads the bundle in the same sandbox a worker uses, so a broken bundle is never registered. */
async function checkLoads(built: BuiltAgent, name: string): Promise<void> {
  const { IsolateSandbox } = await import("../sandbox/isolate.ts");
  const sandbox = await IsolateSandbox.create({
    code: built.code,
    meta: { id: "0", name, codeHash: built.hash },
  });
  sandbox.dispose();
}
