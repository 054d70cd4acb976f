import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { createWalletClient, defineChain, type Hex, http, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { deployContracts } from "../chain/deploy.ts";
import { DEV_ONLY_WARNING, devAccounts, TeeType, VeilChain } from "../chain/index.ts";
import { defaultLinkKeyFile, loadOrCreateLinkKey } from "../daemon/link-auth.ts";
import { VeilError } from "../errors/index.ts";
import { DEFAULT_NETWORK_MAXIMA } from "../sandbox/limits.ts";
import { buildMeasurement, printInsecureBanner } from "../tee/index.ts";
import { type NetworkFile, saveNetwork } from "./config.ts";
import { deployDevEconomy } from "./economy.ts";
import { type Daemon, startDaemon } from "./processes.ts";

export type UpOptions = {
  dir: string;
  rpc?: string;
  deployerKey?: Hex;
  workers: number;
  /** Gatekeepers to start, 1–6 (the first makes the master key, the rest join); default 1. */
  gatekeepers?: number;
  basePort: number;
  host: string;
  /** When workers claim their fees (dev defaults: 20 calls or 30 s; the worker's own: 100, 300 s). */
  feeClaimCalls?: number;
  /** Private destinations the workers let agents reach (`veil worker --allow-private-egress`). */
  allowPrivateEgress?: string[];
  feeInterval?: number;
  onProgress: (message: string) => void;
  /** The gateway's per-caller rate limit, requests per second (0 = off); the gateway's default when absent. */
  gatewayRateLimit?: number;
  /**
   * Where the gateway runs: in the first worker's process ("worker": no hop between them, ADR
   * 0016) or in its own ("process": it outlives any worker). Default: the worker's when there is
   * one worker (a gateway without its only worker can only refuse), its own with more, so that
   * one worker dying does not take the network's entry with it.
   */
  gateway?: "worker" | "process";
};

export type RunningNetwork = { network: NetworkFile; path: string; daemons: Daemon[]; stop(): Promise<void> };

const port = (base: number, offset: number) => (base === 0 ? 0 : base + offset);

/**
 * Starts a whole Veil network on this machine: the embedded chain (or uses --rpc), the
 * contracts, one gatekeeper, N workers and a gateway, each in its own process (the gateway in
 * the worker's with one worker; `gateway`), and writes
 * network.json for clients. Roles of the development accounts: 0 deploys and governs, 1 is the
 * default user, 2… operate the workers.
 */
export async function up(options: UpOptions): Promise<RunningNetwork> {
  const dir = resolve(options.dir);
  const progress = options.onProgress;
  printInsecureBanner("this network (veil up)");
  // The embedded chain starts empty, so state from an earlier run would only disagree with it.
  for (const stale of ["workers", "gatekeepers", "logs", "network.json"]) {
    rmSync(join(dir, stale), { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  const logDir = join(dir, "logs");
  const daemons: Daemon[] = [];
  const stop = async () => {
    for (const d of [...daemons].reverse()) {
      if (d.child.exitCode === null && d.child.signalCode === null) {
        d.child.kill("SIGTERM");
        await new Promise((r) => {
          const t = setTimeout(() => {
            d.child.kill("SIGKILL");
            r(undefined);
          }, 3000);
          d.child.once("exit", () => {
            clearTimeout(t);
            r(undefined);
          });
        });
      }
    }
  };

  try {
    const accounts = devAccounts(10);
    const deployer = options.deployerKey ?? accounts[0]!.privateKey;
    let rpcUrl = options.rpc;
    if (!rpcUrl) {
      progress("starting the embedded chain…");
      const chainDaemon = await startDaemon(
        "chain",
        ["chain", "--port", String(port(options.basePort, 0)), "--host", options.host],
        logDir,
      );
      daemons.push(chainDaemon);
      rpcUrl = String(chainDaemon.ready.url);
    }
    progress(`chain at ${rpcUrl}`);
    const chainId = await new VeilChain({
      rpcUrl,
      chainId: 0,
      contracts: {} as NetworkFile["chain"]["contracts"],
    }).public
      .getChainId()
      .catch((err: unknown) => {
        throw new VeilError("CHAIN_UNREACHABLE", `The chain at ${rpcUrl} is not reachable`, {
          cause: err,
          hint: "Check --rpc, or leave it out to use the embedded chain.",
        });
      });

    const contracts = await deployContracts({ rpcUrl, chainId, deployerKey: deployer, onProgress: progress });
    const governance = new VeilChain({ rpcUrl, chainId, contracts }, { account: deployer });
    const measurement = buildMeasurement();
    // The development policy allows this build on the simulated TEE; production policy must not.
    await governance.allowMeasurement(TeeType.simulated, measurement);
    progress(`contracts deployed; policy allows simulated build ${measurement.slice(0, 18)}…`);
    const economyStarted = Date.now();
    const { economy, info: economyInfo } = await deployDevEconomy({
      rpcUrl,
      chainId,
      deployerKey: deployer,
      registries: contracts,
      accounts,
      onProgress: progress,
    });
    progress(`economy deployed in ${((Date.now() - economyStarted) / 1000).toFixed(1)}s`);
    if (!options.rpc) {
      // Heartbeat challenges come from block hashes: the embedded chain mines one block a second
      // (besides one per transaction) so that challenges arise on an idle dev network too.
      await governance.public.request({ method: "evm_setIntervalMining" as never, params: [1000] as never });
    }

    const path = join(dir, "network.json");
    const network: NetworkFile = {
      version: 1,
      name: "veil-dev",
      chain: { rpcUrl, chainId, contracts, embedded: !options.rpc, economy },
      economy: economyInfo,
      gatekeepers: [],
      workers: [],
      blobStore: { kind: "fs", path: join(dir, "blobs") },
      tee: { backend: "simulated", insecure: true, measurement },
      runtime: { maxima: DEFAULT_NETWORK_MAXIMA },
      devAccounts: {
        warning: DEV_ONLY_WARNING,
        accounts: accounts.map((a, i) => ({
          role: i === 0 ? "deployer-governance" : i === 1 ? "user" : `operator-${i - 1}`,
          ...a,
        })),
      },
    };
    saveNetwork(path, network);

    // The first gatekeeper makes the master key; the others join, receiving it from a sitting
    // one once governance has added them and their attestation checks out.
    const gatekeepers = options.gatekeepers ?? 1;
    if (!Number.isInteger(gatekeepers) || gatekeepers < 1 || gatekeepers > 6) {
      throw new VeilError("BAD_ARGUMENT", `${gatekeepers} gatekeepers: choose 1 to 6`, {});
    }
    for (let i = 1; i <= gatekeepers; i++) {
      progress(
        i === 1 ? "starting the gatekeeper…" : `starting gatekeeper ${i} (it joins through the first)…`,
      );
      const gk = await startDaemon(
        `gatekeeper-${i}`,
        [
          "gatekeeper",
          "--network",
          path,
          "--data",
          join(dir, "gatekeepers", String(i)),
          "--port",
          String(port(options.basePort, i === 1 ? 2 : 3 + i)),
          "--host",
          options.host,
        ],
        logDir,
      );
      daemons.push(gk);
      const gkAddress = gk.ready.address as Hex;
      await fund(rpcUrl, chainId, deployer, gkAddress);
      await governance.addGatekeeper(gkAddress, gk.ready.encryptionKey as Hex, String(gk.ready.url));
      network.gatekeepers.push({
        address: gkAddress,
        url: String(gk.ready.url),
        ...(gk.child.pid ? { pid: gk.child.pid } : {}),
      });
      if (i === 1) await waitForMasterKey(governance);
    }

    const gatewayIn = options.gateway ?? (options.workers === 1 ? "worker" : "process");
    // The gateway's link key is made before the workers start, so each can be told whose links
    // to take (docs/adr/0018); the gateway finds the same file beside the network file.
    const linkKeyFile = defaultLinkKeyFile(path);
    const gatewayLink = loadOrCreateLinkKey(linkKeyFile);
    const rateLimit = options.gatewayRateLimit !== undefined ? String(options.gatewayRateLimit) : undefined;
    progress(`starting ${options.workers} workers…`);
    const workers = await Promise.all(
      Array.from({ length: options.workers }, (_, i) =>
        startDaemon(
          `worker-${i + 1}`,
          [
            "worker",
            "--network",
            path,
            "--data",
            join(dir, "workers", String(i + 1)),
            "--port",
            String(port(options.basePort, 10 + i)),
            "--host",
            options.host,
            "--operator-key",
            accounts[2 + (i % 8)]!.privateKey,
            // One state file for the workers of this machine: an agent sees one ctx.state
            // whichever worker serves it (SQLite in WAL mode takes writers from several processes).
            "--state-db",
            join(dir, "state.sqlite"),
            "--link-peer",
            gatewayLink.address,
            ...(options.feeClaimCalls ? ["--fee-claim-calls", String(options.feeClaimCalls)] : []),
            ...(options.allowPrivateEgress ?? []).flatMap((h) => ["--allow-private-egress", h]),
            ...(options.feeInterval ? ["--fee-interval", String(options.feeInterval)] : []),
            ...(gatewayIn === "worker" && i === 0
              ? [
                  "--gateway-port",
                  String(port(options.basePort, 1)),
                  "--gateway-link-key",
                  linkKeyFile,
                  ...(rateLimit !== undefined ? ["--gateway-rate-limit", rateLimit] : []),
                ]
              : []),
          ],
          logDir,
        ),
      ),
    );
    daemons.push(...workers);
    for (const w of workers) {
      network.workers.push({
        address: w.ready.address as Hex,
        url: String(w.ready.url),
        operator: w.ready.operator as Hex,
        pid: w.child.pid,
      } as NetworkFile["workers"][number]);
      progress(`worker ${w.ready.address} at ${w.ready.url}`);
    }

    if (gatewayIn === "worker") {
      network.gateway = { url: String(workers[0]!.ready.gateway), linkAddress: gatewayLink.address };
      progress(`gateway at ${network.gateway.url}, in worker ${workers[0]!.ready.address}'s process`);
    } else {
      progress("starting the gateway…");
      const gw = await startDaemon(
        "gateway",
        [
          "gateway",
          "--network",
          path,
          "--port",
          String(port(options.basePort, 1)),
          "--host",
          options.host,
          "--link-key",
          linkKeyFile,
          ...(rateLimit !== undefined ? ["--rate-limit", rateLimit] : []),
        ],
        logDir,
      );
      daemons.push(gw);
      network.gateway = { url: String(gw.ready.url), linkAddress: gatewayLink.address };
    }
    saveNetwork(path, network);
    return { network, path, daemons, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Gives a TEE node's own address gas money from the deployer (dev networks). */
async function fund(rpcUrl: string, chainId: number, from: Hex, to: Hex): Promise<void> {
  const chain = defineChain({
    id: chainId,
    name: "veil",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const wallet = createWalletClient({ chain, transport: http(rpcUrl), account: privateKeyToAccount(from) });
  const hash = await wallet.sendTransaction({ to, value: parseEther("10") });
  await new VeilChain({
    rpcUrl,
    chainId,
    contracts: {} as NetworkFile["chain"]["contracts"],
  }).public.waitForTransactionReceipt({
    hash,
    pollingInterval: 50,
  });
}

export function networkExists(dir: string): boolean {
  return existsSync(join(resolve(dir), "network.json"));
}

/** Until the first gatekeeper has published the master key of the current epoch. */
async function waitForMasterKey(chain: VeilChain): Promise<void> {
  const epoch = await chain.epoch();
  for (let i = 0; i < 600; i++) {
    const published = await chain.masterPublicKey(epoch);
    if (published && published !== "0x") return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new VeilError(
    "GATEKEEPER_NO_MASTER_KEY",
    "The first gatekeeper did not publish the master key in time",
    {
      hint: "See .veil/logs/gatekeeper-1.log.",
    },
  );
}
