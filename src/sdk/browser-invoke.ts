import { createWalletClient, type Hex, parseSignature, serializeSignature } from "viem";
import type { LlmCallReceipt, Receipt } from "../chain/certificates.ts";
import { encodeVoucher, voucherOf, voucherToSign } from "../chain/fee-vouchers.ts";
import type { SignedCaller } from "../crypto/caller.ts";
import { requestHash } from "../crypto/invocation.ts";
import { typedData, type VeilDomain, type VeilMessage, type VeilTypeName } from "../crypto/typed-data.ts";
import { isVeilErrorJSON, VeilError } from "../errors/index.ts";
import type { SecretSigner } from "./browser-secrets.ts";
import { checkFeeQuote, type FeeQuote, type Payment, priceAboveMaximum, quoteOf, withQuote } from "./fees.ts";
import { gatewayErrorOfBytes } from "./gateway.ts";
import { resolveAgentId, type VerifiedAgentIdentity, verifyAgentIdentity } from "./identity.ts";
import {
  checkAnswer,
  fromBase64,
  type InvocationRequest,
  openSealedAnswer,
  sealInvocation,
  sentRequest,
  sha256Stream,
  streamCut,
} from "./invoke-core.ts";
import type { ConnectedNetwork } from "./network-view.ts";
import { parseReceiptHeader, type ReceiptCheck } from "./receipts.ts";

// Invoking an agent from a browser (the web console's playground): `fetch` and web streams
// only, no Node built-in. Node programs use VeilClient (invoke.ts, over node:http, which reads
// trailers); both build, seal and open requests and check receipts with invoke-core.ts. This is
// the transport for a platform that cannot read trailers (docs/adr/0025, "Receipts in the browser"):
//  - encrypted: the receipt travels sealed with the answer (the one envelope of a whole answer,
//    the sealed end frame of a streamed one), as for every caller;
//  - plain, whole answer: the receipt is a header (`x-veil-receipt`);
//  - plain, streamed answer: the receipt is a trailer, which a browser cannot read; the request
//    asks the gateway to keep it (`x-veil-keep-receipt: 1`) and the page picks it up by its
//    nonce (`GET /v1/receipts/NONCE`) once the body has ended.
// A call may be signed (`as`): by an injected wallet or, DEV ONLY, a development chain's unlocked
// account, which sign EIP-712 typed data (`eth_signTypedData_v4`) where VeilClient signs with a
// key it holds; the same `Call` and `Voucher` messages, so workers cannot tell them apart. A
// priced agent's quote is checked against the chain, then paid with a voucher the signer signs.

/** A request from a browser: method, path, headers, body, and whether to seal it (`encrypt`). */
export type BrowserInvokeRequest = InvocationRequest;

/** Where the receipt came from: sealed with the answer, a header, or the gateway's pickup. */
export type ReceiptCarrier = "sealed" | "header" | "pickup";

/** A receipt checked, and what it says: the worker, the code, what the call used. */
export type CheckedReceipt = ReceiptCheck & {
  carrier: ReceiptCarrier;
  /** The agent's certified key that signed it, and the chain of certificates it was checked up to. */
  identity: VerifiedAgentIdentity;
  llmReceipts: LlmCallReceipt[];
};

/** An answer whose body is read as it arrives; `done()` then checks its receipt. */
export type BrowserInvocation = {
  status: number;
  headers: Record<string, string>;
  /** The agent answered with a stream. */
  streamed: boolean;
  encrypted: boolean;
  /** The request's nonce, which the receipt must name. */
  nonce: Hex;
  /** The body's chunks as they arrive (opened here when encrypted); throws the typed error a cut body ended with. */
  body: AsyncGenerator<Uint8Array>;
  /** Reads what is left of the body, then checks the receipt up to the master key on chain. */
  done(): Promise<CheckedReceipt>;
  /** The account that signed the call (`as`), which the agent sees as `ctx.caller`. */
  caller?: Hex;
  /** The voucher sent with the call, and the worker's quote it pays (a priced agent). */
  payment?: Payment;
};

type Fetch = typeof fetch;

