// The SDK's browser entry: everything exported here runs in a browser (web APIs, viem and
// @noble only, no Node built-in). The web console imports the SDK through this file alone;
// esbuild's `platform: "browser"` build of web/ fails if a Node built-in creeps in.
export { VeilError, type VeilErrorJSON } from "../errors/index.ts";
export {
  type AgentUsage,
  type AgentUsageBucket,
  readAgentUsage,
  readSettledFees,
  type SettledFees,
} from "./agent-usage.ts";
export {
  type AgentVersion,
  type AgentVersionView,
  checkPinnable,
  checkRemovable,
  pinAgentVersion,
  removeAgentVersion,
  rollbackTarget,
  signingChain,
  type VersionChange,
  versionViews,
} from "./agent-versions.ts";
export {
  type BrowserInvocation,
  type BrowserInvokeOptions,
  type BrowserInvokeRequest,
  type CheckedReceipt,
  invokeAgent,
  type ReceiptCarrier,
} from "./browser-invoke.ts";
export {
  devAccountSigner,
  type SecretSet,
  type SecretSigner,
  setSecretFromBrowser,
  walletSigner,
} from "./browser-secrets.ts";
// The typed contract clients that need no Node built-in (all but compile.ts).
export * from "./contracts/abi.ts";
export * from "./contracts/economy.ts";
export * from "./contracts/registries.ts";
export * from "./contracts/triggers.ts";
export {
  economyOf,
  type PoolView,
  type ProposalView,
  readProposals,
  readStakingView,
  readWorkerMining,
  type SignedEconomy,
  type StakingView,
  signedEconomy,
  unlockedDevAccounts,
  type VaultView,
  type WorkerMining,
} from "./economy-view.ts";
export { type AgentLogLine, type LogCursor, openAgentLogs } from "./logs.ts";
export {
  type AgentDetail,
  type AgentGlance,
  type AgentWorkerGlance,
  type ConnectedNetwork,
  connectNetwork,
  type GatekeeperGlance,
  type KeyRotationGlance,
  type NetworkGlance,
  type PublicNetwork,
  readAgentDetail,
  readNetworkGlance,
  type WorkerGlance,
} from "./network-view.ts";
export {
  type AgentVerdict,
  formatAgentVerdict,
  type VerifyAgentOptions,
  type VerifyCheck,
  verifyAgent,
  type WorkerVerdict,
} from "./verify-agent.ts";
