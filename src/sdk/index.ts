export {
  type AgentCalls,
  type AgentContext,
  type AgentEnv,
  type AgentHandler,
  type AgentLlm,
  type AgentStateStore,
  defineAgent,
  type LlmChatOptions,
  type LlmChatResult,
  type LlmChatStream,
  type LlmDelta,
  type LlmMessage,
} from "./agent.ts";
export { type BuiltAgent, buildAgent, findEntry, MAX_BUNDLE_BYTES } from "./build.ts";
export {
  type AgentInfo,
  type DeployResult,
  type InvokeEnd,
  type InvokeResult,
  type InvokeStream,
  VeilClient,
} from "./client.ts";
// Typed contract clients, one module per area (src/sdk/contracts/): the CLI and the web console
// reach the chain through these alone.
export * from "./contracts/abi.ts";
export * from "./contracts/compile.ts";
export * from "./contracts/economy.ts";
export * from "./contracts/registries.ts";
export * from "./contracts/triggers.ts";
export { checkLlmReceipt, type LlmReceiptExpectations, verifyLlmReceipts } from "./receipts.ts";
export {
  type AgentVerdict,
  formatAgentVerdict,
  type VerifyAgentOptions,
  type VerifyCheck,
  verifyAgent,
  type WorkerVerdict,
} from "./verify-agent.ts";
