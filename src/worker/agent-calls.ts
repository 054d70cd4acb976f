import { encodeAbiParameters, type Hex, keccak256 } from "viem";
import { type FeeQuote, signQuote, type VoucherHeader } from "../chain/fee-vouchers.ts";
import type { AgentRecord } from "../chain/index.ts";
import { requestHash } from "../crypto/index.ts";
import { isSignatureHex, personalSignedBy } from "../crypto/known-signers.ts";
import { VeilError } from "../errors/index.ts";
import type { AgentCaller, CallContext } from "../sandbox/host-agents.ts";
import type { AgentIdentity } from "./keyring.ts";

// Agent-to-agent calls. The calling worker seals the request to the callee's certified key and
// sends it through the gateway, like any SDK client; inside the envelope (so only the callee
// sees it) goes a call assertion signed by the calling agent's secp256k1 key: who calls whom,
// the chain of agents above, the deadline, and the request's hash. The callee's worker checks
// the signature against the caller's address as certified on chain, and refuses cycles and
// chains deeper than the network allows. ACL, price and quota checks of the callee can use the
// verified CallContext.caller (agent id and address).

/** The sealed header that carries the signed call assertion. */
export const CALL_HEADER = "x-veil-call";
export const DEFAULT_MAX_CALL_DEPTH = 4;

export type CallAssertion = {
  caller: string;
  callee: string;
  /** Agent ids above the callee, outermost first; the last is the caller. */
  chain: string[];
  /** ms since the epoch; 0 for none. */
  deadline: number;
  requestHash: Hex;
  signature: Hex;
};

export function callDigest(
  domain: { chainId: number; agentRegistry: Hex },
  a: Omit<CallAssertion, "signature">,
): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: "string" },
        { type: "uint256" },
        { type: "address" },
        { type: "uint256" },
        { type: "uint256" },
        { type: "uint256[]" },
        { type: "uint64" },
        { type: "bytes32" },
      ],
      [
        "veil.call.v1",
        BigInt(domain.chainId),
        domain.agentRegistry,
        BigInt(a.caller),
        BigInt(a.callee),
        a.chain.map((c) => BigInt(c)),
        BigInt(a.deadline),
        a.requestHash,
      ],
    ),
  );
}

/** Refusals that mean the callee did not run, so its fee was not incurred. */
const FEE_REFUSALS = new Set([
  "FEE_VOUCHER_REQUIRED",
  "VOUCHER_SIGNATURE_INVALID",
  "FEE_SIGNER_NOT_AUTHORIZED",
  "ESCROW_INSUFFICIENT_PREPAID",
  "FEE_QUOTE_INVALID",
]);

const callError = (code: string, message: string, hint: string, status = 400) =>
  new VeilError(code, message, { status, hint });

/**
 * What an agent's outbound call goes through: a client of the network, as any caller's (the CLI
 * hands the worker the SDK's VeilClient; the worker itself sits below the SDK).
 */
export type AgentCallClient = {
  identity(nameOrId: string): Promise<{ id: bigint; address: Hex }>;
  invoke(
    nameOrId: string,
    request: {
      method: string;
      path: string;
      headers: Record<string, string>;
      body?: Uint8Array;
      encrypt: true;
      pay: (quote: FeeQuote) => Promise<VoucherHeader | undefined>;
      payerTag: string;
    },
  ): Promise<{ status: number; headers: Record<string, string>; body: Uint8Array }>;
};

export class AgentCalls {
  constructor(
    readonly options: {
      /** The client calls go out through (made on first use: the gateway may start later). */
      client: () => AgentCallClient;
      domain: { chainId: number; agentRegistry: Hex };
      maxDepth?: number;
      /**
       * Outbound fees (ADR 0006): counts `price` against the calling agent's owner's spending
       * cap, or refuses; returns how to give it back if the callee refused the call.
       */
      reserveFee?: (record: AgentRecord, price: bigint) => Promise<() => void>;
      /** The callee's price on chain, to check a worker's quote before the agent's key signs. */
      priceOf?: (agentId: bigint) => Promise<bigint>;
      /** The network's FeeEscrow (quotes must name it). */
      feeEscrow?: Hex;
    },
  ) {}

  get maxDepth(): number {
    return this.options.maxDepth ?? DEFAULT_MAX_CALL_DEPTH;
  }

