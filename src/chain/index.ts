export {
  AgentAccess,
  type AgentAccessMode,
  type AgentEvent,
  type AgentKeyRecord,
  type AgentLimits,
  type AgentPolicy,
  type AgentRecord,
  agentAccessName,
  type ChainConfig,
  type ContractAddresses,
  type GatekeeperRecord,
  type PolicyParameters,
  TeeType,
  VeilChain,
  type WorkerRecord,
  WorkerStatus,
  workerStatusName,
} from "./client.ts";
export { DEV_ONLY_WARNING, type DevAccount, devAccounts } from "./dev-accounts.ts";
export { chainError } from "./errors.ts";
export {
  RotationClient,
  type RotationRecord,
  RotationState,
  rotationProposalAction,
  rotationStateName,
} from "./rotation.ts";
