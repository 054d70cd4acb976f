// A throwaway PostgreSQL server for the tests: initdb in a temporary directory, `postgres` on a
// free loopback port, trust authentication, stopped (and its directory removed) by `stop()`.
// Debian's postgresql package provides the binaries (.ci/run installs it); PostgreSQL refuses to
// run as root, so as root it runs as the `postgres` user that package creates.
import { execFileSync, spawn } from "node:child_process";
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The newest installed PostgreSQL's bin directory, or undefined. */
export function postgresBinDir() {
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, "bin", "postgres")))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(root, versions[0], "bin");
  }
  try {
    const dir = execFileSync("pg_config", ["--bindir"], { encoding: "utf8" }).trim();
    if (existsSync(join(dir, "postgres"))) return dir;
  } catch {}
  return undefined;
}

function freePort(host = "127.0.0.1") {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const asRoot = process.getuid?.() === 0;

function uidOf(user) {
  return Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
}
function gidOf(user) {
  return Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
}

/** Runs a PostgreSQL binary, as the postgres user when we are root. */
function command(bin, args) {
  return asRoot ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
}

/**
 * Starts a server. Resolves to { url, dataDir, pid, stop(), kill() }: `url` reaches the
 * `postgres` database as the `postgres` superuser over TCP on 127.0.0.1.
 */
export async function startPostgres(options = {}) {
  const bin = postgresBinDir();
  if (!bin) {
    throw new Error(
      "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres). Install it: apt-get install -y postgresql",
    );
  }
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "veil-pg-"));
  if (asRoot) chownSync(dataDir, uidOf("postgres"), gidOf("postgres"));
  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    const [cmd, args] = command(join(bin, "initdb"), [
      "-D",
      dataDir,
      "-A",
      "trust",
      "-U",
      "postgres",
      "--no-sync",
      "-E",
      "UTF8",
      "--locale=C",
    ]);
    execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    // Clients from a private test network (network namespaces on a bridge) may connect too.
    if (options.trustNetwork)
      appendFileSync(join(dataDir, "pg_hba.conf"), `host all all ${options.trustNetwork} trust\n`);
  }
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? (await freePort(host));
  const [cmd, args] = command(join(bin, "postgres"), [
    "-D",
    dataDir,
    "-p",
    String(port),
    "-k",
    dataDir,
    "-c",
    `listen_addresses=${host}`,
    "-c",
    "max_connections=300",
    "-c",
    "shared_buffers=32MB",
  ]);
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let log = "";
  child.stderr.on("data", (d) => {
    log += d;
    if (log.length > 64_000) log = log.slice(-32_000);
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited at start:\n${log}`);
    if (/database system is ready to accept connections/.test(log)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`postgres did not start within 30 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // The server must not keep a test process alive: it is stopped, or killed at exit.
  child.unref();
  child.stderr.unref?.();
  // The server and its backends share the process group started here: a crash is the whole
  // group killed at once, and nothing outlives this process if it exits without stopping it.
  const group = -child.pid;
  const killGroup = () => {
    try {
      process.kill(group, "SIGKILL");
    } catch {}
  };
  process.once("exit", killGroup);
  const pid = child.pid;
  const signal = async (sig) => {
    if (child.exitCode === null) {
      try {
        process.kill(asRoot ? group : pid, sig);
      } catch {}
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
    killGroup();
    process.removeListener("exit", killGroup);
    // Until the last backend is gone: a restart on the same directory waits for it.
    for (let i = 0; i < 200; i++) {
      try {
        process.kill(group, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return {
    url: `postgres://postgres@${host}:${port}/postgres`,
    port,
    dataDir,
    pid,
    /** Fast shutdown, then the directory is removed (unless `keep`). */
    async stop({ keep = false } = {}) {
      await signal("SIGINT");
      if (!keep && !options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
    /** kill -9 of the server: what a crash does. The directory stays, for a restart. */
    async kill() {
      await signal("SIGKILL");
    },
  };
}
