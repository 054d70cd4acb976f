/**
 * A chat agent with memory. Each conversation (a session id the client picks) keeps its
 * messages in ctx.state, which the worker encrypts under this agent's own key; each turn sends
 * the remembered messages to an LLM through ctx.llm, which holds the provider's API key on the
 * host and signs a receipt per call.
 *
 * Secrets (set with `npx veil secrets set NAME KEY=VALUE`):
 *   LLM_BASE_URL   an OpenAI-compatible API, e.g. https://api.openai.com/v1
 *   LLM_API_KEY    its key (never visible to this code: ctx.llm puts it on the request)
 *   LLM_MODEL      optional, default gpt-4o-mini
 *   SYSTEM_PROMPT  optional
 *
 * Routes:
 *   POST   /chat     {"session": "…", "message": "…", "stream"?: true}
 *                    → {"reply", "usage", "turns"}; with stream, server-sent events as the LLM
 *                      writes: data: {"delta": "…"} … then data: {"done": true, "usage", "turns"}
 *   GET    /history?session=…   the remembered messages
 *   DELETE /history?session=…   forget them
 */

type Message = { role: "system" | "user" | "assistant"; content: string };
type Usage = { promptTokens: number; completionTokens: number; totalTokens: number };
type ChatResult = { content: string | null; usage: Usage };
type ChatStream = AsyncIterable<{ content?: string }> & { result(): Promise<ChatResult> };
type Ctx = {
  state: {
    get(key: string): Promise<unknown>;
    put(key: string, value: unknown): Promise<void>;
    delete(key: string): Promise<boolean>;
  };
  llm: {
    chat(o: { model: string; messages: Message[]; stream: true }): Promise<ChatStream>;
    chat(o: { model: string; messages: Message[] }): Promise<ChatResult>;
    Error: new (...args: never[]) => Error & { code: string };
  };
};
type Env = { LLM_MODEL?: string; SYSTEM_PROMPT?: string };

/** Messages kept per session (the oldest are dropped first). */
const MEMORY = 20;
const MAX_MESSAGE = 4000;

const json = (value: unknown, status = 200) => Response.json(value, { status });
const sessionKey = (session: string) => `session:${session}`;

function validSession(s: unknown): s is string {
  return typeof s === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(s);
}

async function history(ctx: Ctx, session: string): Promise<Message[]> {
  const stored = await ctx.state.get(sessionKey(session));
  return Array.isArray(stored) ? (stored as Message[]) : [];
}

export default {
  async fetch(request: Request, env: Env, ctx: Ctx): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/history") {
      const session = url.searchParams.get("session");
      if (!validSession(session)) return json({ error: "give ?session= (1–64 of A–Z a–z 0–9 _ -)" }, 400);
      if (request.method === "DELETE")
        return json({ forgotten: await ctx.state.delete(sessionKey(session)) });
      return json({ session, messages: await history(ctx, session) });
    }
    if (url.pathname !== "/chat" || request.method !== "POST") {
      return json({ error: `no route ${request.method} ${url.pathname}; POST /chat` }, 404);
    }
    let body: { session?: unknown; message?: unknown; stream?: unknown };
    try {
      body = (await request.json()) as typeof body;
    } catch {
      return json({ error: 'send JSON: {"session": "…", "message": "…"}' }, 400);
    }
    const { session, message } = body;
    if (!validSession(session)) return json({ error: "session must be 1–64 of A–Z a–z 0–9 _ -" }, 400);
    if (typeof message !== "string" || message.length === 0 || message.length > MAX_MESSAGE)
      return json({ error: `message must be a string of 1–${MAX_MESSAGE} characters` }, 400);

    const past = await history(ctx, session);
    const system: Message = { role: "system", content: env.SYSTEM_PROMPT ?? "You are a helpful assistant." };
    const messages: Message[] = [system, ...past, { role: "user", content: message }];
    const model = env.LLM_MODEL ?? "gpt-4o-mini";
    const remember = async (reply: string) => {
      const kept = [...past, { role: "user", content: message }, { role: "assistant", content: reply }];
      await ctx.state.put(sessionKey(session), kept.slice(-MEMORY));
      return kept.length / 2;
    };
    const failed = (e: unknown) =>
      e instanceof ctx.llm.Error
        ? json({ error: e.message, code: e.code }, 502)
        : json({ error: String((e as Error)?.message ?? e) }, 500);

    if (body.stream !== true) {
      try {
        const r = await ctx.llm.chat({ model, messages });
        const reply = r.content ?? "";
        return json({ reply, usage: r.usage, turns: await remember(reply) });
      } catch (e) {
        return failed(e);
      }
    }
    let answer: ChatStream;
    try {
      answer = await ctx.llm.chat({ model, messages, stream: true });
    } catch (e) {
      return failed(e);
    }
    // Server-sent events, each delta as the LLM writes it; the reply is remembered at the end.
    const encoder = new TextEncoder();
    const event = (v: unknown) => encoder.encode(`data: ${JSON.stringify(v)}\n\n`);
    return new Response(
      new ReadableStream({
        async start(controller) {
          let reply = "";
          try {
            for await (const d of answer) {
              if (!d.content) continue;
              reply += d.content;
              controller.enqueue(event({ delta: d.content }));
            }
            const r = await answer.result();
            controller.enqueue(event({ done: true, usage: r.usage, turns: await remember(reply) }));
          } catch (e) {
            controller.enqueue(event({ error: String((e as Error)?.message ?? e) }));
          }
          controller.close();
        },
      }),
      { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } },
    );
  },
};
