import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createWalletClient, defineChain, type Hex, http, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { buildConsole } from "../../web/build.ts";
import { contractsBuildKey } from "../chain/compile.ts";
import { deployContracts } from "../chain/deploy.ts";
import { chainJournalFile } from "../chain/embedded.ts";
import { DEV_ONLY_WARNING, devAccounts, TeeType, VeilChain } from "../chain/index.ts";
import { defaultLinkKeyFile, loadOrCreateLinkKey } from "../daemon/link-auth.ts";
import { VeilError } from "../errors/index.ts";
import { holdDataDir } from "../storage/data-dir-lock.ts";
import { dropNamespace, isPostgresUrl, openPostgres, redactUrl } from "../storage/postgres.ts";
import { buildMeasurement, printInsecureBanner } from "../tee/index.ts";
import { consoleDirOf, loadNetwork, type NetworkFile, saveNetwork } from "./config.ts";
import {
  addGatekeeperAction,
  allowMeasurementAction,
  handRegistriesToTimelock,
  isGoverned,
  passAsDevGovernance,
} from "./dev-governance.ts";
import { deployDevEconomy } from "./economy.ts";
import { DEFAULT_NETWORK_MAXIMA } from "./limits.ts";
import { type Daemon, Supervisor } from "./processes.ts";

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
  /**
   * Start a new network even when `dir` holds one (its chain, agents, keys and state are
   * deleted). Without it an existing network resumes; the CLI asks before passing it.
   */
  fresh?: boolean;
  /**
   * With `rpc`: let the chain's attestation policy accept simulated evidence, which this
   * network's nodes run on. INSECURE: the simulated key is public, so anyone who can reach the
   * chain can then get keys. A local (embedded) network always allows it (ADR 0020).
   */
  allowSimulated?: boolean;
  /**
   * Where the workers keep agents' state, nonces and logs: a `postgres://` URL, or a SQLite
   * file (default: state.sqlite in `dir`). A resumed network keeps what it had unless given.
   */
  state?: string;
  /**
   * Hand the registries (agents, workers, gatekeepers, attestation policy, triggers) to the
   * economy's timelock, as in production: owner changes then go through `veil gov`. A network
   * made so stays so when it resumes.
   */
  governed?: boolean;
};

export type RunningNetwork = {
  network: NetworkFile;
  path: string;
  /** The daemons now running (a restarted one replaces its entry). */
  daemons: Daemon[];
  /** Set when an existing network resumed: the chain's block at start. */
  resumed?: { block: number };
  stop(): Promise<void>;
};

