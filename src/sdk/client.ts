import { createHash, randomBytes } from "node:crypto";
import { type Hex, hexToBytes } from "viem";
import type { PrivateKeyAccount } from "viem/accounts";
import type { LlmCallReceipt, ReceiptUsage } from "../chain/certificates.ts";
import type { FeeQuote, VoucherHeader } from "../chain/fee-vouchers.ts";
import type { VeilChain } from "../chain/index.ts";
import { isVeilErrorJSON, VeilError } from "../errors/index.ts";
import { type NetworkFile, networkMaxima } from "../network/config.ts";
import {
  checkRequestedLimits,
  type EffectiveLimits,
  effectiveLimits,
  type RequestedLimits,
} from "../network/limits.ts";
import { contentHash, httpBlobSource } from "../storage/blob-store.ts";
import type { BuiltAgent } from "./build.ts";
import type { VerifiedAgentIdentity } from "./identity.ts";
import type { AgentLogLine, LogCursor } from "./logs.ts";
import type { ReceiptCheck } from "./receipts.ts";
import type { AgentVerdict, VerifyAgentOptions } from "./verify-agent.ts";

export type { FeeQuote, VoucherHeader };

/**
 * Modules of the invoke path, loaded on first use and then kept: every `import()` call goes
 * through the module loader's resolution again (through loader hooks, a message to another
 * thread), which showed as a tenth of an invoking process's CPU.
 */
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= load();
    return loaded;
  };
}
const receiptsModule = once(() => import("./receipts.ts"));
const streamModule = once(() => import("./stream.ts"));
const cryptoModule = once(() => import("../crypto/index.ts"));

const feeVouchersModule = once(() => import("../chain/fee-vouchers.ts"));
const accountsModule = once(() => import("viem/accounts"));

export type DeployResult = {
  id: bigint;
  name: string;
  codeHash: Hex;
  version: number;
  upgraded: boolean;
  txHash: Hex;
  bundleBytes: number;
  servedBy: string[];
};

export type InvokeResult = {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array;
  worker?: string;
  /** Set when the receipt was checked (`verify`, and always with `encrypt`). */
  verified?: ReceiptCheck;
  /** What the invocation used on the worker that served it, as its receipt signs it (checked with `verify`). */
  usage?: ReceiptUsage;
  /** The signed receipts of the LLM calls the agent made for it (checked with `verify`). */
  llmReceipts?: LlmCallReceipt[];
};

/** What is known once a streamed answer has ended (see VeilClient.invokeStream). */
export type InvokeEnd = {
  verified?: ReceiptCheck;
  usage?: ReceiptUsage;
  llmReceipts: LlmCallReceipt[];
  /** Headers sent after the body (the receipts of a streamed answer). */
  trailers: Record<string, string>;
};

/** An answer whose body is read as the agent produces it. */
export type InvokeStream = {
  status: number;
  headers: Record<string, string>;
  worker?: string;
  /** The agent answered with a stream: its body arrives as it is produced. */
  streamed: boolean;
  /**
   * The body's chunks as they arrive. If a limit or the agent cut the body, the iteration
   * throws the typed error (e.g. LIMIT_RESPONSE_TOO_LARGE, LIMIT_WALL_TIME_EXCEEDED, AGENT_THREW).
   */
  body: AsyncIterable<Uint8Array>;
  /** Reads what is left of the body, then checks its receipts (unless `verify: false`). */
  done(): Promise<InvokeEnd>;
};

export type InvokeRequest = {
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Seal the request to the agent's key and have the answer sealed to a one-time key of ours. */
  encrypt?: boolean;
  /** Check the response's signed receipt up to the master key on chain (default: true). */
  verify?: boolean;
  /**
   * Sign the request as this caller (a secp256k1 private key): agents with an allowlist, a token
   * gate, a quota or a price need to know who calls (see crypto/caller.ts).
   */
  as?: Hex;
  /**
   * Signs the fee voucher a priced agent's worker quotes (ADR 0006). Default with `as`: the
   * caller's key signs for itself. Return undefined to decline paying.
   */
  pay?: (quote: FeeQuote) => Promise<VoucherHeader | undefined>;
  /** Whose fee channel this is, when `pay` is given (the SDK remembers one per agent and payer). */
  payerTag?: string;
  /**
   * The most this call may cost, in VeilToken base units: a worker's quote above it is refused
   * with `PRICE_ABOVE_MAXIMUM` before any voucher is signed (ADR 0020). Unset: the price the
   * chain shows now, whatever it is.
   */
  maxPrice?: bigint;
  /**
   * Whether the request may run twice without harm. Such a request (by default GET, HEAD and
   * OPTIONS) is sent again, with a fresh nonce, when the gateway answers that the worker that had
   * it went away (`WORKER_FAILED`) or that none could take it (`NO_WORKER_AVAILABLE`): the gateway
   * cannot send a signed request on itself, its nonce being spent. Any other gets the error, with
   * its hint. Paid calls are never sent again by the SDK.
   */
  idempotent?: boolean;
};

/** Gateway answers after which an idempotent request is sent again, and the waits before each try. */
const RETRY_CODES = new Set(["WORKER_FAILED", "NO_WORKER_AVAILABLE"]);
const RETRY_WAITS_MS = [50, 250];