/** How a call from a browser is sent, signed and paid. */
export type BrowserInvokeOptions = {
  fetch?: Fetch;
  /**
   * Sign the call as this account (an injected wallet asks its user; a development chain's
   * unlocked account is DEV ONLY): agents with an allowlist, a token gate, a quota or a price
   * need to know who calls. A priced agent is paid from this account's escrow, with a voucher
   * it signs after the worker's quote checks out against the chain.
   */
  as?: SecretSigner;
  /**
   * The most a call may cost, in VeilToken base units: a quote above it is refused with
   * `PRICE_ABOVE_MAXIMUM` before anything is signed. Unset: the price on chain now.
   */
  maxPrice?: bigint;
};

/** Signs Veil's typed messages as `signer`, through its transport (`eth_signTypedData_v4`). */
function typedSigner(signer: SecretSigner) {
  const wallet = createWalletClient({
    account: { address: signer.address, type: "json-rpc" },
    transport: signer.transport,
  });
  return async <T extends VeilTypeName>(
    domain: VeilDomain,
    name: T,
    message: VeilMessage<T>,
  ): Promise<Hex> => {
    let signature: Hex;
    try {
      signature = await wallet.signTypedData(
        typedData(domain, name, message) as Parameters<typeof wallet.signTypedData>[0],
      );
    } catch (err) {
      throw new VeilError("WALLET_REFUSED", `${signer.address} did not sign the ${name}`, {
        cause: err,
        hint: "Approve the signature in the wallet (it shows the agent, the request's hash and nonce, or the fee).",
      });
    }
    // v as 27 or 28, which workers require, whichever form the wallet returned.
    return serializeSignature(parseSignature(signature));
  };
}

/**
 * Invokes an agent through the gateway from a browser, plain or end-to-end encrypted, and hands
 * the body on as it arrives; `done()` checks the agent's signed receipt against what was sent
 * and read (the request's hash and nonce, the body's hash and status), the agent's certified
 * key (up to the master key on chain), a code hash the chain lists, and the serving worker's
 * standing on chain. With `as` the call is signed by that account (its wallet asks), and a
 * priced agent paid from its escrow.
 *
 * @example
 * ```ts
 * const connected = await connectNetwork(location.origin);
 * const answer = await invokeAgent(connected, "hello", { path: "/greet", body: '{"name":"Ada"}', encrypt: true });
 * for await (const chunk of answer.body) console.log(new TextDecoder().decode(chunk));
 * const receipt = await answer.done();
 * console.log(receipt.worker, receipt.usage.cpuUs);
 *
 * // Signed by the browser's wallet (an allowlisted or priced agent); a priced one is paid from
 * // the wallet's escrow, at most 1 VEIL a call.
 * const paid = await invokeAgent(connected, "oracle", { path: "/quote" }, {
 *   as: await walletSigner(window.ethereum),
 *   maxPrice: parseVeil("1"),
 * });
 * console.log(paid.caller, paid.payment?.quote.price);
 * ```
 */
export async function invokeAgent(
  connected: Pick<ConnectedNetwork, "chain" | "gatewayUrl" | "network">,
  nameOrId: string,
  request: BrowserInvokeRequest,
  options: BrowserInvokeOptions = {},
): Promise<BrowserInvocation> {
  const { chain } = connected;
  const id = await resolveAgentId(chain, nameOrId);
  const identity = await verifyAgentIdentity(chain, id);
  const signer = options.as;
  const sign = signer && typedSigner(signer);
  // A priced agent's worker answers the first call 402 FEE_VOUCHER_REQUIRED with a quote; it is
  // checked against the chain, signed, and the call sent again (with a fresh nonce), twice at most.
  let payment: Payment | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      return await invokeOnce(connected, nameOrId, request, options, { id, identity, sign, payment });
    } catch (err) {
      const quote = quoteOf(err);
      if (!quote || !signer || !sign || attempt >= 2) throw err;
      payment = await payQuote(connected, nameOrId, quote, signer, sign, options.maxPrice, err);
    }
  }
}

type Sign = ReturnType<typeof typedSigner>;

