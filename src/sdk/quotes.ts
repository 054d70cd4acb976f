// Checking a bare TEE quote against its collateral, for callers that hold one (`veil verify
// --quote`, `veil audit`): the tee component's verifiers, reached through the SDK so that the CLI
// and the console stand on the SDK alone.
export {
  confidenceLevel,
  type DcapVerified,
  verifyDcapQuote,
  verifyDcapQuoteWithQvl,
} from "../tee/dcap.ts";
export { checkQuoteStructure } from "../tee/quote-structure.ts";
