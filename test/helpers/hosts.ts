import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { veilBin } from "./cli.ts";

/** Whether hosts can be made here: root and iproute2 (`ip netns`), as CI runs. */
export const canNamespace = process.getuid?.() === 0 && spawnSync("ip", ["-V"]).status === 0;

/** The environment without VEIL_NETWORK, so that a command names its network itself. */
export function withoutNetwork(): NodeJS.ProcessEnv {
  const { VEIL_NETWORK: _ours, ...rest } = process.env;
  return rest;
}

/**
 * Hosts on one private network: host 1 is this (the root) namespace, which holds the bridge and
 * its address; hosts 2..count are Linux network namespaces, each joined to the bridge by a veth
 * pair. Each host has an address `ip(host)` on the bridge's /24.
 */
export type Hosts = {
  /** The /24's first three octets, e.g. "10.212.7". */
  readonly net: string;
  readonly bridge: string;
  ip(host: number): string;
  /** The namespace of `host` (2..count). */
  ns(host: number): string;
  /** The bridge's end of `host`'s link: set it down to cut the host off. */
  hostSide(host: number): string;
  /** `ip ARGS`, throwing on failure. */
  sh(args: string[]): void;
  /** `ip` arguments that run `args` in `host`'s namespace. */
  inHost(host: number, args: string[]): string[];
  /** `veil ARGS` run on `host` to its end; its stdout and stderr together. */
  veilOn(host: number, args: string[], env?: Record<string, string>): Promise<{ code: number; out: string }>;
  /**
   * Starts `command` on `host` (the process is `command` itself: `ip netns exec` execs it, so
   * killing the child kills it). Killed by `teardown()` if still running.
   */
  spawnOn(
    host: number,
    command: string[],
    options?: { cwd?: string; env?: NodeJS.ProcessEnv; stdio?: "pipe" | "inherit" },
  ): ChildProcess;
  /** SIGKILLs what `spawnOn` started that still runs. */
  killAll(): void;
  /** Kills what `spawnOn` started, removes the namespaces and the bridge. Synchronous; idempotent. */
  teardown(): void;
};

/**
 * Makes `count` hosts (host 1 plus `count - 1` namespaces) on a new bridge with a random name
 * and a random 10.x.y.0/24, so that runs side by side do not collide.
 *
 * @example
 * const hosts = makeHosts({ count: 4, cwd: work });
 * try { await hosts.veilOn(4, ["invoke", "counter", "--network", file]); } finally { hosts.teardown(); }
 */
export function makeHosts(options: { count: number; cwd?: string }): Hosts {
  const id = randomBytes(2).toString("hex");
  const net = `10.${200 + Math.floor(Math.random() * 50)}.${1 + Math.floor(Math.random() * 250)}`;
  const bridge = `vbr${id}`;
  const ip = (host: number) => `${net}.${host}`;
  const ns = (host: number) => `vh${id}${host}`;
  const hostSide = (host: number) => `vh${id}${host}a`;
  const sh = (args: string[]) => {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
  };
  const inHost = (host: number, args: string[]) => ["netns", "exec", ns(host), ...args];
  const others = Array.from({ length: options.count - 1 }, (_, i) => i + 2);
  const children: ChildProcess[] = [];
  let torn = false;

  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  };
  const teardown = () => {
    if (torn) return;
    torn = true;
    killAll();
    for (const host of others) spawnSync("ip", ["netns", "del", ns(host)]);
    spawnSync("ip", ["link", "del", bridge]);
  };

  try {
    sh(["link", "add", bridge, "type", "bridge"]);
    sh(["addr", "add", `${ip(1)}/24`, "dev", bridge]);
    sh(["link", "set", bridge, "up"]);
    for (const host of others) {
      sh(["netns", "add", ns(host)]);
      sh(["link", "add", hostSide(host), "type", "veth", "peer", "name", `vh${id}${host}b`]);
      sh(["link", "set", `vh${id}${host}b`, "netns", ns(host)]);
      sh(["link", "set", hostSide(host), "master", bridge]);
      sh(["link", "set", hostSide(host), "up"]);
      sh(inHost(host, ["ip", "addr", "add", `${ip(host)}/24`, "dev", `vh${id}${host}b`]));
      sh(inHost(host, ["ip", "link", "set", `vh${id}${host}b`, "up"]));
      sh(inHost(host, ["ip", "link", "set", "lo", "up"]));
    }
  } catch (err) {
    teardown();
    throw err;
  }

  const spawnOn: Hosts["spawnOn"] = (host, command, o = {}) => {
    const child = spawn("ip", inHost(host, command), {
      ...((o.cwd ?? options.cwd) ? { cwd: o.cwd ?? options.cwd } : {}),
      env: o.env ?? withoutNetwork(),
      stdio: o.stdio === "inherit" ? "inherit" : ["pipe", "pipe", "pipe"],
    });
    children.push(child);
    return child;
  };

  const veilOn: Hosts["veilOn"] = (host, args, env = {}) =>
    new Promise((resolve) => {
      const child = spawnOn(host, [process.execPath, veilBin, ...args], {
        env: { ...withoutNetwork(), NO_COLOR: "1", ...env },
      });
      child.stdin?.end();
      let out = "";
      child.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
      });
      child.stderr?.on("data", (c: Buffer) => {
        out += c.toString();
      });
      child.once("exit", (code) => resolve({ code: code ?? 1, out }));
    });

  return { net, bridge, ip, ns, hostSide, sh, inHost, veilOn, spawnOn, killAll, teardown };
}

