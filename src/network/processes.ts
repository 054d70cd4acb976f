import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { READY_PREFIX } from "../daemon/http.ts";
import { VeilError } from "../errors/index.ts";

const veilBin = resolve(dirname(fileURLToPath(import.meta.url)), "../../bin/veil.mjs");

export type Daemon = { name: string; child: ChildProcess; ready: Record<string, unknown>; logFile: string };

/**
 * Starts `veil <args>` as its own process, sends its output to `<logDir>/<name>.log`, and
 * resolves with what it announces on its VEIL_READY line. A process that exits first fails
 * with the tail of its log, so the user sees why.
 */
export function startDaemon(
  name: string,
  args: string[],
  logDir: string,
  timeoutMs = 60_000,
  env: Record<string, string> = {},
): Promise<Daemon> {
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: "a" });
  // stdin stays open and unused: when the supervisor dies, even by kill -9, it closes, and the
  // daemon stops (see watchSupervisor) instead of living on without one.
  const child = spawn(process.execPath, [veilBin, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ...env, VEIL_DAEMON_NAME: name, VEIL_SUPERVISED: "1" },
  });
  const tail: string[] = [];
  const remember = (line: string) => {
    tail.push(line);
    if (tail.length > 15) tail.shift();
  };
  child.stderr?.on("data", (chunk: Buffer) => {
    log.write(chunk);
    for (const line of chunk.toString().split("\n")) if (line.trim()) remember(line);
  });
  return new Promise((resolvePromise, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      child.kill("SIGKILL");
      reject(
        new VeilError("DAEMON_START_TIMEOUT", `${name} did not become ready within ${timeoutMs / 1000}s`, {
          context: tail,
          hint: `See ${logFile}.`,
        }),
      );
    }, timeoutMs);
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      log.write(`${line}\n`);
      if (!settled && line.startsWith(READY_PREFIX)) {
        settled = true;
        clearTimeout(timer);
        resolvePromise({ name, child, ready: JSON.parse(line.slice(READY_PREFIX.length)), logFile });
      } else remember(line);
    });
    child.once("exit", (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(
        new VeilError(
          "DAEMON_START_FAILED",
          `${name} exited before it was ready (${signal ?? `code ${code}`})`,
          {
            context: tail,
            hint: `See ${logFile}.`,
          },
        ),
      );
    });
  });
}

/** In a daemon started by a Supervisor: stop (as on SIGTERM) when the supervisor is gone. */
export function watchSupervisor(): void {
  if (process.env.VEIL_SUPERVISED !== "1") return;
  process.stdin.on("error", () => undefined);
  // "close" follows both the end of the pipe and an error on it.
  process.stdin.once("close", () => process.kill(process.pid, "SIGTERM"));
  process.stdin.resume();
}

/** `args` with each of `flags` given as 0 replaced by the port of the URL the daemon announced. */
export function pinPorts(args: string[], flags: Record<string, unknown>): string[] {
  const out = [...args];
  for (const [flag, url] of Object.entries(flags)) {
    const at = out.indexOf(flag);
    if (at < 0 || out[at + 1] !== "0" || typeof url !== "string") continue;
    const port = new URL(url).port;
    if (port) out[at + 1] = port;
  }
  return out;
}

type Spec = {
  name: string;
  args: string[];
  env: Record<string, string>;
  restarts: number;
  startedAt: number;
};

/**
 * Starts daemons and, once `supervise` is called, starts again any that exits on its own, with
 * backoff (0.5 s doubling to 30 s; back to 0.5 s after a minute up). `stop` ends them in
 * reverse order of start.
 */
export class Supervisor {
  readonly daemons: Daemon[] = [];
  readonly #specs = new Map<string, Spec>();
  readonly #logDir: string;
  readonly #progress: (message: string) => void;
  #stopping = false;
  #onRestart: ((name: string, pid: number | undefined) => void) | undefined;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(logDir: string, progress: (message: string) => void) {
    this.#logDir = logDir;
    this.#progress = progress;
  }

  /** `env` is added to the daemon's environment: for what must not show in `ps` (a database password). */
  async start(name: string, args: string[], env: Record<string, string> = {}): Promise<Daemon> {
    const daemon = await startDaemon(name, args, this.#logDir, undefined, env);
    // A daemon started on port 0 comes back on the port it got: its URL is on chain and in the
    // network file, and peers (workers dialling a gatekeeper, callers a gateway) go by it.
    const restartArgs = pinPorts(args, {
      "--port": daemon.ready.url,
      "--gateway-port": daemon.ready.gateway,
    });
    this.#specs.set(name, { name, args: restartArgs, env, restarts: 0, startedAt: Date.now() });
    this.daemons.push(daemon);
    this.#watch(daemon);
    return daemon;
  }

  /** From now on, restart daemons that exit. */
  supervise(onRestart: (name: string, pid: number | undefined) => void): void {
    this.#onRestart = onRestart;
    for (const d of this.daemons)
      if (d.child.exitCode !== null || d.child.signalCode !== null) this.#restartLater(d);
  }

  #watch(daemon: Daemon): void {
    daemon.child.once("exit", (code, signal) => {
      if (this.#stopping) return;
      this.#progress(`${daemon.name} exited (${signal ?? `code ${code}`}); see ${daemon.logFile}`);
      if (this.#onRestart) this.#restartLater(daemon);
    });
  }

  #restartLater(daemon: Daemon): void {
    const spec = this.#specs.get(daemon.name)!;
    if (Date.now() - spec.startedAt > 60_000) spec.restarts = 0;
    const delay = Math.min(30_000, 500 * 2 ** spec.restarts);
    spec.restarts++;
    this.#progress(`restarting ${daemon.name} in ${(delay / 1000).toFixed(1)}s`);
    const timer = setTimeout(async () => {
      this.#timers.delete(timer);
      if (this.#stopping) return;
      try {
        const next = await startDaemon(spec.name, spec.args, this.#logDir, undefined, spec.env);
        if (this.#stopping) {
          next.child.kill("SIGTERM");
          return;
        }
        spec.startedAt = Date.now();
        this.daemons[this.daemons.indexOf(daemon)] = next;
        this.#watch(next);
        this.#progress(`${spec.name} is back (process ${next.child.pid})`);
        this.#onRestart?.(spec.name, next.child.pid);
      } catch (err) {
        this.#progress(`${spec.name} did not start again: ${(err as Error).message.split("\n")[0]}`);
        this.#restartLater(daemon);
      }
    }, delay);
    this.#timers.add(timer);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const t of this.#timers) clearTimeout(t);
    for (const d of [...this.daemons].reverse()) {
      if (d.child.exitCode !== null || d.child.signalCode !== null) continue;
      d.child.kill("SIGTERM");
      await new Promise((r) => {
        const t = setTimeout(() => {
          d.child.kill("SIGKILL");
          r(undefined);
        }, 5000);
        d.child.once("exit", () => {
          clearTimeout(t);
          r(undefined);
        });
      });
    }
  }
}