  /** The caller the sandbox of `record` uses for ctx.agents.call. */
  callerFor(record: AgentRecord, identity: AgentIdentity | undefined): AgentCaller {
    return async (req, context) => {
      try {
        if (!identity)
          throw callError(
            "AGENT_KEYS_MISSING",
            "This agent has no keys on this worker yet",
            "Retry in a moment.",
            503,
          );
        const self = record.id.toString();
        const callee = (await this.options.client().identity(req.target)).id.toString();
        const chain = [...context.chain, self];
        if (callee === self || chain.includes(callee)) {
          throw callError(
            "CALL_CYCLE",
            `Agent ${req.target} (#${callee}) is already in this call chain (${chain.map((c) => `#${c}`).join(" → ")})`,
            "An agent cannot be called again by a call it started; break the cycle.",
            508,
          );
        }
        if (chain.length > this.maxDepth) {
          throw callError(
            "CALL_DEPTH_EXCEEDED",
            `This call would be ${chain.length} agents deep; the network allows ${this.maxDepth}`,
            "Call fewer agents in a row.",
            508,
          );
        }
        const asked = req.timeoutMs ? Date.now() + req.timeoutMs : Number.POSITIVE_INFINITY;
        const deadline = Math.min(context.deadline ?? Number.POSITIVE_INFINITY, asked);
        const body = req.body ? new Uint8Array(req.body) : null;
        const unsigned = {
          caller: self,
          callee,
          chain,
          deadline: Number.isFinite(deadline) ? deadline : 0,
          requestHash: requestHash(
            req.method,
            req.path,
            req.method === "GET" || req.method === "HEAD" ? null : body,
          ),
        };
        const signature = await identity.account.signMessage({
          message: { raw: callDigest(this.options.domain, unsigned) },
        });
        const assertion = Buffer.from(JSON.stringify({ ...unsigned, signature })).toString("base64");
        // A priced callee: its worker quotes a voucher with the calling agent's owner as payer;
        // the agent's key signs it (the owner authorized it on FeeEscrow), within the owner's cap.
        const reserved: (() => void)[] = [];
        const pay = async (quote: FeeQuote): Promise<VoucherHeader | undefined> => {
          if (
            quote.payer.toLowerCase() !== record.owner.toLowerCase() ||
            quote.agentId !== callee ||
            quote.chainId !== this.options.domain.chainId ||
            quote.feeEscrow.toLowerCase() !== this.options.feeEscrow?.toLowerCase() ||
            !this.options.reserveFee ||
            !this.options.priceOf ||
            BigInt(quote.price) !== (await this.options.priceOf(BigInt(callee)))
          )
            throw callError(
              "FEE_QUOTE_INVALID",
              `The fee quoted for agent #${callee} is not one this agent's owner pays`,
              "A calling agent's owner pays the on-chain price of the callee, through this network's FeeEscrow.",
              402,
            );
          reserved.push(await this.options.reserveFee(record, BigInt(quote.price)));
          return signQuote(identity.account, quote);
        };
        const call = this.options
          .client()
          .invoke(callee, {
            method: req.method,
            path: req.path,
            headers: { ...Object.fromEntries(req.headers), [CALL_HEADER]: assertion },
            ...(body ? { body } : {}),
            encrypt: true,
            pay,
            payerTag: `agent:${self}`,
          })
          .then(
            (res) => {
              // Only the voucher that was accepted counts against the cap.
              for (const release of reserved.slice(0, -1)) release();
              return res;
            },
            (err: unknown) => {
              // Refused before the callee ran: nothing was spent.
              if (err instanceof VeilError && FEE_REFUSALS.has(err.code))
                for (const release of reserved) release();
              throw err;
            },
          );
        const timer = Number.isFinite(deadline)
          ? new Promise<never>((_, reject) =>
              setTimeout(
                () =>
                  reject(
                    callError(
                      "CALL_DEADLINE_EXCEEDED",
                      `Agent ${req.target} did not answer before the deadline`,
                      "Give the call more time, or make the callee faster.",
                      504,
                    ),
                  ),
                Math.max(0, deadline - Date.now()),
              ).unref(),
            )
          : undefined;
        const res = await (timer ? Promise.race([call, timer]) : call);
        const headers = Object.entries(res.headers) as [string, string][];
        return {
          ok: true,
          status: res.status,
          headers,
          body: res.body.buffer.slice(
            res.body.byteOffset,
            res.body.byteOffset + res.body.byteLength,
          ) as ArrayBuffer,
          calleeId: callee,
        };
      } catch (err) {
        const e = err instanceof VeilError ? err : undefined;
        return {
          ok: false,
          code: e?.code ?? "AGENT_CALL_FAILED",
          message: e ? e.shortMessage : `ctx.agents.call: ${(err as Error).message}`,
        };
      }
    };
  }

  /**
   * Checks a call assertion that arrived sealed to `callee`: the caller's signature, against its
   * address certified on chain; the request it names; the deadline; depth and cycles.
   */
  async verify(
    callee: bigint,
    header: string,
    request: { method: string; path: string; body: Uint8Array | null },
  ): Promise<CallContext> {
    const refuse = (why: string) =>
      new VeilError("CALLER_UNVERIFIED", `The calling agent's identity does not check out: ${why}`, {
        status: 403,
        hint: "Agents call each other with ctx.agents.call; the caller header cannot be set by hand.",
      });
    let a: CallAssertion;
    try {
      a = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as CallAssertion;
    } catch {
      throw refuse("it is not readable");
    }
    if (
      typeof a?.caller !== "string" ||
      !/^\d+$/.test(a.caller) ||
      a.callee !== callee.toString() ||
      !Array.isArray(a.chain) ||
      !a.chain.every((c) => typeof c === "string" && /^\d+$/.test(c)) ||
      a.chain.at(-1) !== a.caller ||
      !Number.isSafeInteger(a.deadline)
    )
      throw refuse("it names another callee, or is malformed");
    if (a.requestHash !== requestHash(request.method, request.path, request.body))
      throw refuse("it names another request");
    if (a.chain.includes(callee.toString()))
      throw callError(
        "CALL_CYCLE",
        `Agent #${callee} is already in this call chain`,
        "Break the cycle.",
        508,
      );
    if (a.chain.length > this.maxDepth)
      throw callError(
        "CALL_DEPTH_EXCEEDED",
        `The call chain is deeper than ${this.maxDepth}`,
        "Call fewer agents in a row.",
        508,
      );
    if (a.deadline !== 0 && a.deadline <= Date.now())
      throw callError(
        "CALL_DEADLINE_EXCEEDED",
        "The calling agent's deadline has passed",
        "Give the call more time.",
        504,
      );
    if (!isSignatureHex(a.signature)) throw refuse("its signature is malformed");
    const certified = await this.options.client().identity(a.caller);
    if (!personalSignedBy(certified.address, callDigest(this.options.domain, a), a.signature))
      throw refuse(`it is not signed by agent #${a.caller}'s certified key`);
    return {
      caller: { agentId: a.caller, address: certified.address },
      chain: a.chain,
      ...(a.deadline ? { deadline: a.deadline } : {}),
    };
  }
}
