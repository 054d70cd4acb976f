import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { RotationClient, VeilChain, workerStatusName } from "../chain/index.ts";
import { hkdf, utf8 } from "../crypto/index.ts";
import { announceReady } from "../daemon/http.ts";
import { NodeIdentity } from "../daemon/identity.ts";
import { VeilError } from "../errors/index.ts";
import { loadNetwork } from "../network/config.ts";
import { createEnclave, type Enclave, type EnclaveChoice } from "../tee/index.ts";
import { AnchorBook, AnchorService } from "./anchors.ts";
import { requestMasterKey } from "./join.ts";
import { MasterKeyStore, masterPublicKeyHex, masterSigningAccount } from "./keys.ts";
import { recordLapsedWorkers } from "./policy-watch.ts";
import { takePartInRotation } from "./rotation.ts";
import { createGatekeeperServer } from "./server.ts";
import { GatekeeperService } from "./service.ts";

export type GatekeeperDaemonOptions = {
  network: string;
  dataDir: string;
  port: number;
  host: string;
  clusterId: string;
  enclave: Omit<EnclaveChoice, "dataDir" | "component">;
  /** How often lapsed workers are looked for and recorded on chain. */
  policyWatchMs?: number;
  /** How often the chain is checked for a key rotation. */
  rotationPollMs?: number;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function joinFromSittingGatekeeper(
  chain: VeilChain,
  identity: NodeIdentity,
  enclave: Enclave,
  epoch: bigint,
): Promise<Uint8Array> {
  const evidence = await enclave.attest(identity.reportData());
  for (let attempt = 0; ; attempt++) {
    const others = (await chain.listGatekeepers()).filter(
      (g) => g.active && g.address.toLowerCase() !== identity.address.toLowerCase(),
    );
    for (const g of others) {
      try {
        const got = await requestMasterKey({ url: g.endpoint, chain, identity, evidence });
        if (got.epoch === epoch) {
          console.error(`received the master key of epoch ${epoch} from gatekeeper ${got.from}`);
          return got.masterKey;
        }
      } catch (err) {
        if (!(err instanceof VeilError) || !err.retryable) {
          console.error(`joining through ${g.endpoint}: ${(err as Error).message.split("\n")[0]}`);
        }
      }
    }
    if (attempt % 20 === 0)
      console.error(`waiting for a sitting gatekeeper to hand over the master key of epoch ${epoch}…`);
    await sleep(500);
  }
}

/** Runs a gatekeeper until the process ends. */
export async function runGatekeeper(options: GatekeeperDaemonOptions): Promise<void> {
  const network = loadNetwork(options.network);
  mkdirSync(options.dataDir, { recursive: true });
  const enclave = createEnclave({ ...options.enclave, dataDir: options.dataDir, component: "gatekeeper" });
  const identity = await NodeIdentity.loadOrCreate(enclave, options.dataDir);
  const chain = new VeilChain(network.chain, { account: identity.account });
  const service = new GatekeeperService({
    chain,
    identity,
    clusterId: options.clusterId,
  });
  let epoch: bigint | undefined;
  // Workers' state counters, held off their hosts (anchors.ts); MAC'd with a key from our identity.
  const anchors = new AnchorService({
    chain,
    identity,
    book: new AnchorBook(
      options.dataDir,
      hkdf(identity.encryptionPrivateKey(), undefined, utf8("veil/v1/gatekeeper/worker-anchors"), 32),
    ),
  });
  const server = createGatekeeperServer(
    service,
    () => ({
      address: identity.address,
      epoch: epoch?.toString(),
    }),
    anchors,
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, resolve);
  });
  const url = `http://${options.host}:${(server.address() as AddressInfo).port}`;
  console.error(`gatekeeper ${identity.address} listening on ${url}`);
  announceReady({
    role: "gatekeeper",
    address: identity.address,
    encryptionKey: identity.encryptionKeyHex,
    url,
  });

  // Governance adds the gatekeeper to the set (on a dev network `veil up` does it right away).
  let waited = 0;
  while (!(await chain.isGatekeeper(identity.address))) {
    if (waited % 40 === 0)
      console.error(`waiting for ${identity.address} to be added to the GatekeeperRegistry…`);
    waited++;
    await sleep(250);
  }
  epoch = await chain.epoch();
  const store = new MasterKeyStore(enclave, options.dataDir);
  for (const ended of store.destroyEndedEpochs(epoch)) {
    console.error(
      `destroyed the sealed master key of epoch ${ended}, which the chain has ended (left by a crash mid-rotation, or a copy put back)`,
    );
  }
  let master = await store.load(epoch);
  const onChain = await chain.masterPublicKey(epoch);
  if (onChain === "0x" || onChain === undefined) {
    master ??= await store.create(epoch);
    await chain.publishMasterPublicKey(masterPublicKeyHex(master), masterSigningAccount(master).address);
    console.error(`published the master public key of epoch ${epoch}`);
  } else if (!master || masterPublicKeyHex(master).toLowerCase() !== onChain.toLowerCase()) {
    // Joining: a sitting gatekeeper hands over the master key once our attestation checks out.
    master = await joinFromSittingGatekeeper(chain, identity, enclave, epoch);
    await store.store(epoch, master);
  }
  service.setMasterKey(epoch, master, masterPublicKeyHex(master));
  console.error(`gatekeeper ready: epoch ${epoch}, cluster "${options.clusterId}"`);

  // Follow rotations (ADR 0010): take part when elected; otherwise, once the chain has moved to
  // a new epoch and key traffic resumed, receive its master key from an elected gatekeeper.
  const rotations = new RotationClient(chain);
  const followRotations = async () => {
    try {
      const onChainEpoch = await chain.epoch();
      const r = await rotations.current();
      if (r.elected.some((g) => g.toLowerCase() === identity.address.toLowerCase()) && r.state !== 0) {
        const next = await takePartInRotation({
          chain,
          identity,
          store,
          service,
          log: (m) => console.error(m),
        });
        if (next !== undefined) epoch = next;
      } else if (onChainEpoch > (service.epoch ?? 0n) && (await rotations.keyTrafficOpen())) {
        const key = await joinFromSittingGatekeeper(chain, identity, enclave, onChainEpoch);
        await store.store(onChainEpoch, key);
        const ended = service.epoch;
        service.setMasterKey(onChainEpoch, key, masterPublicKeyHex(key));
        if (ended !== undefined) store.destroy(ended);
        epoch = onChainEpoch;
        console.error(`joined epoch ${onChainEpoch}; destroyed the master key of epoch ${ended}`);
      }
    } catch (err) {
      console.error(`following rotations: ${(err as Error).message.split("\n")[0]}`);
    }
    setTimeout(followRotations, options.rotationPollMs ?? 1_000).unref();
  };
  void followRotations();

  // Watch the workers against the policy, and record on chain why a lapsed one lost standing.
  const watch = async () => {
    try {
      for (const lapsed of await recordLapsedWorkers(chain)) {
        console.error(`recorded worker ${lapsed.worker} as ${workerStatusName(lapsed.status)}`);
      }
    } catch (err) {
      console.error(`policy watch: ${(err as Error).message}`);
    }
    setTimeout(watch, options.policyWatchMs ?? 5_000).unref();
  };
  void watch();
}