/** What a call to an agent costs, and an increase its owner scheduled (ADR 0020). */
export type AgentPrice = {
  /** VeilToken base units per call, now. */
  price: bigint;
  /** A higher price and when it applies (unix seconds), if one is scheduled. */
  pending?: { price: bigint; at: number };
  /** Whether the owner pays for callers' calls (a sponsored agent; callers pay nothing). */
  sponsored: boolean;
};

export type AgentInfo = {
  id: string;
  name: string;
  owner: Hex;
  codeHash: Hex;
  currentVersion: number;
  versionCount: number;
  workers: { address: Hex; url: string; status: string; codeHash?: Hex }[];
};

/**
 * The most a worker may say we owe it unclaimed, in calls' worth, when it quotes a channel we did
 * not sign for in this process: workers claim every 100 calls or 5 minutes by default.
 */
export const MAX_UNPAID_CALLS = 1000n;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** VeilToken base units as VEIL (18 decimals), for messages. */
function veilUnits(units: bigint): string {
  const whole = units / 10n ** 18n;
  const fraction = (units % 10n ** 18n).toString().padStart(18, "0").replace(/0+$/, "");
  return fraction ? `${whole}.${fraction}` : whole.toString();
}

function priceAboveMaximum(agent: string, price: bigint, max: bigint): VeilError {
  return new VeilError(
    "PRICE_ABOVE_MAXIMUM",
    `A call to ${agent} costs ${veilUnits(price)} VEIL, more than the ${veilUnits(max)} VEIL you allowed`,
    {
      status: 402,
      hint: "Nothing was signed or paid. If you accept the price, call again with a higher --max-price (maxPrice in the SDK).",
    },
  );
}

/** The client side of Veil: deploy, invoke and inspect agents on one network. */
export class VeilClient {
  readonly network: NetworkFile;
  readonly #privateKey: Hex | undefined;
  #chain: VeilChain | undefined;
  /** Verified identities and known code versions, so that checking a receipt costs no chain read. */
  readonly #identities = new Map<string, { at: number; identity: VerifiedAgentIdentity }>();
  readonly #versions = new Map<string, Set<string>>();
  /** Fee channels we paid on, by agent and payer: the next voucher is signed without a quote. */
  readonly #channels = new Map<string, FeeQuote>();
  /** The last voucher we signed per (payer, worker, agent) with `as`: its successor needs no check. */
  readonly #signed = new Map<string, { calls: bigint; amount: bigint; price: bigint }>();
  /**
   * Accounts of the keys callers sign with (`as`), by key: deriving one is a secp256k1
   * multiplication (~0.8 ms here), which a signed call would otherwise pay several times.
   */
  readonly #accounts = new Map<Hex, PrivateKeyAccount>();

  constructor(network: NetworkFile, options: { privateKey?: Hex } = {}) {
    this.network = network;
    this.#privateKey = options.privateKey;
  }

  /** The chain client, loaded on first use: invoking through the gateway never needs viem. */
  async chain(): Promise<VeilChain> {
    if (!this.#chain) {
      const { VeilChain } = await import("../chain/client.ts");
      this.#chain = new VeilChain(this.network.chain, this.#privateKey ? { account: this.#privateKey } : {});
    }
    return this.#chain;
  }

  get gatewayUrl(): string {
    if (!this.network.gateway) {
      throw new VeilError("GATEWAY_NOT_CONFIGURED", "The network file names no gateway", {
        hint: "Start the network with `npm start`, or add gateway.url to network.json.",
      });
    }
    return this.network.gateway.url.replace(/\/$/, "");
  }

