import type { AddressInfo } from "node:net";
import { VeilChain } from "../chain/index.ts";
import { announceReady } from "../daemon/http.ts";
import { loadNetwork } from "../network/config.ts";
import type { RateLimit } from "./rate-limit.ts";
import { Router } from "./routing.ts";
import { createGatewayServer } from "./server.ts";

export type GatewayDaemonOptions = {
  network: string;
  port: number;
  host: string;
  maxRequestBytes: number;
  rateLimit: RateLimit;
  trustForwardedFor: boolean;
};

/** Runs the gateway until the process ends. */
export async function runGateway(options: GatewayDaemonOptions): Promise<void> {
  const network = loadNetwork(options.network);
  const router = new Router(new VeilChain(network.chain));
  const server = createGatewayServer({
    router,
    maxRequestBytes: options.maxRequestBytes,
    workerTimeoutMs: 30_000,
    rateLimit: options.rateLimit,
    trustForwardedFor: options.trustForwardedFor,
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, resolve);
  });
  const url = `http://${options.host}:${(server.address() as AddressInfo).port}`;
  console.error(`gateway listening on ${url}`);
  announceReady({ role: "gateway", url });
}
