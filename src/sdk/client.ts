import type { Hex } from "viem";
import type { VeilChain } from "../chain/index.ts";
import type { NetworkFile } from "../network/config.ts";
import type { EffectiveLimits, RequestedLimits } from "../network/limits.ts";
import {
  AgentIdentities,
  type AgentInfo,
  type AgentPrice,
  agentHandlers,
  agentIdOf,
  agentLimits,
  agentPrice,
  fetchBundle,
  inspectAgent,
  verifyAgentSource,
} from "./agent-admin.ts";
import {
  type DeployOptions,
  type DeployResult,
  deployAgent,
  uploadBundle,
  waitUntilServed,
} from "./deploy.ts";
import { FeePayments } from "./fees.ts";
import { gatewayUrlOf } from "./gateway.ts";
import type { VerifiedAgentIdentity } from "./identity.ts";
import {
  CallerAccounts,
  type InvokeContext,
  type InvokeRequest,
  type InvokeResult,
  type InvokeStream,
  invokeStreaming,
  readWhole,
} from "./invoke.ts";
import type { AgentLogLine, LogCursor } from "./logs.ts";
import { agentSecretNames, setAgentSecrets, unsetAgentSecret } from "./secrets.ts";
import type { AgentVerdict, VerifyAgentOptions } from "./verify-agent.ts";

// VeilClient composes the SDK's client modules (agent-admin.ts, deploy.ts, invoke.ts, fees.ts,
// secrets.ts, logs.ts) over one network, one chain client and one set of caches; each method is
// one call into them. Programs may call those modules directly.

export type { AgentInfo, AgentPrice } from "./agent-admin.ts";
export type { DeployResult } from "./deploy.ts";
export { type FeeQuote, MAX_UNPAID_CALLS, type VoucherHeader } from "./fees.ts";
export type { InvokeEnd, InvokeRequest, InvokeResult, InvokeStream } from "./invoke.ts";

/** The client side of Veil: deploy, invoke and inspect agents on one network. */
export class VeilClient {
  readonly network: NetworkFile;
  readonly #privateKey: Hex | undefined;
  #chain: VeilChain | undefined;
  /** Verified identities and known code versions, so that checking a receipt costs no chain read. */
  readonly #identities = new AgentIdentities(() => this.chain());
  readonly #versions = new Map<string, Set<string>>();
  readonly #accounts = new CallerAccounts();
  readonly #fees: FeePayments;
  readonly #invoking: InvokeContext;

