export { type AgentContext, type AgentEnv, type AgentHandler, defineAgent } from "./agent.ts";
export { type BuiltAgent, buildAgent, findEntry, MAX_BUNDLE_BYTES } from "./build.ts";
export { type AgentInfo, type DeployResult, type InvokeResult, VeilClient } from "./client.ts";
