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
): Promise<Daemon> {
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: "a" });
  const child = spawn(process.execPath, [veilBin, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, VEIL_DAEMON_NAME: name },
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
