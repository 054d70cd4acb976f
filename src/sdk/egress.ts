// What workers refuse to fetch for an agent unless their operator allows it (ADR 0020), for
// callers that check a network's behaviour (`veil audit`).
export { isPrivateAddress } from "../sandbox/egress.ts";
