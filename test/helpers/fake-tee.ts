import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  constants,
  existsSync,
  type FSWatcher,
  openSync,
  statSync,
  watch,
  writeFileSync,
} from "node:fs";
import { open, readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";

/**
 * A stand-in for the kernel's configfs-tsm report directory (there is no TDX guest here).
 * Like configfs, a new entry gets `provider`, `generation` and `outblob` at once; `outblob` is
 * a FIFO, so reading it blocks, as the kernel's does while the quote is made; the fake then
 * reads `inblob`, bumps `generation` and answers with `quote`.
 */
export function fakeConfigfsTsm(
  root: string,
  options: { quote: Uint8Array; provider?: string; generationBump?: number },
): { inblobs: Uint8Array[]; close(): void } {
  const inblobs: Uint8Array[] = [];
  const seen = new Set<string>();
  const pending = new Set<string>();
  const watcher: FSWatcher = watch(root, (_event, name) => {
    if (!name || seen.has(name)) return;
    const entry = join(root, name);
    if (!existsSync(entry) || !statSync(entry).isDirectory()) return;
    seen.add(name);
    writeFileSync(join(entry, "provider"), `${options.provider ?? "tdx_guest"}\n`);
    writeFileSync(join(entry, "generation"), "0\n");
    execFileSync("mkfifo", [join(entry, "outblob")]);
    pending.add(entry);
    void (async () => {
      const fifo = await open(join(entry, "outblob"), "w"); // waits for the reader
      pending.delete(entry);
      inblobs.push(new Uint8Array(await readFile(join(entry, "inblob"))));
      await writeFile(join(entry, "generation"), `${options.generationBump ?? 1}\n`);
      await fifo.write(options.quote);
      await fifo.close();
    })().catch(() => {});
  });
  return {
    inblobs,
    close: () => {
      watcher.close();
      // Release writers still waiting for a reader that gave up, or the process cannot exit.
      for (const entry of pending) {
        const fd = openSync(join(entry, "outblob"), constants.O_RDONLY | constants.O_NONBLOCK);
        setTimeout(() => closeSync(fd), 100);
      }
    },
  };
}

/** A stand-in for the dstack guest agent on a unix socket, speaking its JSON RPC. */
export async function fakeDstackAgent(
  socketPath: string,
  options: { quote: Uint8Array; key: Uint8Array; failWith?: string },
): Promise<{
  requests: { path: string; body: Record<string, string> }[];
  server: Server;
  close(): Promise<void>;
}> {
  const requests: { path: string; body: Record<string, string> }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, string>;
      requests.push({ path: req.url ?? "", body });
      res.setHeader("content-type", "application/json");
      if (options.failWith) return res.end(JSON.stringify({ error: options.failWith }));
      if (req.url === "/GetQuote") {
        return res.end(
          JSON.stringify({ quote: Buffer.from(options.quote).toString("hex"), event_log: "[]" }),
        );
      }
      if (req.url === "/GetKey") {
        // dstack derives a key per path from the app's identity; so does this fake.
        const key = createHash("sha256")
          .update(options.key)
          .update(body.path ?? "")
          .digest("hex");
        return res.end(JSON.stringify({ key, signature_chain: [] }));
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ error: `no method ${req.url}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return { requests, server, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
