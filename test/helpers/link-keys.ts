import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { LinkAuthenticator } from "../../src/daemon/link-auth.ts";

/** The link key of the gateway in tests (docs/adr/0018). TEST ONLY. */
export const TEST_GATEWAY_KEY: Hex = `0x${"11".repeat(32)}`;
export const TEST_GATEWAY_ADDRESS = privateKeyToAccount(TEST_GATEWAY_KEY).address;

/** A worker `self` that takes links from the test gateway only. */
export function testLinkPeers(self: string): LinkAuthenticator {
  return new LinkAuthenticator(self, [TEST_GATEWAY_ADDRESS]);
}
