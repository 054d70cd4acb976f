import { createServer, type Server } from "node:http";
import { answerClientErrors, MAX_HEADER_BYTES, readJson, sendError, sendJson } from "../daemon/http.ts";
import { VeilError } from "../errors/index.ts";
import type { AnchorService } from "./anchors.ts";
import type { GatekeeperService } from "./service.ts";

/** The gatekeeper's HTTP face: POST /v1/provision, POST /v1/attest, POST /v1/anchor(/get), POST /v1/join and GET /v1/health. */
export function createGatekeeperServer(
  service: GatekeeperService,
  info: () => Record<string, unknown>,
  anchors?: AnchorService,
): Server {
  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, async (req, res) => {
    try {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method === "POST" && path === "/v1/provision") {
        const body = await readJson(req, 128 * 1024);
        sendJson(res, 200, await service.provision(body));
      } else if (req.method === "POST" && path === "/v1/attest") {
        const body = await readJson(req, 128 * 1024);
        sendJson(res, 200, await service.attest(body));
      } else if (anchors && req.method === "POST" && path === "/v1/anchor") {
        sendJson(res, 200, await anchors.put(await readJson(req, 8 * 1024 * 1024)));
      } else if (anchors && req.method === "POST" && path === "/v1/anchor/get") {
        sendJson(res, 200, await anchors.get(await readJson(req, 16 * 1024)));
      } else if (req.method === "POST" && path === "/v1/join") {
        const body = await readJson(req, 128 * 1024);
        sendJson(res, 200, await service.join(body));
      } else if (req.method === "GET" && path === "/v1/health") {
        sendJson(res, 200, { ready: service.ready, ...info() });
      } else {
        throw new VeilError("NOT_FOUND", `No route ${req.method} ${path}`, { status: 404 });
      }
    } catch (err) {
      sendError(res, err);
    }
  });
  return answerClientErrors(server);
}