/** Checks a worker's quote against the chain and has the signer sign its voucher. */
async function payQuote(
  connected: Pick<ConnectedNetwork, "chain" | "network">,
  agent: string,
  quote: FeeQuote,
  signer: SecretSigner,
  sign: Sign,
  maxPrice: bigint | undefined,
  refusal: unknown,
): Promise<Payment> {
  // The worker quotes for the account that signed the call: any other payer is not ours to sign for.
  if (quote.payer.toLowerCase() !== signer.address.toLowerCase()) throw refusal;
  if (maxPrice !== undefined && BigInt(quote.price) > maxPrice)
    throw priceAboveMaximum(agent, BigInt(quote.price), maxPrice);
  await checkFeeQuote(connected.network, connected.chain, quote);
  const { domain, message } = voucherToSign(quote);
  return { quote, voucher: voucherOf(quote, await sign(domain, "Voucher", message)) };
}

/** Sends the request once, signed by `sign` and with `payment`'s voucher when given. */
async function invokeOnce(
  connected: Pick<ConnectedNetwork, "chain" | "gatewayUrl">,
  nameOrId: string,
  request: BrowserInvokeRequest,
  options: BrowserInvokeOptions,
  call: { id: bigint; identity: VerifiedAgentIdentity; sign: Sign | undefined; payment: Payment | undefined },
): Promise<BrowserInvocation> {
  const { chain, gatewayUrl } = connected;
  const { id, identity, payment } = call;
  const doFetch = options.fetch ?? fetch;
  const sent = sentRequest(request);
  const { nonce } = sent;
  const caller =
    call.sign && options.as ? await signCall(chain, call.sign, options.as.address, id, sent) : undefined;
  const signed = {
    ...(caller ? { caller: caller.address } : {}),
    ...(payment ? { payment } : {}),
  };
  const check = async (
    receipt: Receipt | undefined,
    received: { status: number; bodyHash: Hex; llmReceipts?: string | unknown[] | undefined },
    carrier: ReceiptCarrier,
  ): Promise<CheckedReceipt> => {
    const { verified, llmReceipts } = await checkAnswer(chain, identity, receipt, sent, received);
    return { ...verified, carrier, identity, llmReceipts };
  };
  const send = async (url: string, init: RequestInit): Promise<Response> => {
    try {
      return await doFetch(url, init);
    } catch (err) {
      throw new VeilError("GATEWAY_UNREACHABLE", `The gateway at ${gatewayUrl} is not reachable`, {
        cause: err,
        retryable: true,
        hint: "Check that the network is running and that this page is served by its gateway.",
      });
    }
  };

  if (request.encrypt) {
    // The voucher travels sealed: only the worker learns who pays.
    const { envelope, replyKey } = sealInvocation(identity, sent, {
      headers: [
        ...Object.entries(request.headers ?? {}),
        ...(payment ? [["x-veil-fee-voucher", encodeVoucher(payment.voucher)] as [string, string]] : []),
      ],
      ...(caller ? { caller } : {}),
    });
    const res = await send(`${gatewayUrl}/v1/agents/${id}/encrypted`, {
      method: "POST",
      headers: {
        "content-type": "application/octet-stream",
        ...(payment ? { "x-veil-prefer-worker": payment.quote.worker } : {}),
      },
      body: envelope as Uint8Array<ArrayBuffer>,
    });
    const answer = await openSealedAnswer(
      replyKey,
      id,
      nonce,
      {
        status: res.status,
        contentType: res.headers.get("content-type") ?? undefined,
        chunks: chunksOf(res),
      },
      (err) => withQuote(err, Object.fromEntries(res.headers.entries())),
    );
    return {
      ...signed,
      status: answer.status,
      headers: answer.headers,
      streamed: answer.streamed,
      encrypted: true,
      nonce,
      body: answer.body,
      done: async () => {
        const end = await answer.ended();
        return check(
          end.receipt,
          { status: end.status, bodyHash: end.bodyHash, llmReceipts: end.llmReceipts },
          "sealed",
        );
      },
    };
  }

  const res = await send(`${gatewayUrl}/agents/${encodeURIComponent(nameOrId)}${sent.pathAndQuery}`, {
    method: sent.method,
    headers: {
      ...(request.headers ?? {}),
      "x-veil-nonce": nonce,
      "x-veil-keep-receipt": "1",
      ...(caller
        ? {
            "x-veil-caller": caller.address,
            "x-veil-caller-signature": caller.signature,
            "x-veil-caller-time": String(caller.timestamp),
          }
        : {}),
      ...(payment
        ? {
            "x-veil-fee-voucher": encodeVoucher(payment.voucher),
            "x-veil-prefer-worker": payment.quote.worker,
          }
        : {}),
    },
    ...(sent.body ? { body: sent.body as Uint8Array<ArrayBuffer> } : {}),
  });
  const headers = Object.fromEntries(res.headers.entries());
  // Errors of Veil itself (not of the agent) are JSON with a code; the agent's own answers,
  // whatever their status, come back as they are.
  if (
    (res.status < 200 || res.status > 299) &&
    !headers["x-veil-code-hash"] &&
    headers["content-type"]?.includes("application/json")
  ) {
    throw withQuote(gatewayErrorOfBytes(new Uint8Array(await res.arrayBuffer()), res.status), headers);
  }
  const streamed = headers["x-veil-streamed"] === "1";
  const hash = sha256Stream();
  const chunks = (async function* () {
    for await (const chunk of chunksOf(res)) {
      hash.update(chunk);
      yield chunk;
    }
  })();
  const ended = readToEnd(chunks);
  return {
    ...signed,
    status: res.status,
    headers,
    streamed,
    encrypted: false,
    nonce,
    body: chunks,
    done: async () => {
      await ended();
      const bodyHash = hash.digest();
      if (!streamed) {
        return check(
          parseReceiptHeader(headers["x-veil-receipt"]),
          { status: res.status, bodyHash, llmReceipts: headers["x-veil-llm-receipts"] },
          "header",
        );
      }
      const kept = await send(`${gatewayUrl}/v1/receipts/${nonce}`, {});
      if (!kept.ok) throw gatewayErrorOfBytes(new Uint8Array(await kept.arrayBuffer()), kept.status);
      const { trailers } = (await kept.json()) as { trailers: Record<string, string> };
      const error = trailers["x-veil-error"];
      if (error) {
        let json: unknown;
        try {
          json = JSON.parse(new TextDecoder().decode(fromBase64(error)));
        } catch {
          json = undefined;
        }
        throw isVeilErrorJSON(json) ? VeilError.fromJSON(json, 502) : streamCut();
      }
      return check(
        parseReceiptHeader(trailers["x-veil-receipt"]),
        { status: res.status, bodyHash, llmReceipts: trailers["x-veil-llm-receipts"] },
        "pickup",
      );
    },
  };
}