/** What `veil up` keeps for a network in its directory; `--fresh` deletes exactly these. */
const NETWORK_FILES = [
  "chain",
  "workers",
  "gatekeepers",
  "logs",
  "network.json",
  "state.sqlite",
  "state.sqlite-wal",
  "state.sqlite-shm",
  "gateway-link.key",
  "state-url",
  "console",
];

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
  if (options.rpc && !options.allowSimulated) {
    throw new VeilError(
      "NETWORK_SIMULATED_NOT_ALLOWED",
      `veil up runs its gatekeepers and workers on the simulated TEE, which a chain at ${options.rpc} must not accept on its own`,
      {
        hint: "The simulated backend's key is public: on a chain others can reach, anyone could get this network's keys. For a test chain of your own, pass --allow-simulated; otherwise run nodes with `veil worker --tee tdx` / `veil gatekeeper --tee tdx`.",
      },
    );
  }
  printInsecureBanner("this network (veil up)");
  mkdirSync(dir, { recursive: true });
  // One `veil up` per directory: two would share the chain's and the workers' files.
  const releaseDir = holdDataDir(dir, "veil-up");
  const path = join(dir, "network.json");
  const chainDir = join(dir, "chain");
  const logDir = join(dir, "logs");
  const supervisor = new Supervisor(logDir, progress);
  const daemons = supervisor.daemons;
  const stop = async () => {
    await supervisor.stop();
    releaseDir();
  };
  // On resume every daemon takes the port it had: the chain holds the gatekeepers' URLs.
  const portOf = (url: string | undefined, fallback: number) =>
    url ? Number(new URL(url).port) || fallback : fallback;

  try {
    const previous = options.fresh ? undefined : previousNetwork(dir, path, chainDir, options, progress);
    if (!previous) {
      await dropOldState(dir, path, progress);
      for (const file of NETWORK_FILES) rmSync(join(dir, file), { recursive: true, force: true });
    }
    const state = await chooseState(dir, options.state, previous);
    const accounts = devAccounts(10);
    const deployer = options.deployerKey ?? accounts[0]!.privateKey;
    let rpcUrl = options.rpc;
    let resumedBlock: number | undefined;
    if (!rpcUrl) {
      progress(
        previous ? "starting the embedded chain (replaying its journal)…" : "starting the embedded chain…",
      );
      const chainDaemon = await supervisor.start("chain", [
        "chain",
        "--port",
        String(portOf(previous?.chain.rpcUrl, port(options.basePort, 0))),
        "--host",
        options.host,
        "--data",
        chainDir,
      ]);
      rpcUrl = String(chainDaemon.ready.url);
      if (typeof chainDaemon.ready.block === "number") resumedBlock = chainDaemon.ready.block;
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

    const network = previous
      ? await resumeNetwork(previous, {
          rpcUrl,
          chainId,
          dir: options.dir,
          path,
          deployer,
          progress,
          block: resumedBlock,
        })
      : await newNetwork({ rpcUrl, chainId, dir, deployer, accounts, embedded: !options.rpc, progress });
    const { contracts } = network.chain;
    const governance = new VeilChain({ rpcUrl, chainId, contracts }, { account: deployer });
    const previousGatekeepers = previous?.gatekeepers ?? [];
    const previousWorkers = previous?.workers ?? [];
    network.gatekeepers = [];
    network.workers = [];
    network.state = state.record;
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
      const gk = await supervisor.start(`gatekeeper-${i}`, [
        "gatekeeper",
        "--network",
        path,
        "--data",
        join(dir, "gatekeepers", String(i)),
        "--port",
        String(portOf(previousGatekeepers[i - 1]?.url, port(options.basePort, i === 1 ? 2 : 3 + i))),
        "--host",
        options.host,
      ]);
      const gkAddress = gk.ready.address as Hex;
      if (!(await governance.isGatekeeper(gkAddress))) {
        await fund(rpcUrl, chainId, deployer, gkAddress);
        if (isGoverned(network)) {
          const action = addGatekeeperAction(
            network,
            gkAddress,
            gk.ready.encryptionKey as Hex,
            String(gk.ready.url),
          );
          await passAsDevGovernance(network, deployer, [action], `add gatekeeper ${gkAddress}`, progress);
        } else {
          await governance.addGatekeeper(gkAddress, gk.ready.encryptionKey as Hex, String(gk.ready.url));
        }
      }
      network.gatekeepers.push({
        address: gkAddress,
        url: String(gk.ready.url),
        ...(gk.child.pid ? { pid: gk.child.pid } : {}),
      });
      if (i === 1) await waitForMasterKey(governance);
    }

    if (options.governed && !isGoverned(network)) {
      await handRegistriesToTimelock(network, deployer, progress);
      network.chain.governed = true;
      saveNetwork(path, network);
    }

    // The web console, built from web/ at every start (so it matches this checkout) into
    // console/ beside the network file, where the gateway serves it at /console/. A console that
    // does not build costs the network nothing but its console.
    let consoleBuilt = false;
    try {
      const built = await buildConsole(consoleDirOf(path));
      consoleBuilt = true;
      progress(
        `console built (${Math.round(built.firstLoadBytes / 1024)} KiB first load, ${Math.round(built.bytes / 1024)} KiB in all, in ${built.ms} ms)`,
      );
    } catch (err) {
      progress(`the console could not be built, the network runs without it: ${(err as Error).message}`);
    }
    delete network.console;

    const gatewayIn = options.gateway ?? (options.workers === 1 ? "worker" : "process");
    // The gateway's link key is made before the workers start, so each can be told whose links
    // to take (docs/adr/0018); the gateway finds the same file beside the network file.
    const linkKeyFile = defaultLinkKeyFile(path);
    const gatewayLink = loadOrCreateLinkKey(linkKeyFile);
    const rateLimit = options.gatewayRateLimit !== undefined ? String(options.gatewayRateLimit) : undefined;
    progress(`starting ${options.workers} workers…`);
    const workers = await Promise.all(
      Array.from({ length: options.workers }, (_, i) =>
        supervisor.start(
          `worker-${i + 1}`,
          [
            "worker",
            "--network",
            path,
            "--data",
            join(dir, "workers", String(i + 1)),
            "--port",
            String(portOf(previousWorkers[i]?.url, port(options.basePort, 10 + i))),
            "--host",
            options.host,
            "--operator-key",
            accounts[2 + (i % 8)]!.privateKey,
            // One store for all the workers: an agent sees one ctx.state whichever serves it (a
            // SQLite file in WAL mode takes writers from several processes; PostgreSQL, whose URL
            // goes in the environment rather than where `ps` shows it, from several hosts).
            ...(state.record.kind === "sqlite" ? ["--state", state.spec] : []),
            "--link-peer",
            gatewayLink.address,
            ...(options.feeClaimCalls ? ["--fee-claim-calls", String(options.feeClaimCalls)] : []),
            ...(options.allowPrivateEgress ?? []).flatMap((h) => ["--allow-private-egress", h]),
            ...(options.feeInterval ? ["--fee-interval", String(options.feeInterval)] : []),
            ...(gatewayIn === "worker" && i === 0
              ? [
                  "--gateway-port",
                  String(portOf(previous?.gateway?.url, port(options.basePort, 1))),
                  "--gateway-link-key",
                  linkKeyFile,
                  ...(rateLimit !== undefined ? ["--gateway-rate-limit", rateLimit] : []),
                ]
              : []),
          ],
          state.record.kind === "postgres" ? { VEIL_STATE: state.spec } : {},
        ),
      ),
    );
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
      const gw = await supervisor.start(
        "gateway",
        [
          "gateway",
          "--network",
          path,
          "--port",
          String(portOf(previous?.gateway?.url, port(options.basePort, 1))),
          "--host",
          options.host,
          "--link-key",
          linkKeyFile,
          ...(rateLimit !== undefined ? ["--rate-limit", rateLimit] : []),
        ],
        state.record.kind === "postgres" ? { VEIL_STATE: state.spec } : {},
      );
      network.gateway = {
        url: String(gw.ready.url),
        linkAddress: gatewayLink.address,
        ...(gw.child.pid ? { pid: gw.child.pid } : {}),
      };
    }
    if (consoleBuilt) network.console = { url: `${network.gateway.url}/console/` };
    saveNetwork(path, network);
    // From here on a daemon that dies is started again with the same arguments (and picks up
    // from its data directory); the network file follows its new process id.
    supervisor.supervise((name: string, pid: number | undefined) => {
      const entry =
        network.workers.find((_, i) => name === `worker-${i + 1}`) ??
        network.gatekeepers.find((_, i) => name === `gatekeeper-${i + 1}`) ??
        (name === "gateway" ? network.gateway : undefined);
      if (entry) {
        entry.pid = pid;
        saveNetwork(path, network);
      }
    });
    return {
      network,
      path,
      daemons,
      ...(previous ? { resumed: { block: resumedBlock ?? 0 } } : {}),
      stop,
    };
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

