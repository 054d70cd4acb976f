// On-chain requests and schedules (ADR 0011): the AgentTriggers client and the cron grammar.
// Browser-safe.
export { type Cron, cronMatches, cronTicks, parseCron } from "../../chain/cron.ts";
export {
  type AgentRequestEvent,
  type AgentRequestRecord,
  RequestStatus,
  TriggersClient,
} from "../../chain/triggers-client.ts";
