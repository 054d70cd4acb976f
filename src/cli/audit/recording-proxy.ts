import { createServer, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";

// Someone on the path between a caller and the gateway: passes every request on unchanged and
// keeps a copy of its bytes, which is what an attacker who saw a request has to replay.

export type RecordedRequest = {
  method: string;
  /** The path and query as sent to the gateway. */
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  /** The worker the gateway says answered it (x-veil-worker). */
  answeredBy?: string;
};

export type RecordingProxy = {
  url: string;
  recorded: RecordedRequest[];
  close(): Promise<void>;
};

/** Headers of one hop, which a proxy does not pass on as they are. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "host",
  "proxy-connection",
]);

function flat(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const send = upstream.protocol === "https:" ? httpsRequest : httpRequest;
  const recorded: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const entry: RecordedRequest = {
        method: req.method ?? "GET",
        url: req.url ?? "/",
        headers: flat(req.headers),
        body: Buffer.concat(chunks),
      };
      recorded.push(entry);
      const out = send(
        new URL(entry.url, upstream),
        { method: entry.method, headers: entry.headers },
        (answer) => {
          const worker = answer.headers["x-veil-worker"];
          if (typeof worker === "string") entry.answeredBy = worker;
          res.writeHead(answer.statusCode ?? 502, flat(answer.headers));
          answer.pipe(res, { end: false });
          // A streamed answer's receipts come as trailers: pass them on too.
          answer.on("end", () => {
            res.addTrailers(answer.trailers);
            res.end();
          });
          answer.on("error", () => res.destroy());
        },
      );
      out.on("error", () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      out.end(entry.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    recorded,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