/**
 * Where this network's workers keep agents' state: `--state` if given, else what the network
 * had (its `state-url` file for PostgreSQL), else state.sqlite in `dir`. A resumed network
 * cannot change kind (its agents' state would seem lost); a PostgreSQL database is tried here,
 * so a wrong URL fails before any daemon starts.
 */
async function chooseState(
  dir: string,
  given: string | undefined,
  previous: NetworkFile | undefined,
): Promise<{ spec: string; record: NonNullable<NetworkFile["state"]> }> {
  const urlFile = join(dir, "state-url");
  const kept = existsSync(urlFile) ? readFileSync(urlFile, "utf8").trim() : undefined;
  const spec = given ?? kept ?? join(dir, "state.sqlite");
  const kind = isPostgresUrl(spec) ? "postgres" : "sqlite";
  const had = previous?.state?.kind ?? (previous ? "sqlite" : undefined);
  if (had !== undefined && had !== kind) {
    throw new VeilError(
      "NETWORK_STATE_CHANGED",
      `This network keeps agents' state in ${had === "postgres" ? "PostgreSQL" : "SQLite"}; --state names ${kind === "postgres" ? "a PostgreSQL database" : "a SQLite file"}`,
      {
        hint: "Resume it with the same --state (or none), or start a new network with --fresh.",
      },
    );
  }
  if (kind === "postgres") {
    await (await openPostgres(spec, "the state store")).end();
    // The URL may hold a password: only the owner of the directory reads it.
    writeFileSync(urlFile, `${spec}\n`, { mode: 0o600 });
  } else rmSync(urlFile, { force: true });
  const namespace = previous?.state?.namespace ?? `veil_${randomBytes(8).toString("hex")}`;
  return { spec, record: { kind, namespace } };
}

