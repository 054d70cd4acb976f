import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

// A local HTTP server that speaks Anthropic's Messages API (POST /v1/messages), whole or streamed
// as Anthropic's server-sent events (message_start, content_block_start, ping,
// content_block_delta, content_block_stop, message_delta, message_stop). It answers
// "echo: <last user text>", one word a delta; "error:<status>" answers Anthropic's error body.

export type AnthropicMockRequest = {
  apiKey: string | undefined;
  version: string | undefined;
  body: {
    model: string;
    max_tokens: number;
    messages: { role: string; content: string | { type: string; text?: string }[] }[];
    stream?: boolean;
  };
};

export type AnthropicMock = {
  url: string;
  requests: AnthropicMockRequest[];
  close(): Promise<void>;
};

const readJson = async (req: IncomingMessage): Promise<unknown> => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
};

export async function startAnthropicMock(options: { apiKey?: string } = {}): Promise<AnthropicMock> {
  const requests: AnthropicMockRequest[] = [];
  const server: Server = createServer(async (req, res) => {
    const fail = (status: number, type: string, message: string) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ type: "error", error: { type, message } }));
    };
    if (req.method !== "POST" || req.url !== "/v1/messages") return fail(404, "not_found_error", "not found");
    const body = (await readJson(req)) as AnthropicMockRequest["body"];
    // The key comes as x-api-key, or (the SDK from 1.x) as a bearer token.
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const apiKey = (req.headers["x-api-key"] as string | undefined) ?? bearer;
    requests.push({ apiKey, version: req.headers["anthropic-version"] as string | undefined, body });
    if (options.apiKey && apiKey !== options.apiKey)
      return fail(401, "authentication_error", "invalid API key");
    const last = body.messages[body.messages.length - 1];
    const text =
      typeof last?.content === "string"
        ? last.content
        : (last?.content ?? []).map((b) => (b.type === "text" ? (b.text ?? "") : "")).join("");
    const error = /^error:(\d+)$/.exec(text);
    if (error) return fail(Number(error[1]), "overloaded_error", "Overloaded");
    const content = `echo: ${text}`;
    const inputTokens = body.messages.length + text.split(/\s+/).length;
    const words = content.split(/(?<= )/);
    const message = {
      id: "msg_mock",
      type: "message",
      role: "assistant",
      model: body.model,
      stop_sequence: null,
    };
    if (!body.stream) {
      res.writeHead(200, { "content-type": "application/json", "request-id": "req_mock" });
      res.end(
        JSON.stringify({
          ...message,
          content: [{ type: "text", text: content }],
          stop_reason: "end_turn",
          usage: { input_tokens: inputTokens, output_tokens: words.length },
        }),
      );
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const send = (event: string, data: object) =>
      res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
    send("message_start", {
      message: {
        ...message,
        content: [],
        stop_reason: null,
        usage: { input_tokens: inputTokens, output_tokens: 1 },
      },
    });
    send("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
    send("ping", {});
    for (const w of words) send("content_block_delta", { index: 0, delta: { type: "text_delta", text: w } });
    send("content_block_stop", { index: 0 });
    send("message_delta", {
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: words.length },
    });
    send("message_stop", {});
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
