import { existsSync, mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join, resolve } from "node:path";
import type { Hex } from "viem";
import { llmReceiptDigest } from "../chain/certificates.ts";
import { VeilEconomy } from "../chain/economy-client.ts";
import { RotationClient, VeilChain } from "../chain/index.ts";
import { hkdf, utf8 } from "../crypto/index.ts";
import type { DaemonListener } from "../daemon/http.ts";
import { NodeIdentity } from "../daemon/identity.ts";
import { listenLocalLinks } from "../daemon/link-server.ts";
import { VeilError } from "../errors/index.ts";
import { type ClusterKeyGrant, requestClusterKey, requestVerification } from "../gatekeeper/client.ts";
import { loadNetwork, type NetworkFile, networkMaxima } from "../network/config.ts";
import { watchHotThreads } from "../sandbox/hot-threads.ts";
import { AgentPlacement } from "../sandbox/placement.ts";
import {
  type BlobSource,
  directoryBlobSource,
  FsBlobStore,
  httpBlobSource,
  PeerBlobStore,
} from "../storage/blob-store.ts";
import { SqliteFeeStore } from "../storage/fee-store.ts";
import { openSharedStores } from "../storage/open-stores.ts";
import { FileStateAnchor } from "../storage/state-versions.ts";
import { createEnclave, type EnclaveChoice } from "../tee/index.ts";
import { type AgentCallClient, AgentCalls, DEFAULT_MAX_CALL_DEPTH } from "./agent-calls.ts";
import { AgentTable } from "./agents.ts";
import { GatekeeperAnchoring } from "./anchoring.ts";
import { WorkerAttestation } from "./attestation.ts";
import { FeeCollector, FeeLedger, moveFeeLedger } from "./fees.ts";
import { startHeartbeats } from "./heartbeat.ts";
import { AgentKeyring } from "./keyring.ts";
import { LogBook } from "./logbook.ts";
import { QuotaHomes } from "./quota-home.ts";
import { ReplayGuard } from "./replay-guard.ts";
import { createWorkerServer, type WorkerServerOptions, workerListener } from "./server.ts";
import { FeeSettlement } from "./settlement.ts";
import { startTriggers } from "./triggers.ts";
import { UsageMeter } from "./usage.ts";

export type WorkerDaemonOptions = {
  network: string;
  dataDir: string;
  port: number;
  host: string;
  /** The operator's account key: it registers the worker on chain (and later stakes for it). */
  operatorKey: Hex;
  /** Public URL the worker announces on chain; defaults to http://host:port. */
  publicUrl?: string;
  maxRequestBytes: number;
  enclave: Omit<EnclaveChoice, "dataDir" | "component">;
  /**
   * Where agents' state, request nonces and logs live, shared with the other workers serving
   * the same agents: a SQLite file (default state.sqlite in the data directory) or a
   * `postgres://USER:PASSWORD@HOST:PORT/DB` URL for workers on several hosts.
   */
  state?: string;
  /** How often the chain is checked for a finished key rotation. */
  rotationPollMs?: number;
  /** When fees are claimed from FeeEscrow (see settlement.ts for the defaults). */
  fees?: { batchSize?: number; claimAtCalls?: number; intervalMs?: number };
  /** Gateways (link-key addresses) that may open the link, besides the network file's gateway. */
  linkPeers?: readonly string[];
  /** Private destinations ("host" or "host:port") agents on this worker may reach (none by default). */
  allowPrivateEgress?: readonly string[];
  /**
   * Makes the client agents' calls to other agents go out through (`ctx.agents.call`): the SDK's
   * VeilClient, handed in by the CLI, since the worker sits below the SDK. Without it, such
   * calls fail with AGENT_CALLS_UNAVAILABLE.
   */
  callClient?: (network: NetworkFile) => AgentCallClient;
};