/** Before a fresh start: the old network's tables in PostgreSQL go with its files. */
async function dropOldState(dir: string, path: string, progress: (m: string) => void): Promise<void> {
  const urlFile = join(dir, "state-url");
  if (!existsSync(path) || !existsSync(urlFile)) return;
  let namespace: string | undefined;
  try {
    namespace = loadNetwork(path).state?.namespace;
  } catch {
    return;
  }
  if (!namespace) return;
  const url = readFileSync(urlFile, "utf8").trim();
  try {
    await dropNamespace(url, namespace);
    progress(`dropped the old network's state (${namespace}) at ${redactUrl(url)}`);
  } catch (err) {
    progress(`could not drop the old network's state at ${redactUrl(url)}: ${(err as Error).message}`);
  }
}

/**
 * The network `dir` holds, if it can resume: its network file, and (for the embedded chain)
 * the chain's journal. A file that cannot be read is an error naming it, never a fresh start.
 */
function previousNetwork(
  dir: string,
  path: string,
  chainDir: string,
  options: UpOptions,
  progress: (m: string) => void,
): NetworkFile | undefined {
  const hasJournal = existsSync(chainJournalFile(chainDir));
  if (!existsSync(path)) {
    if (hasJournal) {
      throw new VeilError("NETWORK_FILE_MISSING", `${dir} holds a chain but no network.json`, {
        hint: `Restore ${path} from a backup, or start a new network with \`veil up --fresh\` (deletes the old one).`,
      });
    }
    return undefined;
  }
  let previous: NetworkFile;
  try {
    previous = loadNetwork(path);
  } catch (err) {
    if (err instanceof VeilError) {
      throw new VeilError(err.code, err.shortMessage, {
        cause: err,
        hint: `Restore ${path} from a backup, or start a new network with \`veil up --fresh\` (deletes the old one).`,
      });
    }
    throw err;
  }
  if (previous.chain.embedded !== !options.rpc || (options.rpc && previous.chain.rpcUrl !== options.rpc)) {
    throw new VeilError(
      "NETWORK_CHAIN_CHANGED",
      `${path} is a network on ${previous.chain.embedded ? "the embedded chain" : previous.chain.rpcUrl}, not on ${options.rpc ?? "the embedded chain"}`,
      {
        hint: "Run `veil up` with the same chain as before, use another --dir, or pass --fresh to replace it.",
      },
    );
  }
  if (previous.chain.embedded && !hasJournal) {
    // Written before the embedded chain was kept on disk: that chain is gone, so is the network.
    progress(`${path} is from a network whose chain was not kept (an earlier Veil); starting a new one`);
    return undefined;
  }
  return previous;
}

/** Seconds an agent's price increase waits on a development network. */
export const DEV_PRICE_INCREASE_DELAY_S = 5;

type NewNetworkOptions = {
  rpcUrl: string;
  chainId: number;
  dir: string;
  deployer: Hex;
  accounts: ReturnType<typeof devAccounts>;
  embedded: boolean;
  progress: (m: string) => void;
};

