import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { DaemonRequest, DaemonResponse } from "../../src/daemon/http.ts";
import { serveLinks } from "../../src/daemon/link-server.ts";
import type { Router } from "../../src/gateway/routing.ts";
import { TEST_GATEWAY_KEY, testLinkPeers } from "./link-keys.ts";

/**
 * A worker stand-in for gateway tests: it answers every request, over HTTP or the gateway's
 * link, with "hello" and counts what reached it; the router sends every agent to it.
 */
export async function startStandInWorker(): Promise<{
  server: Server;
  router: Router;
  reached: () => number;
  /** The key the gateway in front of it signs its links with. */
  linkKey: typeof TEST_GATEWAY_KEY;
}> {
  let reached = 0;
  const answer = (_req: DaemonRequest, res: DaemonResponse) => {
    reached++;
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("hello");
  };
  const server = createServer(answer);
  const address = "0x0000000000000000000000000000000000000001" as const;
  serveLinks(server, answer, { maxRequestBytes: 1 << 20, authenticator: testLinkPeers(address) });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const endpoint = {
    address,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  };
  const router = {
    resolveId: async () => 1n,
    workers: async () => [endpoint],
    markDown() {},
    markUp() {},
  } as unknown as Router;
  return { server, router, reached: () => reached, linkKey: TEST_GATEWAY_KEY };
}