/** A worker that serves: what it announces, and its handler for a gateway in its process. */
export type RunningWorker = {
  ready: { role: "worker"; address: Hex; url: string; operator: Hex };
  listener: DaemonListener;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts a worker (pRuntime) and resolves once it serves, provisioned and following the chain;
 * it runs until the process ends. The caller announces it (`announceReady`).
 */
export async function runWorker(options: WorkerDaemonOptions): Promise<RunningWorker> {
  const network = loadNetwork(options.network);
  mkdirSync(options.dataDir, { recursive: true });
  const enclave = createEnclave({ ...options.enclave, dataDir: options.dataDir, component: "worker" });
  const identity = await NodeIdentity.loadOrCreate(enclave, options.dataDir);
  const operatorChain = new VeilChain(network.chain, { account: options.operatorKey });
  const chain = new VeilChain(network.chain);
  // Bundles: this worker's own copies, fetched on first use by hash from the network's directory
  // when it is on this host, else from the gateway (where `veil deploy` uploads them) and the
  // other workers; every copy is checked against the hash registered on chain.
  const ownBlobs = new FsBlobStore(join(options.dataDir, "blobs"));
  const blobs = new PeerBlobStore(ownBlobs, async () => {
    const sources: BlobSource[] = [];
    if (existsSync(network.blobStore.path))
      sources.push(directoryBlobSource(new FsBlobStore(network.blobStore.path), network.blobStore.path));
    const gateway = loadNetwork(options.network).gateway?.url;
    if (gateway) sources.push(httpBlobSource(gateway));
    for (const w of await chain.listWorkers().catch(() => []))
      if (w.address.toLowerCase() !== identity.address.toLowerCase() && w.endpoint)
        sources.push(httpBlobSource(w.endpoint));
    return sources;
  });
  let grant: ClusterKeyGrant | undefined;
  // Ready to serve once it has its keys and has read the agents on chain: before that, an agent
  // it does not know yet is one it has not loaded, not one that does not exist (a restarted
  // worker answered 404 AGENT_NOT_FOUND for seconds, and the gateway passed that on as final).
  let serving = false;
  let attestation: WorkerAttestation | undefined;

  let callClient: AgentCallClient | undefined;
  const makeCallClient = options.callClient;
  const calls = new AgentCalls({
    // The gateway is written into the network file after the workers start: read it when needed.
    client: () => {
      if (!makeCallClient)
        throw new VeilError(
          "AGENT_CALLS_UNAVAILABLE",
          "This worker was started without a client for agent calls",
          {
            status: 503,
            hint: "Start workers with `veil worker` (or pass callClient to runWorker).",
          },
        );
      if (!callClient) {
        const current = loadNetwork(options.network);
        if (!current.gateway) return makeCallClient(current);
        callClient = makeCallClient(current);
      }
      return callClient;
    },
    domain: { chainId: network.chain.chainId, agentRegistry: network.chain.contracts.agentRegistry },
    maxDepth: network.runtime?.maxCallDepth ?? DEFAULT_MAX_CALL_DEPTH,
    // Outbound calls to priced agents are paid by the calling agent's owner, within its cap.
    reserveFee: (record, price): Promise<() => void> => agents.policies.reserveOutbound(record, price),
    priceOf: async (id): Promise<bigint> => (await agents.policies.policy(id)).price,
    ...(network.chain.economy?.feeEscrow ? { feeEscrow: network.chain.economy.feeEscrow } : {}),
  });
  // The highest head this worker has seen of each store it keeps under heads (agents' state,
  // its fee ledger), outside those stores and MAC'd with a key from its sealed identity: a store
  // put back to an older copy is refused (STATE_ROLLBACK_DETECTED) even after a restart.
  const anchorKey = hkdf(identity.encryptionPrivateKey(), undefined, utf8("veil/v1/worker/state-anchor"), 32);
  const anchor = new FileStateAnchor(join(options.dataDir, "state-anchor.json"), anchorKey);
  // The same counters are held at the gatekeepers, off this host (ADR 0020): take theirs back
  // before any store is read, so a host that restored this directory with the stores is caught.
  const anchoring = new GatekeeperAnchoring({ chain, identity, anchor, log: (m) => console.error(m) });
  await restoreAnchors(anchoring, chain);
  // Agents' state, the nonces of signed and sealed requests and agents' logs, shared by the
  // workers serving them: a SQLite file on one machine, or PostgreSQL across hosts (ADR 0024).
  // A request one worker saw runs nowhere else, nor here again after a restart (ADR 0020).
  const shared = await openSharedStores(options.state ?? join(options.dataDir, "state.sqlite"), {
    anchor,
    ...(network.state ? { namespace: network.state.namespace } : {}),
  });
  // Paid calls' vouchers, claimed in batches: in the network's PostgreSQL when it has one
  // (beside agents' state, so they outlive this host's disk), else in this worker's data directory.
  const economyAddresses = network.chain.economy;
  const feeFile = join(options.dataDir, "fees.sqlite");
  const ledgerOptions = {
    key: hkdf(identity.encryptionPrivateKey(), undefined, utf8("veil/v1/worker/fee-ledger"), 32),
    anchor,
  };
  // A worker that kept its ledger in its data directory before it was given PostgreSQL takes
  // it along, once: its unclaimed vouchers are not left behind in the file.
  if (economyAddresses && shared.fees && existsSync(feeFile)) {
    if (await moveFeeLedger(new SqliteFeeStore(feeFile), shared.fees, identity.address, ledgerOptions))
      console.error(`fee ledger: moved from ${feeFile} to ${shared.where}`);
  }
  const feeLedger = economyAddresses
    ? await FeeLedger.open(shared.fees ?? feeFile, identity.address, ledgerOptions)
    : undefined;
  const fees =
    economyAddresses && feeLedger
      ? new FeeCollector({
          chain,
          feeEscrow: economyAddresses.feeEscrow,
          ledger: feeLedger,
          worker: identity.address,
        })
      : undefined;
  const settlement =
    economyAddresses && feeLedger
      ? new FeeSettlement({
          ledger: feeLedger,
          economy: new VeilEconomy(
            { ...network.chain, economy: economyAddresses },
            { account: options.operatorKey, pollingIntervalMs: 100 },
          ),
          worker: identity.address,
          ...options.fees,
          log: (m) => console.error(m),
        })
      : undefined;
  // Quotas are counted at each (agent, caller)'s home worker, across the network's workers.
  const quotas = new QuotaHomes({ chain, self: identity.account, log: (m) => console.error(m) });
  const stateStore = shared.state;
  const logStore = shared.logs;
  const logbook = new LogBook({ chain, store: logStore, worker: identity.address });
  const replay = new ReplayGuard(shared.nonces);
  // Agents that prove heavy or hostile run on in a process of their own at a lower priority
  // (docs/adr/0018); it is started now so that moving one costs a load, not a process start.
  const placement = new AgentPlacement();
  placement.start().then(
    () =>
      console.error(
        placement.enabled
          ? `sandbox process: pid ${placement.processPid}`
          : "sandbox process: off (VEIL_AGENT_PLACEMENT=off)",
      ),
    (err: unknown) =>
      console.error(
        `sandbox process: could not start (${(err as Error).message}); agents stay in this process`,
      ),
  );
  const agents: AgentTable = new AgentTable({
    placement,
    quotas,
    replay,
    allowPrivateEgress: options.allowPrivateEgress ?? [],
    // Agents with a price are paid from the caller's prepayment in the network's FeeEscrow.
    ...(network.chain.economy?.feeEscrow ? { feeEscrow: network.chain.economy.feeEscrow } : {}),
    ...(fees ? { fees } : {}),
    agentCaller: (record, agentIdentity) => calls.callerFor(record, agentIdentity),
    chain,
    blobs,
    maxima: networkMaxima(network),
    stateStore,
    // What agents print goes only to their owner, sealed (see logbook.ts); never to this stderr.
    log: (agent, level, message) => logbook.add(agent.id, level, message),
    signLlm: async (fields) => {
      const unsigned = { ...fields, worker: identity.address };
      const signature = await identity.account.sign({
        hash: llmReceiptDigest({
          chainId: network.chain.chainId,
          workerRegistry: network.chain.contracts.workerRegistry,
          ...unsigned,
        }),
      });
      return { ...unsigned, signature };
    },
  });
  const serverOptions: WorkerServerOptions = {
    agents,
    isReady: () => serving,
    info: () => ({ address: identity.address, epoch: grant?.epoch.toString() }),
    maxRequestBytes: options.maxRequestBytes,
    receipts: {
      chainId: network.chain.chainId,
      agentRegistry: network.chain.contracts.agentRegistry,
      worker: identity.address,
    },
    attestation: () => attestation?.current(),
    logs: logStore,
    usage: new UsageMeter(),
    bundles: blobs,
    calls,
    quotas,
    linkPeers: [
      ...(options.linkPeers ?? []),
      ...(network.gateway?.linkAddress ? [network.gateway.linkAddress] : []),
    ],
    ...(feeLedger
      ? {
          fees: async () => ({
            ...(await feeLedger.stats()),
            ...(settlement?.last ? { lastSettlement: { ...settlement.last } } : {}),
          }),
        }
      : {}),
  };
  const listener = workerListener(serverOptions);
  const server = createWorkerServer(serverOptions, listener);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, resolve);
  });
  // A gateway on this machine reaches the worker over a Unix socket (ADR 0015); a path too long
  // for one (about 107 bytes) leaves it on TCP.
  const linkSocket = resolve(options.dataDir, "link.sock");
  if (Buffer.byteLength(linkSocket) < 100) await listenLocalLinks(server, linkSocket);
  const url = options.publicUrl ?? `http://${options.host}:${(server.address() as AddressInfo).port}`;
  attestation = new WorkerAttestation({
    enclave,
    identity,
    chain,
    operatorChain,
    endpoint: url,
    log: (m) => console.error(m),
    // After each re-attestation, any gatekeeper verifies the new evidence and records it on
    // chain (the first time, provisioning does).
    verify: async (evidence) => {
      let last: unknown = new Error("no gatekeeper is listed on chain");
      for (const g of (await chain.listGatekeepers()).filter((x) => x.active)) {
        try {
          await requestVerification({ url: g.endpoint, chain, identity, evidence });
          return;
        } catch (err) {
          last = err;
        }
      }
      throw last;
    },
  });
  console.error(`worker ${identity.address} listening on ${url}`);
  // Agents' long bursts of CPU yield to other agents' short requests (docs/adr/0018).
  console.error(`hot-thread watch: ${watchHotThreads().why}`);

  // Attest and register: the operator sends the transaction, the worker key consents to it.
  const evidence = await attestation.attestAndRegister();
  console.error(`registered on chain by operator ${operatorChain.account}`);
  attestation.start();

  // Get the cluster key from any gatekeeper on chain; retry while they are starting.
  for (let attempt = 0; !grant; attempt++) {
    const gatekeepers = (await chain.listGatekeepers()).filter((g) => g.active);
    for (const g of gatekeepers) {
      try {
        grant = await requestClusterKey({ url: g.endpoint, chain, identity, evidence });
        break;
      } catch (err) {
        if (!(err instanceof VeilError) || !err.retryable) throw err;
      }
    }
    if (!grant) {
      if (attempt % 20 === 0) console.error("waiting for a gatekeeper to provision this worker…");
      await sleep(250);
    }
  }
  // Provisioning verified the evidence and recorded it on chain: the worker has standing.
  attestation.markVerified(evidence);
  console.error(`provisioned by gatekeeper ${grant.gatekeeper} for epoch ${grant.epoch}`);

  const keyring = new AgentKeyring({ chain, operator: operatorChain, grant, stateStore });
  agents.setKeyring(keyring);
  await agents.start();
  serving = true;

  // Rotation (ADR 0010): once the chain is on a later epoch and key traffic has resumed, fetch
  // the new cluster key, re-wrap every agent root still under the ended one, wipe the old key.
  const rotations = new RotationClient(chain);
  const followRotations = async () => {
    try {
      const epoch = await chain.epoch();
      if (epoch > keyring.epoch && (await rotations.keyTrafficOpen())) {
        let next: ClusterKeyGrant | undefined;
        for (const g of (await chain.listGatekeepers()).filter((x) => x.active)) {
          try {
            next = await requestClusterKey({
              url: g.endpoint,
              chain,
              identity,
              evidence: attestation?.current() ?? evidence,
            });
            if (next.epoch === epoch) break;
            next = undefined;
          } catch (err) {
            if (!(err instanceof VeilError) || !err.retryable) throw err;
          }
        }
        if (next) {
          const ids = (await chain.listAgents()).map((a) => a.id);
          const { rewrapped, resealed, reencrypted } = await keyring.rotate(next, ids);
          grant = next;
          console.error(
            `moved to epoch ${epoch}; re-wrapped ${rewrapped} agent roots, re-sealed ${resealed} secrets, re-encrypted ${reencrypted} state entries; wiped the old cluster key`,
          );
        }
      }
    } catch (err) {
      console.error(`following rotations: ${(err as Error).message.split("\n")[0]}`);
    }
    setTimeout(followRotations, options.rotationPollMs ?? 1_000).unref();
  };
  void followRotations();
  settlement?.start();
  anchoring.start();
  startHeartbeats({
    network,
    worker: identity.account,
    operatorKey: options.operatorKey,
    log: (m) => console.error(m),
  });
  await startTriggers({
    chain,
    operator: operatorChain,
    agents,
    self: identity.address,
    log: (m) => console.error(m),
  });
  return {
    ready: { role: "worker", address: identity.address, url, operator: operatorChain.account },
    listener,
  };
}

/**
 * Takes back the counters the gatekeepers hold for this worker; waits a while for a listed one
 * to answer (on resume they start alongside), then goes on with its own anchor and says so.
 */
async function restoreAnchors(anchoring: GatekeeperAnchoring, chain: VeilChain): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const listed = (await chain.listGatekeepers()).filter((g) => g.active).length;
    if (listed === 0) return; // a new network: nothing anchored anywhere yet
    if ((await anchoring.restore()) > 0) return;
    await sleep(250);
  }
  console.error(
    "anchors: no gatekeeper answered; going on with this host's own anchor (a restore of this host would go unseen)",
  );
}