  constructor(network: NetworkFile, options: { privateKey?: Hex } = {}) {
    this.network = network;
    this.#privateKey = options.privateKey;
    const account = (privateKey: Hex) => this.#accounts.get(privateKey);
    const chain = () => this.chain();
    this.#fees = new FeePayments({ network, chain, account });
    this.#invoking = {
      network,
      gatewayUrl: () => this.gatewayUrl,
      chain,
      identity: (nameOrId) => this.identity(nameOrId),
      versions: this.#versions,
      account,
      fees: this.#fees,
    };
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
    return gatewayUrlOf(this.network);
  }

  /**
   * Builds, checks that the bundle loads, stores it by content hash, registers it on chain (a
   * new agent, or a new version of one you own), and waits until a worker serves it. The
   * bundle is stored before the chain lists it, so no agent is ever registered without it.
   *
   * @example
   * const { id, servedBy } = await veil.deploy("./agents/hello", "hello", { onProgress: console.log });
   */
  async deploy(dir: string, name: string, options: DeployOptions = {}): Promise<DeployResult> {
    return deployAgent(
      {
        network: this.network,
        chain: () => this.chain(),
        privateKey: this.#privateKey,
        inspect: (nameOrId) => this.inspect(nameOrId),
      },
      dir,
      name,
      options,
    );
  }

  /**
   * Polls the gateway until at least one worker serves `codeHash` for the agent.
   *
   * @example
   * const servedBy = await veil.waitUntilServed("hello", codeHash, 60_000);
   */
  async waitUntilServed(nameOrId: string, codeHash: Hex, timeoutMs: number): Promise<string[]> {
    return waitUntilServed((n) => this.inspect(n), nameOrId, codeHash, timeoutMs);
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
    return agentPrice(await this.chain(), nameOrId);
  }

  /**
   * Uploads an agent's bundle to the network's gateway, which keeps it only if `hash` is one of
   * the agent's versions on chain (so: after registering it); workers fetch it from there by hash.
   *
   * @example
   * await client.uploadBundle(7n, built.bytes, built.hash);
   */
  async uploadBundle(agentId: bigint, bytes: Uint8Array, hash: Hex): Promise<void> {
    return uploadBundle(this.network, agentId, bytes, hash);
  }

  /**
   * The bytes of a registered bundle, from the network's gateway (checked against the hash).
   *
   * @example
   * const code = new TextDecoder().decode(await client.fetchBundle(record.codeHash));
   */
  async fetchBundle(hash: Hex): Promise<Uint8Array | undefined> {
    return fetchBundle(this.network, hash);
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
    return agentHandlers(await this.chain(), this.network, nameOrId);
  }

  /**
   * The agent's certified keys, checked up to the master key on chain (see identity.ts).
   *
   * @example
   * const { encryptionKey, epoch } = await veil.identity("hello");
   */
  async identity(nameOrId: string): Promise<VerifiedAgentIdentity> {
    return this.#identities.get(nameOrId);
  }

  /**
   * Sets secrets, each encrypted here, on the client, to the agent's certified key after its
   * certificate chain checks out; only ciphertext leaves this process. One transaction per key.
   *
   * @example
   * await veil.setSecrets("hello", { OPENAI_KEY: "sk-…" }, console.log);
   */
  async setSecrets(
    nameOrId: string,
    entries: Record<string, string>,
    onProgress?: (m: string) => void,
  ): Promise<Hex[]> {
    return setAgentSecrets(await this.chain(), this.#identities, nameOrId, entries, onProgress);
  }

  /**
   * Removes one of the agent's secrets.
   *
   * @example
   * await veil.unsetSecret("hello", "OPENAI_KEY");
   */
  async unsetSecret(nameOrId: string, name: string): Promise<Hex> {
    return unsetAgentSecret(await this.chain(), nameOrId, name);
  }

  /**
   * The names of the agent's secrets.
   *
   * @example
   * const names = await veil.listSecrets("hello");
   */
  async listSecrets(nameOrId: string): Promise<readonly string[]> {
    return agentSecretNames(await this.chain(), nameOrId);
  }

  /**
   * Checks the agent and every worker serving it in one step; see verifyAgent.
   *
   * @example
   * const verdict = await veil.verify("hello", { source: "./agents/hello" });
   */
  async verify(
    nameOrId: string,
    options: VerifyAgentOptions & {
      /** The agent's project directory: rebuilt here, its hash must be the code on chain. */
      source?: string;
    } = {},
  ): Promise<AgentVerdict> {
    return verifyAgentSource(await this.chain(), nameOrId, options);
  }

  /**
   * The agent as the gateway sees it: owner, code, versions and the workers serving it.
   *
   * @example
   * const { workers } = await veil.inspect("hello");
   */
  async inspect(nameOrId: string): Promise<AgentInfo> {
    return inspectAgent(this.gatewayUrl, nameOrId);
  }

  /**
   * The owner's log key for the agent (X25519 private, hex; this client's account must own it):
   * it opens the agent's logs and signs nothing, so it is what the owner gives the web console.
   *
   * @example
   * const logKey = await veil.logKey("hello");
   */
  async logKey(nameOrId: string): Promise<Hex> {
    const chain = await this.chain();
    const { agentLogKey } = await import("./logs.ts");
    return agentLogKey(chain, this.#privateKey, await agentIdOf(chain, nameOrId));
  }

  /**
   * The agent's logs, opened with the owner's key; pass the returned cursor to read on.
   *
   * @example
   * let { lines, cursor } = await veil.logs("hello");
   * ({ lines, cursor } = await veil.logs("hello", cursor));
   */
  async logs(
    nameOrId: string,
    cursor: LogCursor = {},
  ): Promise<{ lines: AgentLogLine[]; cursor: LogCursor }> {
    const chain = await this.chain();
    const { readAgentLogs } = await import("./logs.ts");
    return readAgentLogs(chain, this.#privateKey, await agentIdOf(chain, nameOrId), cursor);
  }

  /**
   * The limits workers enforce for the agent, from the chain and the network's maxima.
   *
   * @example
   * const { effective } = await veil.limits("hello");
   */
  async limits(nameOrId: string): Promise<{ requested: RequestedLimits; effective: EffectiveLimits }> {
    return agentLimits(await this.chain(), this.network, nameOrId);
  }

  /**
   * Invokes the agent and reads its whole answer (a streamed one too), receipts checked.
   *
   * @example
   * const { status, body, verified } = await veil.invoke("hello", { path: "/greet", encrypt: true });
   */
  async invoke(nameOrId: string, request: InvokeRequest): Promise<InvokeResult> {
    return readWhole(await this.invokeStream(nameOrId, request));
  }

  /**
   * Invokes the agent and hands its body on as it arrives: an agent that answers with a
   * ReadableStream (server-sent events relaying an LLM, say) is read chunk by chunk while it
   * still runs. `done()` then checks the receipts, which cover the whole body and come after it.
   * With `encrypt`, a streamed answer comes sealed piece by piece.
   *
   * @example
   * const answer = await veil.invokeStream("llm-relay", { path: "/chat", body: "{}" });
   * for await (const chunk of answer.body) process.stdout.write(chunk);
   * const { verified, llmReceipts } = await answer.done();
   */
  async invokeStream(nameOrId: string, request: InvokeRequest): Promise<InvokeStream> {
    return invokeStreaming(this.#invoking, nameOrId, request);
  }
}