  /**
   * Builds, checks that the bundle loads, stores it by content hash, registers it on chain (a
   * new agent, or a new version of one you own), and waits until a worker serves it. The
   * bundle is stored before the chain lists it, so no agent is ever registered without it.
   */
  async deploy(
    dir: string,
    name: string,
    options: {
      onProgress?: (m: string) => void;
      timeoutMs?: number;
      /** Runtime limits to set (the rest keep their values; 0 is the network default). */
      limits?: Partial<RequestedLimits>;
    } = {},
  ): Promise<DeployResult> {
    const progress = options.onProgress ?? (() => {});
    if (!/^[a-z][a-z0-9-]{0,63}$/.test(name)) {
      throw new VeilError("AGENT_NAME_INVALID", `"${name}" is not a valid agent name`, {
        hint: "Use 1–64 characters of a–z, 0–9 and '-', starting with a letter.",
      });
    }
    if (options.limits) checkRequestedLimits(options.limits, networkMaxima(this.network));
    const chain = await this.chain();
    const owner = chain.account;
    const existingId = await chain.agentIdOf(name);
    if (existingId !== 0n) {
      const existing = await chain.getAgent(existingId);
      if (existing.owner.toLowerCase() !== owner.toLowerCase()) {
        throw new VeilError("AGENT_NAME_TAKEN", `The name "${name}" is taken by ${existing.owner}`, {
          hint: "Choose another --name; names are global.",
        });
      }
    }
    progress("building with esbuild…");
    const { buildAgent } = await import("./build.ts");
    const built = await buildAgent(dir);
    progress(`built ${built.bytes.byteLength} bytes, hash ${built.hash}`);
    await checkLoads(built, name);
    progress("registering on chain…");

    let id: bigint;
    let txHash: Hex;
    let version = 0;
    if (existingId === 0n) {
      ({ id, hash: txHash } = await chain.registerAgent(name, built.hash));
    } else {
      id = existingId;
      txHash = await chain.addAgentVersion(id, built.hash, true);
      version = (await chain.getAgent(id)).currentVersion;
    }
    progress(`registered as agent #${id} (tx ${txHash}); uploading the bundle…`);
    await this.uploadBundle(id, built.bytes, built.hash);
    if (this.#privateKey) {
      // The agent's logs are sealed to a key derived from the owner's: set it once.
      const { ownerLogPublicKey } = await import("./logs.ts");
      const logKey = ownerLogPublicKey(this.#privateKey);
      if ((await chain.getLogKey(id)).toLowerCase() !== logKey.toLowerCase()) {
        progress(`set the log key (tx ${await chain.setLogKey(id, logKey)})`);
      }
    }
    if (options.limits && Object.keys(options.limits).length > 0) {
      const current = await chain.getAgentLimits(id);
      const limitsTx = await chain.setAgentLimits(id, { ...current, ...options.limits });
      progress(`set its limits (tx ${limitsTx})`);
    }
    progress("waiting for a worker to serve it…");
    const servedBy = await this.waitUntilServed(name, built.hash, options.timeoutMs ?? 60_000);
    return {
      id,
      name,
      codeHash: built.hash,
      version,
      upgraded: existingId !== 0n,
      txHash,
      bundleBytes: built.bytes.byteLength,
      servedBy,
    };
  }

  /** Polls the gateway until at least one worker serves `codeHash` for the agent. */
  async waitUntilServed(nameOrId: string, codeHash: Hex, timeoutMs: number): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let last: AgentInfo | undefined;
    while (Date.now() < deadline) {
      try {
        last = await this.inspect(nameOrId);
        const ready = last.workers.filter((w) => w.status === "ready" && w.codeHash === codeHash);
        if (ready.length > 0) return ready.map((w) => w.address);
      } catch (err) {
        if (!(err instanceof VeilError) || !["AGENT_NOT_FOUND", "GATEWAY_UNREACHABLE"].includes(err.code))
          throw err;
      }
      await sleep(100);
    }
    throw new VeilError("DEPLOY_NOT_SERVED", `No worker served "${nameOrId}" within ${timeoutMs / 1000}s`, {
      context: (last?.workers ?? []).map((w) => `${w.url}: ${w.status}`),
      hint: "The agent is registered; check the workers' logs in .veil/logs/ and `veil inspect NAME`.",
    });
  }

