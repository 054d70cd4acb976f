import { resolve } from "node:path";
import { VeilError } from "../errors/index.ts";
import { holderOf, processAlive } from "../storage/data-dir-lock.ts";

/**
 * Stops the `veil up` that runs from `dir` (its process id is in `<dir>/veil-up.pid`): SIGTERM,
 * which stops its daemons in order, then waits. Returns what happened, for the user.
 */
export async function down(dir: string, timeoutMs: number, progress: (m: string) => void): Promise<string> {
  const pid = holderOf(resolve(dir), "veil-up");
  if (pid === undefined) return `No network is running from ${dir}.`;
  progress(`stopping the network in ${dir} (veil up, process ${pid})…`);
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid)) {
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