/** A worker started on a host with `veil worker --join`, once it announced itself. */
export type JoinedWorker = { child: ChildProcess; url: string; address: string; log(): string };

/**
 * Starts `veil worker --join GATEWAY` on `host`, listening on the host's address, and resolves
 * once it is ready (registered and serving). Rejects with its log if it exits first.
 */
export function joinWorker(
  hosts: Hosts,
  host: number,
  options: {
    gatewayUrl: string;
    rpcUrl: string;
    dataDir: string;
    operatorKey: string;
    stateUrl: string;
    port?: number;
  },
): Promise<JoinedWorker> {
  const child = hosts.spawnOn(
    host,
    [
      process.execPath,
      veilBin,
      "worker",
      "--join",
      options.gatewayUrl,
      "--rpc",
      options.rpcUrl,
      "--data",
      options.dataDir,
      "--operator-key",
      options.operatorKey,
      "--host",
      hosts.ip(host),
      "--port",
      String(options.port ?? 8555),
    ],
    { env: { ...withoutNetwork(), VEIL_STATE: options.stateUrl } },
  );
  let log = "";
  child.stderr?.on("data", (c: Buffer) => {
    log += c.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const onExit = (code: number | null, signal: string | null) =>
      reject(new Error(`the worker on host ${host} exited (${code ?? signal}):\n${log}`));
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.startsWith("VEIL_READY "));
      if (line) {
        child.off("exit", onExit);
        const ready = JSON.parse(line.slice("VEIL_READY ".length)) as { url: string; address: string };
        out = "";
        child.stdout?.removeAllListeners("data");
        child.stdout?.resume();
        resolve({ child, url: ready.url, address: ready.address, log: () => log });
      }
    });
    child.once("exit", onExit);
  });
}

/**
 * From now, a new TCP connection to `url`'s host and port every 20 ms until one connects: the
 * time it took (what the link itself needs after `ip link set up`, the floor under any rejoin).
 */
export function firstConnect(url: string, within = 30_000): Promise<number | undefined> {
  const { hostname, port } = new URL(url);
  const start = Date.now();
  return new Promise((resolve) => {
    const sockets = new Set<Socket>();
    let timer: NodeJS.Timeout | undefined;
    const done = (v: number | undefined) => {
      clearTimeout(timer);
      for (const s of sockets) s.destroy();
      resolve(v);
    };
    const attempt = () => {
      if (Date.now() - start > within) return done(undefined);
      const s = connect({ host: hostname, port: Number(port) });
      sockets.add(s);
      s.setTimeout(2_000, () => s.destroy());
      s.on("error", () => {});
      s.once("close", () => sockets.delete(s));
      s.once("connect", () => done(Date.now() - start));
      timer = setTimeout(attempt, 20);
    };
    attempt();
  });
}