  /**
   * What a call to the agent costs now, and any increase its owner has scheduled: increases
   * wait the network's delay (ADR 0020), so a caller can see one coming.
   *
   * @example
   * const { price, pending } = await veil.priceOf("hello");
   * await veil.invoke("hello", { path: "/greet", as: callerKey, maxPrice: price });
   * if (pending) console.log(`rises to ${pending.price} at ${new Date(pending.at * 1000)}`);
   */
  async priceOf(nameOrId: string): Promise<AgentPrice> {
    const chain = await this.chain();
    const policy = await chain.getAgentPolicy(await this.#resolveId(chain, nameOrId));
    return {
      price: policy.price,
      ...(policy.pendingPriceAt > 0n
        ? { pending: { price: policy.pendingPrice, at: Number(policy.pendingPriceAt) } }
        : {}),
      sponsored: policy.spendingCap > 0n,
    };
  }

  /**
   * Uploads an agent's bundle to the network's gateway, which keeps it only if `hash` is one of
   * the agent's versions on chain (so: after registering it); workers fetch it from there by hash.
   *
   * @example
   * await client.uploadBundle(7n, built.bytes, built.hash);
   */
  async uploadBundle(agentId: bigint, bytes: Uint8Array, hash: Hex): Promise<void> {
    const gateway = this.network.gateway?.url;
    if (!gateway)
      throw new VeilError("GATEWAY_UNKNOWN", "The network file names no gateway to upload the bundle to", {
        hint: "Start the network (npx veil up), or use a network file that names its gateway.",
      });
    let res: Response;
    try {
      res = await fetch(`${gateway}/v1/agents/${agentId}/bundles/${hash}`, {
        method: "PUT",
        body: bytes,
        headers: { "content-type": "application/javascript" },
        signal: AbortSignal.timeout(60_000),
      });
    } catch (err) {
      throw new VeilError("GATEWAY_UNREACHABLE", `Cannot upload the bundle to ${gateway}`, {
        cause: err,
        retryable: true,
        hint: "Check that the network is up; `veil deploy` again uploads it (the version stays registered).",
      });
    }
    if (res.status !== 201) throw errorFrom(await res.json().catch(() => undefined), res.status);
  }

  /**
   * The bytes of a registered bundle, from the network's gateway (checked against the hash).
   *
   * @example
   * const code = new TextDecoder().decode(await client.fetchBundle(record.codeHash));
   */
  async fetchBundle(hash: Hex): Promise<Uint8Array | undefined> {
    const gateway = this.network.gateway?.url;
    if (!gateway) return undefined;
    return httpBlobSource(gateway)
      .get(hash)
      .then(
        (bytes) => (bytes && contentHash(bytes) === hash ? bytes : undefined),
        () => undefined,
      );
  }

  /**
   * What the agent's running code handles (`fetch`, `onChainRequest`, `scheduled`), read by
   * loading its bundle from the network's blob store in the same sandbox as a worker; undefined
   * when the bundle is not reachable from here.
   *
   * @example
   * if (!(await client.handlersOf("oracle"))?.includes("scheduled")) console.warn("nothing to schedule");
   */
  async handlersOf(nameOrId: string): Promise<readonly string[] | undefined> {
    const chain = await this.chain();
    const record = await chain.getAgent(await this.#resolveId(chain, nameOrId));
    const bytes = await this.fetchBundle(record.codeHash);
    if (!bytes) return undefined;
    const { IsolateSandbox } = await import("../sandbox/isolate.ts");
    const sandbox = await IsolateSandbox.create({
      code: new TextDecoder().decode(bytes),
      meta: { id: record.id.toString(), name: record.name, codeHash: record.codeHash },
    });
    const handlers = sandbox.handlers;
    sandbox.dispose();
    return handlers;
  }

  /** The agent's certified keys, checked up to the master key on chain (see identity.ts). */
  async identity(nameOrId: string): Promise<VerifiedAgentIdentity> {
    const cached = this.#identities.get(nameOrId);
    if (cached && Date.now() - cached.at < IDENTITY_TTL_MS) return cached.identity;
    const chain = await this.chain();
    const { verifyAgentIdentity } = await import("./identity.ts");
    const identity = await verifyAgentIdentity(chain, await this.#resolveId(chain, nameOrId));
    this.#identities.set(nameOrId, { at: Date.now(), identity });
    return identity;
  }

  async #resolveId(chain: VeilChain, nameOrId: string): Promise<bigint> {
    if (/^\d{1,30}$/.test(nameOrId)) return BigInt(nameOrId);
    const id = await chain.agentIdOf(nameOrId);
    if (id === 0n) {
      throw new VeilError("AGENT_NOT_FOUND", `There is no agent "${nameOrId}"`, {
        hint: "Check the name, or deploy it with `veil deploy ./dir --name NAME`.",
      });
    }
    return id;
  }

  /**
   * Sets secrets, each encrypted here, on the client, to the agent's certified key after its
   * certificate chain checks out; only ciphertext leaves this process. One transaction per key.
   */
  async setSecrets(
    nameOrId: string,
    entries: Record<string, string>,
    onProgress?: (m: string) => void,
  ): Promise<Hex[]> {
    let identity = await this.identity(nameOrId);
    const chain = await this.chain();
    const { sealAgentSecret } = await import("../crypto/agent-envelopes.ts");
    // Sealed to the agent's key and to its epoch's cluster key (ADR 0013).
    const sealFor = (who: VerifiedAgentIdentity, name: string, value: string): Hex =>
      `0x${Buffer.from(
        sealAgentSecret(
          {
            agentEncryptionKey: hexToBytes(who.encryptionKey),
            clusterSigningPublicKey: hexToBytes(who.clusterSigningPublicKey),
            epoch: who.epoch,
          },
          who.id,
          name,
          value,
        ),
      ).toString("hex")}`;
    const hashes: Hex[] = [];
    for (const [name, value] of Object.entries(entries)) {
      try {
        hashes.push(await chain.setSecret(identity.id, name, sealFor(identity, name, value)));
      } catch (err) {
        // The chain refuses a secret sealed to an ended epoch: re-read the keys once and reseal.
        if (!(err instanceof VeilError) || err.code !== "SECRET_EPOCH_STALE") throw err;
        this.#identities.delete(nameOrId);
        identity = await this.identity(nameOrId);
        hashes.push(await chain.setSecret(identity.id, name, sealFor(identity, name, value)));
      }
      onProgress?.(
        `set ${name} (encrypted to ${identity.encryptionKey.slice(0, 18)}…, epoch ${identity.epoch})`,
      );
    }
    return hashes;
  }

  async unsetSecret(nameOrId: string, name: string): Promise<Hex> {
    const chain = await this.chain();
    return chain.unsetSecret(await this.#resolveId(chain, nameOrId), name);
  }

  async listSecrets(nameOrId: string): Promise<readonly string[]> {
    const chain = await this.chain();
    return chain.secretNames(await this.#resolveId(chain, nameOrId));
  }

  /** Checks the agent and every worker serving it in one step; see verifyAgent. */
  async verify(
    nameOrId: string,
    options: VerifyAgentOptions & {
      /** The agent's project directory: rebuilt here, its hash must be the code on chain. */
      source?: string;
    } = {},
  ): Promise<AgentVerdict> {
    const { verifyAgent } = await import("./verify-agent.ts");
    const { source, ...rest } = options;
    if (source !== undefined) {
      const { buildAgent } = await import("./build.ts");
      rest.sourceCodeHash = (await buildAgent(source)).hash;
    }
    return verifyAgent(await this.chain(), nameOrId, rest);
  }

  async inspect(nameOrId: string): Promise<AgentInfo> {
    const res = await this.#gateway(`/v1/agents/${encodeURIComponent(nameOrId)}`, { method: "GET" });
    const body = await res.json();
    if (!res.ok) throw errorFrom(body, res.status);
    return body as AgentInfo;
  }

  /** The agent's logs, opened with the owner's key; pass the returned cursor to read on. */
  async logs(
    nameOrId: string,
    cursor: LogCursor = {},
  ): Promise<{ lines: AgentLogLine[]; cursor: LogCursor }> {
    const chain = await this.chain();
    const { readAgentLogs } = await import("./logs.ts");
    return readAgentLogs(chain, this.#privateKey, await this.#resolveId(chain, nameOrId), cursor);
  }

  /** The limits workers enforce for the agent, from the chain and the network's maxima. */
  async limits(nameOrId: string): Promise<{ requested: RequestedLimits; effective: EffectiveLimits }> {
    const chain = await this.chain();
    const requested = await chain.getAgentLimits(await this.#resolveId(chain, nameOrId));
    return { requested, effective: effectiveLimits(requested, networkMaxima(this.network)) };
  }

  /** Invokes the agent and reads its whole answer (a streamed one too), receipts checked. */
  async invoke(nameOrId: string, request: InvokeRequest): Promise<InvokeResult> {
    const answer = await this.invokeStream(nameOrId, request);
    const parts: Uint8Array[] = [];
    for await (const chunk of answer.body) parts.push(chunk);
    const end = await answer.done();
    return {
      status: answer.status,
      headers: { ...answer.headers, ...end.trailers },
      body: new Uint8Array(Buffer.concat(parts)),
      ...(answer.worker || end.verified ? { worker: answer.worker ?? end.verified?.worker } : {}),
      ...(end.verified ? { verified: end.verified } : {}),
      ...(end.usage ? { usage: end.usage } : {}),
      ...(end.llmReceipts.length ? { llmReceipts: end.llmReceipts } : {}),
    };
  }

  /**
   * Invokes the agent and hands its body on as it arrives: an agent that answers with a
   * ReadableStream (server-sent events relaying an LLM, say) is read chunk by chunk while it
   * still runs. `done()` then checks the receipts, which cover the whole body and come after it.
   * With `encrypt`, the answer is sealed as a whole, so it comes as one chunk at the end.
   */
  async invokeStream(nameOrId: string, request: InvokeRequest): Promise<InvokeStream> {
    const pay = request.pay ?? (request.as ? await this.#payAs(request.as) : undefined);
    if (!pay) return this.#retrying(request, () => this.#invokeStreamOnce(nameOrId, request, undefined));
    // A priced agent: send the channel's next voucher when we know it; else the worker quotes
    // it (402 FEE_VOUCHER_REQUIRED) and we sign and send again (also after a price change, or
    // when another worker answers).
    const tag = `${nameOrId}:${request.payerTag ?? (request.as ? (await this.#account(request.as)).address : "")}`;
    let quote: FeeQuote | undefined = this.#channels.get(tag);
    for (let attempt = 0; ; attempt++) {
      if (quote && request.maxPrice !== undefined && BigInt(quote.price) > request.maxPrice) {
        throw priceAboveMaximum(nameOrId, BigInt(quote.price), request.maxPrice);
      }
      const voucher = quote ? await pay(quote) : undefined;
      try {
        const result = await this.#invokeStreamOnce(
          nameOrId,
          request,
          voucher && quote ? { voucher, quote } : undefined,
        );
        if (voucher && quote) {
          this.#channels.set(tag, {
            ...quote,
            calls: (BigInt(quote.calls) + 1n).toString(),
            amount: (BigInt(quote.amount) + BigInt(quote.price)).toString(),
          });
        }
        return result;
      } catch (err) {
        const next = err instanceof VeilError ? (err as VeilError & { quote?: FeeQuote }).quote : undefined;
        if (!next || attempt >= 2) throw err;
        this.#channels.delete(tag);
        quote = next;
      }
    }
  }

  /** `once` tried again, after a short wait, while it fails in a way a repeat may get past (`idempotent`). */
  async #retrying<T>(request: InvokeRequest, once: () => Promise<T>): Promise<T> {
    const method = (request.method ?? (request.body === undefined ? "GET" : "POST")).toUpperCase();
    const repeatable = request.idempotent ?? (method === "GET" || method === "HEAD" || method === "OPTIONS");
    for (let attempt = 0; ; attempt++) {
      try {
        return await once();
      } catch (err) {
        const wait = RETRY_WAITS_MS[attempt];
        if (!repeatable || wait === undefined || !(err instanceof VeilError) || !RETRY_CODES.has(err.code))
          throw err;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** The default payer with `as`: the caller's key signs vouchers for its own escrow only. */
  async #account(privateKey: Hex): Promise<PrivateKeyAccount> {
    let account = this.#accounts.get(privateKey);
    if (!account) {
      account = (await accountsModule()).privateKeyToAccount(privateKey);
      if (this.#accounts.size >= 64) this.#accounts.clear();
      this.#accounts.set(privateKey, account);
    }
    return account;
  }

  async #payAs(privateKey: Hex): Promise<(quote: FeeQuote) => Promise<VoucherHeader | undefined>> {
    const { signQuote } = await feeVouchersModule();
    const account = await this.#account(privateKey);
    return async (quote) => {
      if (quote.payer.toLowerCase() !== account.address.toLowerCase()) return undefined;
      const channel = `${quote.payer.toLowerCase()}:${quote.worker.toLowerCase()}:${quote.agentId}`;
      const last = this.#signed.get(channel);
      const successor =
        last !== undefined &&
        BigInt(quote.calls) === last.calls + 1n &&
        BigInt(quote.amount) === last.amount + BigInt(quote.price) &&
        BigInt(quote.price) === last.price;
      // A worker's quote is checked against the chain before we sign (the successor of a voucher
      // we signed was checked with it): this network's chain and escrow, the agent's price as its
      // owner set it, and how much the quote says we owe unclaimed — at most `MAX_UNPAID_CALLS`
      // calls' worth beyond what the chain has paid the channel, so that a host inflating the
      // channel's base cannot make us sign away our escrow.
      if (!successor) await this.#checkQuote(quote);
      const voucher = await signQuote(account, quote);
      this.#signed.set(channel, {
        calls: BigInt(quote.calls),
        amount: BigInt(quote.amount),
        price: BigInt(quote.price),
      });
      return voucher;
    };
  }

  async #checkQuote(quote: FeeQuote): Promise<void> {
    const chain = await this.chain();
    const policy = await chain.getAgentPolicy(BigInt(quote.agentId));
    const escrow = this.network.chain.economy?.feeEscrow;
    const refuse = (why: string) =>
      new VeilError("FEE_QUOTE_INVALID", `Worker ${quote.worker} quoted a fee that the chain does not back`, {
        context: [why],
        hint: "Try again (another worker may answer); report the worker if it persists.",
      });
    if (
      quote.chainId !== this.network.chain.chainId ||
      !escrow ||
      quote.feeEscrow.toLowerCase() !== escrow.toLowerCase()
    )
      throw refuse(`it names chain ${quote.chainId} and escrow ${quote.feeEscrow}`);
    if (BigInt(quote.price) !== policy.price)
      throw refuse(`quoted price ${quote.price}, on chain ${policy.price}`);
    const { feeEscrowAbi } = await import("../chain/abi.ts");
    const paid = await chain.public.readContract({
      address: escrow,
      abi: feeEscrowAbi,
      functionName: "getChannel",
      args: [quote.payer, quote.worker, BigInt(quote.agentId)],
    });
    const unpaid = BigInt(quote.amount) - paid.amount;
    if (unpaid > BigInt(quote.price) * MAX_UNPAID_CALLS)
      throw refuse(
        `it asks ${unpaid} base units beyond what the chain has paid it, over ${MAX_UNPAID_CALLS} calls' worth`,
      );
  }

  async #invokeStreamOnce(
    nameOrId: string,
    request: InvokeRequest,
    fee: { voucher: VoucherHeader; quote: FeeQuote } | undefined,
  ): Promise<InvokeStream> {
    if (request.encrypt) return this.#invokeEncrypted(nameOrId, request, fee);
    const nonce = request.verify === false && !request.as ? undefined : randomNonce();
    const pathAndQuery = normalizePath(request.path);
    const method = (request.method ?? (request.body === undefined ? "GET" : "POST")).toUpperCase();
    const callerHeaders: Record<string, string> = {};
    if (request.as && nonce) {
      const caller = await this.#signCaller(request.as, nameOrId, method, pathAndQuery, request.body, nonce);
      callerHeaders["x-veil-caller"] = caller.address;
      callerHeaders["x-veil-caller-signature"] = caller.signature;
      callerHeaders["x-veil-caller-time"] = String(caller.timestamp);
    }
    if (fee) {
      callerHeaders["x-veil-fee-voucher"] = (await feeVouchersModule()).encodeVoucher(fee.voucher);
      callerHeaders["x-veil-prefer-worker"] = fee.quote.worker;
    }
    const { requestStreaming } = await streamModule();
    const res = await requestStreaming(
      `${this.gatewayUrl}/agents/${encodeURIComponent(nameOrId)}${pathAndQuery}`,
      {
        method,
        headers: {
          ...(request.headers ?? {}),
          ...(nonce ? { "x-veil-nonce": nonce } : {}),
          ...callerHeaders,
        },
        ...(request.body === undefined ? {} : { body: request.body }),
      },
    );
    const headers = res.headers;
    // Errors of Veil itself (not of the agent) carry a JSON body with a code; the agent's own
    // responses, whatever their status, come back as they are.
    if (
      (res.status < 200 || res.status > 299) &&
      !headers["x-veil-code-hash"] &&
      headers["content-type"]?.includes("application/json")
    ) {
      const parts: Uint8Array[] = [];
      for await (const c of res.chunks) parts.push(c);
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.concat(parts).toString("utf8"));
      } catch {
        parsed = undefined;
      }
      const error = (parsed as { error?: unknown } | undefined)?.error;
      if (isVeilErrorJSON(error)) throw withQuote(VeilError.fromJSON(error, res.status), headers);
      throw new VeilError("GATEWAY_ERROR", `The gateway answered ${res.status}`, { status: res.status });
    }
    const done = async (): Promise<InvokeEnd> => {
      const { trailers, bodyHash } = await res.ended();
      const all = { ...headers, ...trailers };
      if (!nonce || request.verify === false) return { llmReceipts: [], trailers };
      const { parseReceiptHeader, verifyReceipt, verifyLlmReceipts } = await receiptsModule();
      const chain = await this.chain();
      const verified = await verifyReceipt(
        chain,
        await this.identity(nameOrId),
        parseReceiptHeader(all["x-veil-receipt"]),
        {
          method,
          pathAndQuery,
          body: method === "GET" || method === "HEAD" ? null : toBytes(request.body),
          nonce,
        },
        { status: res.status, bodyHash, llmReceipts: all["x-veil-llm-receipts"] },
        this.#versions,
      );
      // The receipt names the serving worker and the LLM receipts that came with the answer;
      // each LLM receipt must then be that worker's (ADR 0020).
      const llmReceipts = await verifyLlmReceipts(chain, all["x-veil-llm-receipts"], {
        agentId: verified.receipt.agentId,
        worker: verified.worker,
      });
      return { verified, usage: verified.usage, llmReceipts, trailers };
    };
    return {
      status: res.status,
      headers,
      ...(headers["x-veil-worker"] ? { worker: headers["x-veil-worker"] } : {}),
      streamed: headers["x-veil-streamed"] === "1",
      body: res.chunks,
      done,
    };
  }

  /** Signs who calls over this exact request (see crypto/caller.ts). */
  async #signCaller(
    privateKey: Hex,
    nameOrId: string,
    method: string,
    pathAndQuery: string,
    body: string | Uint8Array | undefined,
    nonce: Hex,
  ) {
    const { signCaller, requestHash } = await cryptoModule();
    const { address } = await this.#account(privateKey);
    const agentId = /^\d+$/.test(nameOrId)
      ? BigInt(nameOrId)
      : await (await this.chain()).agentIdOf(nameOrId);
    return signCaller(
      privateKey,
      {
        chainId: this.network.chain.chainId,
        agentRegistry: this.network.chain.contracts.agentRegistry,
        agentId,
        requestHash: requestHash(
          method,
          pathAndQuery,
          method === "GET" || method === "HEAD" ? null : toBytes(body),
        ),
        nonce,
        timestamp: Math.floor(Date.now() / 1000),
      },
      address,
    );
  }

  /**
   * An end-to-end encrypted invocation: the gateway and worker hosts see only ciphertext. A
   * streamed answer comes sealed piece by piece (crypto/sealed-stream.ts), its receipts in the
   * sealed end frame; any other answer is one sealed envelope.
   */
  async #invokeEncrypted(
    nameOrId: string,
    request: InvokeRequest,
    fee?: { voucher: VoucherHeader; quote: FeeQuote },
  ): Promise<InvokeStream> {
    const identity = await this.identity(nameOrId);
    const chain = await this.chain();
    const { sealRequest, openResponse, generateX25519, SealedStreamReader, responseHash } =
      await cryptoModule();
    const { verifyReceipt, verifyLlmReceipts } = await receiptsModule();
    const { requestStreaming } = await streamModule();
    const method = (request.method ?? (request.body === undefined ? "GET" : "POST")).toUpperCase();
    const pathAndQuery = normalizePath(request.path);
    const body = method === "GET" || method === "HEAD" ? null : toBytes(request.body);
    const reply = generateX25519();
    const nonce = randomNonce();
    const envelope = sealRequest(Buffer.from(identity.encryptionKey.slice(2), "hex"), identity.id, {
      method,
      path: pathAndQuery,
      headers: [
        ...Object.entries(request.headers ?? {}),
        // The voucher travels sealed: only the worker learns who pays.
        ...(fee
          ? [
              ["x-veil-fee-voucher", (await feeVouchersModule()).encodeVoucher(fee.voucher)] as [
                string,
                string,
              ],
            ]
          : []),
      ],
      body: Buffer.from(body ?? new Uint8Array(0)).toString("base64"),
      replyTo: Buffer.from(reply.publicKey).toString("hex"),
      nonce,
      timestamp: Math.floor(Date.now() / 1000),
      stream: true,
      ...(request.as
        ? {
            caller: await this.#signCaller(
              request.as,
              identity.id.toString(),
              method,
              pathAndQuery,
              body ?? undefined,
              nonce,
            ),
          }
        : {}),
    });
    const res = await requestStreaming(`${this.gatewayUrl}/v1/agents/${identity.id}/encrypted`, {
      method: "POST",
      headers: {
        "content-type": "application/octet-stream",
        ...(fee ? { "x-veil-prefer-worker": fee.quote.worker } : {}),
      },
      body: envelope,
    });
    type End = {
      status: number;
      receipt: Parameters<typeof verifyReceipt>[2];
      llmReceipts?: unknown[];
      error?: unknown;
    };
    // The receipts are checked whatever the caller asked: an encrypted answer is always verified.
    const verify = async (end: End, status: number, bodyHash: Hex): Promise<InvokeEnd> => {
      const verified = await verifyReceipt(
        chain,
        identity,
        end.receipt,
        { method, pathAndQuery, body, nonce },
        { status, bodyHash, llmReceipts: end.llmReceipts },
        this.#versions,
      );
      const llmReceipts = await verifyLlmReceipts(chain, end.llmReceipts, {
        agentId: identity.id,
        worker: verified.worker,
      });
      return { verified, usage: verified.usage, llmReceipts, trailers: {} };
    };
    if (res.headers["content-type"] !== "application/vnd.veil.sealed-stream") {
      const parts: Uint8Array[] = [];
      for await (const c of res.chunks) parts.push(c);
      const bytes = new Uint8Array(Buffer.concat(parts));
      if (res.status !== 200) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(new TextDecoder().decode(bytes));
        } catch {
          parsed = undefined;
        }
        throw withQuote(errorFrom(parsed, res.status), res.headers);
      }
      const answer = openResponse(reply.privateKey, identity.id, nonce, bytes) as End & {
        headers: [string, string][];
        body: string;
      };
      const responseBody = new Uint8Array(Buffer.from(answer.body, "base64"));
      return {
        status: answer.status,
        headers: Object.fromEntries(answer.headers),
        streamed: false,
        body: (async function* () {
          yield responseBody;
        })(),
        done: () => verify(answer, answer.status, responseHash(responseBody)),
      };
    }
    // A sealed stream: its head (status and headers) first, then chunks as the agent writes them.
    const reader = new SealedStreamReader(reply.privateKey, identity.id, nonce);
    const queue: ReturnType<typeof reader.push> = [];
    const upstream = res.chunks;
    while (queue.length === 0) {
      const next = await upstream.next();
      if (next.done) reader.finish();
      else queue.push(...reader.push(next.value));
    }
    const head = queue.shift();
    if (head?.kind !== "head")
      throw new VeilError("SEALED_STREAM_INVALID", "The sealed answer has no head", {});
    const hash = createHash("sha256");
    let end: End | undefined;
    let failure: unknown;
    let finished = false;
    const chunks = (async function* () {
      try {
        for (;;) {
          for (let e = queue.shift(); e; e = queue.shift()) {
            if (e.kind === "chunk") {
              hash.update(e.bytes);
              if (e.bytes.length > 0) yield e.bytes;
            } else if (e.kind === "end") end = e.value as End;
          }
          const next = await upstream.next();
          if (next.done) break;
          queue.push(...reader.push(next.value));
        }
        reader.finish();
        const error = (end as { error?: unknown } | undefined)?.error;
        if (error !== undefined) throw isVeilErrorJSON(error) ? VeilError.fromJSON(error, 502) : error;
        finished = true;
      } catch (err) {
        failure = err;
        throw err;
      } finally {
        if (!finished && !failure) await upstream.return(undefined);
      }
    })();
    return {
      status: head.status,
      headers: Object.fromEntries(head.headers),
      streamed: true,
      body: chunks,
      done: async () => {
        if (!finished && !failure) {
          for await (const _ of chunks) {
          }
        }
        if (failure) throw failure;
        if (!finished || !end) {
          throw new VeilError("STREAM_ABANDONED", "The body was not read to its end", {
            hint: "Read the body to its end before asking for its receipts.",
          });
        }
        return verify(end, head.status, `0x${hash.digest("hex")}`);
      },
    };
  }

  async #gateway(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.gatewayUrl}${path}`, { ...init, signal: AbortSignal.timeout(60_000) });
    } catch (err) {
      throw new VeilError("GATEWAY_UNREACHABLE", `The gateway at ${this.gatewayUrl} is not reachable`, {
        cause: err,
        retryable: true,
        hint: "Start the network with `npm start`, or check VEIL_NETWORK.",
      });
    }
  }
}

