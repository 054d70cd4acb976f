// The registries' client (agents and versions, access and prices, workers, gatekeepers and
// epochs, attestation policy, key rotations) and the chain's typed errors. Browser-safe.
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
  chainError,
  type GatekeeperRecord,
  type PolicyParameters,
  RotationClient,
  type RotationRecord,
  RotationState,
  rotationProposalAction,
  rotationStateName,
  TeeType,
  VeilChain,
  type WorkerRecord,
  WorkerStatus,
  workerStatusName,
} from "../../chain/index.ts";
export { signTyped } from "../../chain/typed-signing.ts";
