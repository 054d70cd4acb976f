import { randomBytes } from "node:crypto";
import { type Dirent, type FSWatcher, readdirSync, watch } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join, relative } from "node:path";
import { answerClientErrors, MAX_HEADER_BYTES, readBody, sendError } from "../daemon/http.ts";
import { VeilError } from "../errors/index.ts";
import { DEFAULT_EGRESS } from "../sandbox/egress.ts";
import { IsolateSandbox } from "../sandbox/isolate.ts";
import { DEFAULT_LIMITS, type SandboxLimits } from "../sandbox/types.ts";
import { EncryptedAgentState } from "../storage/agent-state.ts";
import { SqliteStateStore } from "../storage/state-store.ts";
import { buildAgent } from "./build.ts";

export type DevServer = { url: string; close(): void; reloads(): number };

/** Not the agent's source: dependencies and version control change on their own. */
const IGNORED_DIRS = new Set(["node_modules", ".git"]);
/**
 * Editors' scratch files (swap and backup files, vim's 4913 probe, the temp file of a save by
 * rename): the save itself shows up under the real name, so these would only reload early.
 */
const SCRATCH_FILE = /^\.#|~$|\.sw[a-p]$|\.tmp$|^4913$|___jb_(tmp|old)___$/;

/**
 * Watches every directory of the project (one non-recursive watcher each) and calls `onChange`
 * with the changed file's path from the root. Directories, not files: an editor that saves by
 * writing a temp file and renaming it over the source replaces the file's inode, and a watcher
 * on the file (which is what Node 20's recursive watch on Linux sets up) goes deaf after the
 * first such save. `rescan` watches directories made since and drops removed ones.
 */
function watchProject(
  root: string,
  onChange: (file: string | undefined) => void,
): { rescan(): void; close(): void } {
  const watchers = new Map<string, FSWatcher>();
  let closed = false;
  const rescan = () => {
    if (closed) return;
    const seen = new Set<string>();
    const walk = (dir: string) => {
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return; // removed since its parent was read
      }
      seen.add(dir);
      if (!watchers.has(dir)) {
        try {
          const watcher = watch(dir, (_event, name) => {
            const base = name === null ? undefined : String(name);
            if (base !== undefined && (IGNORED_DIRS.has(base) || SCRATCH_FILE.test(base))) return;
            onChange(base === undefined ? undefined : relative(root, join(dir, base)));
          });
          // A removed directory's watcher errors on some platforms: the next rescan drops it.
          watcher.on("error", () => {});
          watchers.set(dir, watcher);
        } catch {
          return;
        }
      }
      for (const entry of entries)
        if (entry.isDirectory() && !IGNORED_DIRS.has(entry.name)) walk(join(dir, entry.name));
    };
    walk(root);
    for (const [dir, watcher] of watchers) {
      if (seen.has(dir)) continue;
      watcher.close();
      watchers.delete(dir);
    }
  };
  rescan();
  return {
    rescan,
    close: () => {
      closed = true;
      for (const watcher of watchers.values()) watcher.close();
      watchers.clear();
    },
  };
}

/**
 * `veil dev`: serves one agent from its source directory with the same build, sandbox, globals
 * and limits as a worker, and rebuilds it when a file changes. While a rebuild fails, requests
 * get the build error (and the previous version stops serving, so nothing stale is tested).
 */