/** Deploys the contracts and the dev economy, and allows this build on the simulated TEE. */
async function newNetwork(o: NewNetworkOptions): Promise<NetworkFile> {
  const { rpcUrl, chainId, deployer, progress } = o;
  const contracts = await deployContracts({
    rpcUrl,
    chainId,
    deployerKey: deployer,
    onProgress: progress,
    // A development network's timings are short (votes last 20 s, the timelock waits 5 s): an
    // owner's price increase applies 5 s later instead of a day (ADR 0020).
    priceIncreaseDelaySeconds: DEV_PRICE_INCREASE_DELAY_S,
  });
  const governance = new VeilChain({ rpcUrl, chainId, contracts }, { account: deployer });
  const measurement = buildMeasurement();
  // The development policy allows this build on the simulated TEE; production policy must not.
  // A local (embedded) chain, or an --rpc chain whose owner said --allow-simulated: up() refuses
  // any other before it gets here.
  await governance.setSimulatedAllowed(true);
  await governance.allowMeasurement(TeeType.simulated, measurement);
  progress(`contracts deployed; policy allows simulated build ${measurement.slice(0, 18)}…`);
  const economyStarted = Date.now();
  const { economy, info: economyInfo } = await deployDevEconomy({
    rpcUrl,
    chainId,
    deployerKey: deployer,
    registries: contracts,
    accounts: o.accounts,
    onProgress: progress,
  });
  progress(`economy deployed in ${((Date.now() - economyStarted) / 1000).toFixed(1)}s`);
  if (o.embedded) {
    // Heartbeat challenges come from block hashes: the embedded chain mines one block a second
    // (besides one per transaction) so that challenges arise on an idle dev network too.
    await governance.public.request({ method: "evm_setIntervalMining" as never, params: [1000] as never });
  }
  return {
    version: 1,
    name: "veil-dev",
    chain: { rpcUrl, chainId, contracts, embedded: o.embedded, economy, contractsBuild: contractsBuildKey() },
    economy: economyInfo,
    gatekeepers: [],
    workers: [],
    blobStore: { kind: "fs", path: join(o.dir, "blobs") },
    tee: { backend: "simulated", insecure: true, measurement },
    runtime: { maxima: DEFAULT_NETWORK_MAXIMA },
    devAccounts: {
      warning: DEV_ONLY_WARNING,
      accounts: o.accounts.map((a, i) => ({
        role: i === 0 ? "deployer-governance" : i === 1 ? "user" : `operator-${i - 1}`,
        ...a,
      })),
    },
  };
}

/**
 * Checks the chain still holds the network's contracts, and allows this build on the simulated
 * TEE if the source changed since (the dev network's governance would).
 */
async function resumeNetwork(
  previous: NetworkFile,
  o: {
    rpcUrl: string;
    chainId: number;
    dir: string;
    path: string;
    deployer: Hex;
    block: number | undefined;
    progress: (m: string) => void;
  },
): Promise<NetworkFile> {
  const { contracts } = previous.chain;
  const governance = new VeilChain(
    { rpcUrl: o.rpcUrl, chainId: o.chainId, contracts },
    { account: o.deployer },
  );
  const code = await governance.public.getCode({ address: contracts.agentRegistry });
  if (o.chainId !== previous.chain.chainId || !code || code === "0x") {
    throw new VeilError(
      "NETWORK_CHAIN_MISMATCH",
      `The chain at ${o.rpcUrl} does not hold the network in ${o.path} (no AgentRegistry at ${contracts.agentRegistry})`,
      { hint: "Start it on the chain it was made on, or start a new network with `veil up --fresh`." },
    );
  }
  // This checkout's code speaks to the contracts of this checkout: a network deployed from other
  // contract sources would fail later, call by call, in ways that say nothing of the cause.
  const build = contractsBuildKey();
  if (previous.chain.contractsBuild !== build) {
    throw new VeilError(
      "NETWORK_CONTRACTS_CHANGED",
      `The network in ${o.dir} was deployed from other contract sources (${previous.chain.contractsBuild ?? "an earlier Veil"}) than this checkout's (${build})`,
      {
        hint: "Start a new network with `veil up --fresh` (deletes the old one), or run the Veil version it was made with.",
      },
    );
  }
  const block = o.block ?? Number(await governance.public.getBlockNumber());
  o.progress(`resuming network ${previous.name} from ${o.dir}, block ${block}`);
  const measurement = buildMeasurement();
  if (!(await governance.isMeasurementAllowed(TeeType.simulated, measurement))) {
    if (isGoverned(previous)) {
      const action = allowMeasurementAction(previous, TeeType.simulated, measurement);
      await passAsDevGovernance(
        previous,
        o.deployer,
        [action],
        "allow this build on the simulated TEE",
        o.progress,
      );
    } else {
      await governance.allowMeasurement(TeeType.simulated, measurement);
    }
    o.progress(
      `the source changed since: policy now also allows simulated build ${measurement.slice(0, 18)}…`,
    );
  }
  return {
    ...previous,
    chain: { ...previous.chain, rpcUrl: o.rpcUrl },
    tee: { ...previous.tee, measurement },
  };
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
