import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

// A local HTTP server that speaks the OpenAI chat completions API (POST /v1/chat/completions),
// non-streaming and streaming (SSE), tool calls included. Tests and examples use it in place of
// a real provider. What it answers is decided by the last user message:
//   "tool:<name> <json>"  → the assistant calls tool <name> with arguments <json>
//   "slow:<ms>"           → answers after <ms> ms
//   "error:<status>"      → an HTTP error with an OpenAI-style error body
//   "garbage"             → a 200 whose body is not a chat completion
//   "stream-gated"        → (streaming) sends the first chunk, then waits for release() (or a
//                           POST /release) to send the rest; each such request waits anew
//   "stream-slow:<ms> …"  → (streaming) waits <ms> ms before each word after the first
//   anything else         → "echo: <text>" (or, after a tool result, "tool said: <content>")

export type MockRequest = {
  authorization: string | undefined;
  body: {
    model: string;
    messages: { role: string; content: string | null; tool_calls?: unknown[]; tool_call_id?: string }[];
    tools?: unknown[];
    stream?: boolean;
  };
};

export type OpenAIMock = {
  url: string;
  /** The base URL an agent's owner would set as LLM_BASE_URL. */
  baseUrl: string;
  requests: MockRequest[];
  /** Lets a "stream-gated" answer finish. */
  release(): void;
  close(): Promise<void>;
};

const readJson = async (req: IncomingMessage): Promise<unknown> => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
};

export async function startOpenAIMock(options: { apiKey?: string } = {}): Promise<OpenAIMock> {
  const requests: MockRequest[] = [];
  let gate: (() => void) | undefined;
  let gateOpen = false;
  const server: Server = createServer(async (req, res) => {
    if (req.method === "POST" && req.url === "/release") {
      // Lets an agent (or a test) open the gate of a "stream-gated" answer.
      gateOpen = true;
      gate?.();
      res.writeHead(204);
      res.end();
      return;
    }
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: "not found", type: "invalid_request_error" } }));
      return;
    }
    const body = (await readJson(req)) as MockRequest["body"];
    requests.push({ authorization: req.headers.authorization, body });
    if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ error: { message: "Incorrect API key provided", type: "invalid_request_error" } }),
      );
      return;
    }
    const last = body.messages[body.messages.length - 1];
    const text = typeof last?.content === "string" ? last.content : "";
    const promptTokens = body.messages.reduce((n, m) => n + String(m.content ?? "").split(/\s+/).length, 0);
    let content: string | null = `echo: ${text}`;
    let toolCalls:
      | { id: string; type: "function"; function: { name: string; arguments: string } }[]
      | undefined;
    if (last?.role === "tool") content = `tool said: ${text}`;
    const tool = /^tool:(\S+) (.*)$/s.exec(text);
    if (last?.role === "user" && tool) {
      content = null;
      toolCalls = [{ id: "call_1", type: "function", function: { name: tool[1]!, arguments: tool[2]! } }];
    }
    const slow = /^slow:(\d+)$/.exec(text);
    if (slow) await new Promise((r) => setTimeout(r, Number(slow[1])));
    const error = /^error:(\d+)$/.exec(text);
    if (error) {
      res.writeHead(Number(error[1]), { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: "The model is overloaded", type: "server_error" } }));
      return;
    }
    if (text === "garbage") {
      res.writeHead(200, { "content-type": body.stream ? "text/event-stream" : "application/json" });
      res.end(body.stream ? "data: {not json\n\n" : JSON.stringify({ hello: "world" }));
      return;
    }
    const completionTokens = (content ?? "").split(/\s+/).length + (toolCalls ? 5 : 0);
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    };
    const finish = toolCalls ? "tool_calls" : "stop";
    if (!body.stream) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: "chatcmpl-mock",
          object: "chat.completion",
          created: 0,
          model: body.model,
          choices: [
            {
              index: 0,
              message: { role: "assistant", content, ...(toolCalls ? { tool_calls: toolCalls } : {}) },
              finish_reason: finish,
            },
          ],
          usage,
        }),
      );
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const send = (delta: unknown, finishReason: string | null = null, extra: object = {}) =>
      res.write(
        `data: ${JSON.stringify({ id: "chatcmpl-mock", object: "chat.completion.chunk", model: body.model, choices: [{ index: 0, delta, finish_reason: finishReason }], ...extra })}\n\n`,
      );
    send({ role: "assistant", content: "" });
    if (toolCalls) {
      // Tool calls arrive in pieces, as real providers send them: name first, arguments in parts.
      const call = toolCalls[0]!;
      const args = call.function.arguments;
      const half = Math.floor(args.length / 2);
      send({
        tool_calls: [
          { index: 0, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } },
        ],
      });
      send({ tool_calls: [{ index: 0, function: { arguments: args.slice(0, half) } }] });
      send({ tool_calls: [{ index: 0, function: { arguments: args.slice(half) } }] });
    } else {
      const words = (content ?? "").split(/(?<= )/);
      send({ content: words[0] });
      if (text === "stream-gated") {
        if (!gateOpen) await new Promise<void>((r) => (gate = r));
        gateOpen = false;
      }
      const pause = Number(/^stream-slow:(\d+)/.exec(text)?.[1] ?? 0);
      for (const w of words.slice(1)) {
        if (pause) await new Promise((r) => setTimeout(r, pause));
        send({ content: w });
      }
    }
    send({}, finish);
    res.write(
      `data: ${JSON.stringify({ id: "chatcmpl-mock", object: "chat.completion.chunk", model: body.model, choices: [], usage })}\n\n`,
    );
    res.end("data: [DONE]\n\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    baseUrl: `${url}/v1`,
    requests,
    release() {
      gateOpen = true;
      gate?.();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
