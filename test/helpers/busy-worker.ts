import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { DaemonRequest, DaemonResponse } from "../../src/daemon/http.ts";
import { serveLinks } from "../../src/daemon/link-server.ts";
import { testLinkPeers } from "./link-keys.ts";

// A worker stand-in in a process of its own, for the gateway's liveness tests: it answers
// `/stall/MS` after holding its event loop for MS milliseconds (busy, not gone: its kernel still
// acknowledges), anything else at once. Run as `node --import tsx busy-worker.ts HOST [PORT]`; it
// prints `PORT <n>` when listening.
const address = "0x0000000000000000000000000000000000000001";
const answer = (req: DaemonRequest, res: DaemonResponse) => {
  const stall = /\/stall\/(\d+)$/.exec(req.url ?? "");
  if (stall) {
    const until = Date.now() + Number(stall[1]);
    while (Date.now() < until) {
      // the event loop held, as by a long synchronous piece of work
    }
  }
  res.writeHead(200, { "content-type": "text/plain" });
  res.end("hello");
};
const server = createServer(answer);
serveLinks(server, answer, { maxRequestBytes: 1 << 20, authenticator: testLinkPeers(address) });
server.listen(Number(process.argv[3] ?? 0), process.argv[2] ?? "127.0.0.1", () => {
  process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`);
});
