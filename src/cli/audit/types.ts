import type { Hex } from "viem";
import { VeilError } from "../../errors/index.ts";
import type { NetworkFile } from "../../network/config.ts";
import type { VeilClient } from "../../sdk/client.ts";
import type { VeilChain } from "../../sdk/contracts/registries.ts";

// What every check of `veil audit` shares: its verdict, and what the runner lends it.

export type Verdict = "held" | "broken" | "skipped";

/** What a check found: held, broken, or skipped (it could not run here), and what it tried. */
export type Finding = { verdict: Verdict; detail: string };

export const held = (detail: string): Finding => ({ verdict: "held", detail });
export const broken = (detail: string): Finding => ({ verdict: "broken", detail });
export const skipped = (why: string): Finding => ({ verdict: "skipped", detail: why });

/** The agent the audit deploys for itself: attacks through an agent need one it controls. */
export type Probe = {
  name: string;
  id: bigint;
  /** The private destinations its egress list names (see private-egress.ts). */
  egressTargets: string[];
};

/** What a check gets: the network, the attacker's account on it, and the shared probe agent. */
export type AuditContext = {
  network: NetworkFile;
  /** The attacker's key: --private-key, $VEIL_PRIVATE_KEY, else a dev network's "user". */
  key: Hex;
  address: Hex;
  /** Reads and writes as the attacker. */
  chain: VeilChain;
  /** The SDK as the attacker (the owner of the probe agent). */
  client: VeilClient;
  progress(message: string): void;
  /** The probe agent, deployed on first use; CANNOT_RUN where there is no gateway or no gas. */
  probe(): Promise<Probe>;
  /** CANNOT_RUN unless the attacker's account can pay for transactions. */
  requireFunds(): Promise<void>;
  /** Runs at the end of the audit, last registered first, whatever happened; `what` is said. */
  onCleanup(what: string, undo: () => Promise<unknown>): void;
};

export type AuditCheck = {
  id: string;
  title: string;
  run(ctx: AuditContext): Promise<Finding>;
};

/**
 * The code of a check that cannot run on this network (no funded account, no fixtures, no
 * gateway): the runner reports it as skipped with the error's message, which says why.
 */
export const CANNOT_RUN = "AUDIT_CHECK_CANNOT_RUN";

export function cannotRun(why: string, hint: string): VeilError {
  return new VeilError(CANNOT_RUN, why, { hint });
}

/** The code of a VeilError (or of what the SDK threw), for "was it refused with X" checks. */
export function codeOf(err: unknown): string | undefined {
  return err instanceof VeilError ? err.code : undefined;
}

/** One line about an unexpected failure, for a finding's detail. */
export function describeError(err: unknown): string {
  if (err instanceof VeilError) return `[${err.code}] ${err.shortMessage}`;
  return err instanceof Error ? err.message : String(err);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
