import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { VeilError } from "../errors/index.ts";

/** Whether process `pid` runs (one of another user counts). */
export const processAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** The process that holds `<dir>/<role>.pid`, if the file names one that still runs. */
export function holderOf(dir: string, role: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(join(dir, `${role}.pid`), "utf8"), 10);
  } catch {
    return undefined;
  }
  return Number.isSafeInteger(pid) && processAlive(pid) ? pid : undefined;
}

/**
 * Claims a data directory for this process (`<dir>/<role>.pid`): two daemons writing one
 * directory would corrupt it. A file left by a process that no longer runs (a crash) is taken
 * over. Returns the release function.
 */
export function holdDataDir(dir: string, role: string): () => void {
  const file = join(dir, `${role}.pid`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx");
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      const release = () => {
        try {
          if (readFileSync(file, "utf8").trim() === String(process.pid)) rmSync(file, { force: true });
        } catch {
          // already gone
        }
      };
      process.once("exit", release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = holderOf(dir, role);
      if (pid !== undefined && pid !== process.pid) {
        throw new VeilError("DATA_DIR_IN_USE", `${dir} is in use by another ${role} (process ${pid})`, {
          hint: `Stop that process first (\`veil down\`, or kill ${pid}), or give this one another data directory.`,
        });
      }
      rmSync(file, { force: true });
    }
  }
  throw new VeilError("DATA_DIR_IN_USE", `Could not claim ${dir} for the ${role}`, {
    hint: "Another process keeps taking it; stop it and try again.",
  });
}