/** The caller's signature over this exact request (crypto/caller.ts's `Call`), made by `sign`. */
async function signCall(
  chain: ConnectedNetwork["chain"],
  sign: Sign,
  address: Hex,
  agentId: bigint,
  sent: ReturnType<typeof sentRequest>,
): Promise<SignedCaller> {
  const timestamp = Math.floor(Date.now() / 1000);
  const signature = await sign(
    { chainId: chain.config.chainId, verifyingContract: chain.config.contracts.agentRegistry },
    "Call",
    {
      agentId,
      requestHash: requestHash(sent.method, sent.pathAndQuery, sent.body),
      nonce: sent.nonce,
      timestamp,
    },
  );
  return { address, signature, timestamp };
}

/** The response body's chunks; a connection cut mid-body is `STREAM_CUT`. */
async function* chunksOf(res: Response): AsyncGenerator<Uint8Array> {
  if (!res.body) return;
  const reader = res.body.getReader();
  try {
    for (;;) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (err) {
        throw streamCut(err);
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * `done()` may be called before, during or after the caller's own loop over the body: it reads
 * whatever is left, once, and fails as the body did.
 */
function readToEnd(chunks: AsyncGenerator<Uint8Array>): () => Promise<void> {
  let failure: unknown;
  let finished = false;
  const next = chunks.next.bind(chunks);
  chunks.next = async (...args) => {
    try {
      const r = await next(...args);
      if (r.done) finished = true;
      return r;
    } catch (err) {
      failure ??= err;
      throw err;
    }
  };
  return async () => {
    while (!finished && failure === undefined) await chunks.next();
    if (failure !== undefined) throw failure;
  };
}