export async function startDevServer(options: {
  dir: string;
  port: number;
  host: string;
  name: string;
  limits?: Partial<SandboxLimits>;
  /** The only hosts the agent may fetch (default: any public host, as on a worker by default). */
  allowHosts?: string[];
  /** The agent's local secrets (`env.NAME`), read again on every reload (see dev-vars.ts). */
  env?: () => Record<string, string>;
  onEvent?: (message: string) => void;
}): Promise<DevServer> {
  const say = options.onEvent ?? (() => {});
  let current: { sandbox: IsolateSandbox } | { error: VeilError } = {
    error: new VeilError("AGENT_NOT_READY", "building…", { status: 503 }),
  };
  let reloads = 0;
  const limits = {
    ...DEFAULT_LIMITS,
    ...options.limits,
    ...(options.allowHosts ? { egress: { ...DEFAULT_EGRESS, allowHosts: options.allowHosts } } : {}),
  };
  // ctx.state as on a worker (sealed, with the same quotas), kept in memory for this session.
  const devState = new EncryptedAgentState(new SqliteStateStore(":memory:"), 0n, randomBytes(32));

  let closed = false;
  const load = async () => {
    const started = Date.now();
    try {
      const built = await buildAgent(options.dir);
      const secrets = options.env?.() ?? {};
      const sandbox = await IsolateSandbox.create({
        code: built.code,
        meta: { id: "0", name: options.name, codeHash: built.hash, secrets },
        limits,
        state: devState,
        log: (level, message) => say(`[${options.name}] ${level}: ${message}`),
      });
      if (closed) {
        sandbox.dispose();
        return;
      }
      const previous = current;
      current = { sandbox };
      if ("sandbox" in previous) previous.sandbox.dispose();
      const names = Object.keys(secrets);
      say(
        `loaded ${built.hash.slice(0, 18)}… (${built.bytes.byteLength} bytes) in ${Date.now() - started} ms${names.length ? `; env: ${names.join(", ")}` : ""}`,
      );
    } catch (err) {
      const error =
        err instanceof VeilError ? err : new VeilError("AGENT_LOAD_FAILED", String(err), { status: 500 });
      if ("sandbox" in current) current.sandbox.dispose();
      current = { error };
      say(
        `error [${error.code}]: ${error.shortMessage}${error.context.length ? `\n  ${error.context.join("\n  ")}` : ""}`,
      );
    }
    reloads++;
  };
  await load();

  // One load at a time, the last one after the last change: two builds in flight could finish
  // out of order and leave the older code serving.
  let loading = false;
  let changedSince = false;
  const reload = async () => {
    changedSince = true;
    if (loading) return;
    loading = true;
    try {
      while (changedSince && !closed) {
        changedSince = false;
        watcher.rescan();
        await load();
      }
    } finally {
      loading = false;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  // A save is often several events (temp file written, renamed, metadata): one reload for them.
  const watcher = watchProject(options.dir, (file) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      say(`${file ?? "a file"} changed; reloading`);
      void reload();
    }, 50);
  });

  const server: Server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, async (req, res) => {
    try {
      if ("error" in current) throw current.error;
      const method = (req.method ?? "GET").toUpperCase();
      const headers: [string, string][] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i]!.toLowerCase();
        if (!["host", "connection", "content-length", "transfer-encoding", "keep-alive"].includes(k))
          headers.push([k, req.rawHeaders[i + 1]!]);
      }
      const body =
        method === "GET" || method === "HEAD" ? null : await readBody(req, limits.egress.maxRequestBytes);
      const url = new URL(req.url ?? "/", `https://${options.name}.agents.veil`);
      const response = await current.sandbox.invoke({
        method,
        url: url.href,
        headers,
        body,
        acceptStream: method !== "HEAD",
      });
      const out: Record<string, string> = {};
      for (const [k, v] of response.headers)
        if (k !== "content-length") out[k] = out[k] ? `${out[k]}, ${v}` : v;
      const stream = response.stream;
      if (stream) {
        // Passed on as the agent produces it, as a worker does; a cut stream cuts the connection.
        res.writeHead(response.status, out);
        res.flushHeaders();
        res.once("close", () => stream.cancel());
        try {
          for await (const chunk of stream.chunks) res.write(chunk);
          res.end();
        } catch (err) {
          say(`the response stream was cut: ${(err as Error).message}`);
          res.destroy();
        }
        return;
      }
      out["content-length"] = String(response.body.byteLength);
      res.writeHead(response.status, out);
      res.end(method === "HEAD" ? undefined : response.body);
    } catch (err) {
      sendError(res, err);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(
        new VeilError("PORT_IN_USE", `Cannot listen on ${options.host}:${options.port}`, {
          cause: err,
          hint: "Pass another --port.",
        }),
      ),
    );
    answerClientErrors(server).listen(options.port, options.host, resolve);
  });
  const url = `http://${options.host}:${(server.address() as AddressInfo).port}`;
  return {
    url,
    reloads: () => reloads,
    close: () => {
      closed = true;
      watcher.close();
      clearTimeout(timer);
      server.closeAllConnections();
      server.close();
      if ("sandbox" in current) current.sandbox.dispose();
    },
  };
}
