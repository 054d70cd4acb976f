import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { VeilError } from "../errors/index.ts";
import { loadNetwork, type NetworkFile, saveNetwork } from "./config.ts";

/**
 * Fetches the network file from a gateway (`GET /v1/network`) for a node on another host
 * (`veil worker --join URL`), and keeps it in the node's data directory as network.json, with
 * what only this host can know: the gateway as this host reaches it, the chain's RPC as this
 * host reaches it (`rpc`), and its own directory for bundles. Returns the file's path.
 */
export async function joinNetwork(
  gatewayUrl: string,
  dataDir: string,
  options: { rpc?: string } = {},
): Promise<string> {
  const base = gatewayUrl.replace(/\/$/, "");
  let answer: Response;
  try {
    answer = await fetch(`${base}/v1/network`, { signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new VeilError("JOIN_UNREACHABLE", `Cannot reach the gateway at ${base} to join its network`, {
      cause: err,
      hint: "Check the URL (the gateway's, e.g. http://HOST:8546) and that this host can reach it.",
    });
  }
  if (answer.status !== 200) {
    throw new VeilError("JOIN_REFUSED", `${base}/v1/network answered ${answer.status}`, {
      hint: "Give the URL of a Veil gateway.",
    });
  }
  const network = (await answer.json()) as NetworkFile;
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, "network.json");
  const here: NetworkFile = {
    ...network,
    chain: { ...network.chain, ...(options.rpc ? { rpcUrl: options.rpc } : {}) },
    ...(network.gateway ? { gateway: { ...network.gateway, url: base } } : {}),
    blobStore: { kind: "fs", path: join(dataDir, "network-blobs") },
  };
  saveNetwork(path, here);
  // Checked as any network file is: a gateway that answers nonsense fails here, by name.
  loadNetwork(path);
  return path;
}