/** The path and query as they travel (percent-encoded), which is what receipts hash. */
function normalizePath(path: string | undefined): string {
  const url = new URL(path ?? "/", "http://veil.invalid");
  return `${url.pathname}${url.search}`;
}

/** How long a verified agent identity is reused (keys change only at a rotation). */
const IDENTITY_TTL_MS = 30_000;

function randomNonce(): Hex {
  return `0x${randomBytes(32).toString("hex")}`;
}

function toBytes(body: string | Uint8Array | undefined): Uint8Array | null {
  if (body === undefined) return null;
  return typeof body === "string" ? new TextEncoder().encode(body) : body;
}

function errorFrom(body: unknown, status: number): VeilError {
  const error = (body as { error?: unknown } | undefined)?.error;
  if (isVeilErrorJSON(error)) return VeilError.fromJSON(error, status);
  return new VeilError("GATEWAY_ERROR", `The gateway answered ${status}`, { status });
}

/** Loads the bundle in the same sandbox a worker uses, so a broken bundle is never registered. */
async function checkLoads(built: BuiltAgent, name: string): Promise<void> {
  const { IsolateSandbox } = await import("../sandbox/isolate.ts");
  const sandbox = await IsolateSandbox.create({
    code: built.code,
    meta: { id: "0", name, codeHash: built.hash },
  });
  sandbox.dispose();
}

/** A worker's 402 FEE_VOUCHER_REQUIRED carries the voucher to sign; keep it on the error. */
function withQuote(err: VeilError, headers: Record<string, string>): VeilError {
  const raw = headers["x-veil-fee-quote"];
  if (err.code !== "FEE_VOUCHER_REQUIRED" || !raw) return err;
  try {
    const quote = JSON.parse(Buffer.from(raw, "base64").toString("utf8")) as FeeQuote;
    return Object.assign(err, { quote });
  } catch {
    return err;
  }
}
