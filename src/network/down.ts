import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { VeilError } from "../errors/index.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * Stops the `veil up` that runs from `dir` (its process id is in `<dir>/veil-up.pid`): SIGTERM,
 * which stops its daemons in order, then waits. Returns what happened, for the user.
 */
export async function down(dir: string, timeoutMs: number, progress: (m: string) => void): Promise<string> {
  const pidFile = join(resolve(dir), "veil-up.pid");
  if (!existsSync(pidFile)) return `No network is running from ${dir}.`;
  const pid = Number.parseInt(readFileSync(pidFile, "utf8"), 10);
  if (!Number.isSafeInteger(pid) || !alive(pid)) {
    return `No network is running from ${dir} (the veil up that ran it, process ${pid}, is gone).`;
  }
  progress(`stopping the network in ${dir} (veil up, process ${pid})…`);
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      throw new VeilError(
        "NETWORK_STOP_TIMEOUT",
        `veil up (process ${pid}) did not stop within ${timeoutMs / 1000}s`,
        {
          hint: `Wait and run \`veil down\` again, or kill it: kill ${pid} (its daemons stop with it).`,
        },
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return `Stopped the network in ${dir}; \`npm start\` resumes it.`;
}
