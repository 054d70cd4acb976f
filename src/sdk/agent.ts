/**
 * Types for agent authors. An agent is an ES module whose default export has a web-standard
 * `fetch(request, env, ctx)`, as in Cloudflare Workers; Hono apps work as they are.
 */
export type AgentEnv = {
  readonly VEIL_AGENT_ID: string;
  readonly VEIL_AGENT_NAME: string;
  readonly VEIL_CODE_HASH: string;
  readonly [secret: string]: string;
};

export type AgentContext = {
  readonly agent: { readonly id: string; readonly name: string; readonly codeHash: string };
  /** Keeps work going after the response is sent. */
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
};

export type AgentHandler = {
  fetch(request: Request, env: AgentEnv, ctx: AgentContext): Response | Promise<Response>;
};

/** Identity function that gives an agent's handler its types. */
export function defineAgent<T extends AgentHandler>(handler: T): T {
  return handler;
}
