import type { AddressInfo } from "node:net";
import { VeilChain } from "../chain/index.ts";
import { announceReady } from "../daemon/http.ts";
import { defaultLinkKeyFile, loadOrCreateLinkKey } from "../daemon/link-auth.ts";
import { consoleDirOf, loadNetwork, type NetworkFile } from "../network/config.ts";
import { FsBlobStore } from "../storage/blob-store.ts";
import { isPostgresUrl } from "../storage/postgres.ts";
import { PostgresRateBuckets } from "../storage/rate-buckets.ts";
import { type RateLimit, SharedRateLimiter } from "./rate-limit.ts";
import { Router } from "./routing.ts";
import { createGatewayServer } from "./server.ts";
import type { LocalWorker } from "./worker-link.ts";

export type GatewayDaemonOptions = {
  network: string;
  port: number;
  host: string;
  maxRequestBytes: number;
  rateLimit: RateLimit;
  trustForwardedFor: boolean;
  /** The file of the key that signs this gateway's links to workers (made on first use). */
  linkKeyFile?: string;
  /**
   * The network's PostgreSQL (postgres://…): callers' budgets are then the network's, shared
   * with its other gateways, instead of this gateway's own.
   */
  state?: string;
  /** Where a gateway that joined from another host keeps the bundles it is given. */
  blobDir?: string;
};

/** Runs the gateway until the process ends. */
export async function runGateway(options: GatewayDaemonOptions): Promise<void> {
  const { url } = await startGateway(options);
  announceReady({ role: "gateway", url });
}

/**
 * Starts the gateway's server and resolves with its URL once it listens. With `localWorker`,
 * the gateway shares that worker's process (`veil worker --gateway-port`, docs/adr/0016).
 */
export async function startGateway(
  options: GatewayDaemonOptions,
  localWorker?: LocalWorker,
): Promise<{ url: string }> {
  const network = loadNetwork(options.network);
  const link = loadOrCreateLinkKey(options.linkKeyFile ?? defaultLinkKeyFile(options.network));
  const chain = new VeilChain(network.chain);
  const router = new Router(chain);
  const sharedLimiter =
    options.state && isPostgresUrl(options.state) && options.rateLimit.perSecond > 0
      ? new SharedRateLimiter(
          options.rateLimit,
          await PostgresRateBuckets.open(options.state, network.state?.namespace),
        )
      : undefined;
  const server = createGatewayServer({
    router,
    networkForJoiners: () => forJoiners(loadNetwork(options.network)),
    consoleDir: consoleDirOf(options.network),
    bundles: {
      store: new FsBlobStore(options.blobDir ?? network.blobStore.path),
      isVersionOf: async (nameOrId, codeHash) => {
        const id = /^\d+$/.test(nameOrId) ? BigInt(nameOrId) : await chain.agentIdOf(nameOrId);
        if (id === 0n) return false;
        const versions = await chain.agentVersions(id);
        return versions.some((v) => !v.removed && v.codeHash.toLowerCase() === codeHash);
      },
    },
    maxRequestBytes: options.maxRequestBytes,
    workerTimeoutMs: 30_000,
    rateLimit: options.rateLimit,
    ...(sharedLimiter ? { sharedLimiter } : {}),
    trustForwardedFor: options.trustForwardedFor,
    ...(localWorker ? { localWorker } : {}),
    linkKey: link.key,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, resolve);
  });
  const url = `http://${options.host}:${(server.address() as AddressInfo).port}`;
  console.error(
    `gateway listening on ${url}${localWorker ? ` (in worker ${localWorker.address}'s process)` : ""}; links signed by ${link.address}${sharedLimiter ? "; callers' rate limits shared with the network's other gateways" : ""}`,
  );
  return { url };
}

/**
 * The network file as a node on another host may have it: no development keys, no process ids,
 * no paths of this host (a joiner keeps bundles in its own directory and fetches them by hash).
 */
export function forJoiners(network: NetworkFile): Omit<NetworkFile, "devAccounts"> {
  const { devAccounts: _keys, ...rest } = network;
  return {
    ...rest,
    blobStore: { kind: "fs", path: "" },
    gatekeepers: network.gatekeepers.map(({ address, url }) => ({ address, url })),
    workers: network.workers.map(({ address, url, operator }) => ({ address, url, operator })),
    ...(network.gateway
      ? {
          gateway: {
            url: network.gateway.url,
            ...(network.gateway.linkAddress ? { linkAddress: network.gateway.linkAddress } : {}),
          },
        }
      : {}),
  };
}
