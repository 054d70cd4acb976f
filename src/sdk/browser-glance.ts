// The SDK's light browser entry: what the web console's first page needs (reach the network
// through its gateway, read the network and an agent from the chain), without the invoke,
// secrets, verification and economy paths of `browser.ts`, which the console loads when a page
// that uses them is first shown (esbuild splits them out of the first load: web/build.ts).
// Everything here is also exported by browser.ts.
export { formatVeil } from "../chain/economy/units.ts";
export { VeilError, type VeilErrorJSON } from "../errors/index.ts";
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
