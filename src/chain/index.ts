export {
  type AgentEvent,
  type AgentKeyRecord,
  type AgentRecord,
  type ChainConfig,
  type ContractAddresses,
  type GatekeeperRecord,
  TeeType,
  VeilChain,
  type WorkerRecord,
  WorkerStatus,
} from "./client.ts";
export { DEV_ONLY_WARNING, type DevAccount, devAccounts } from "./dev-accounts.ts";
export { chainError } from "./errors.ts";
