import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";
import { Command, Option } from "commander";
import type { Hex } from "viem";
import { VeilError } from "../errors/index.ts";
import { loadNetwork, networkPath } from "../network/config.ts";
import { watchSupervisor } from "../network/processes.ts";
import type { InvokeEnd, VeilClient as VeilClientType } from "../sdk/client.ts";
import { amount, registerAgentCommands, resolveKey } from "./agent.ts";
import { registerAuditCommand } from "./audit.ts";
import { commandTree, completionScript } from "./completion.ts";
import { registerContractCommands } from "./contract.ts";
import { registerDoctorCommand } from "./doctor.ts";
import { registerEscrowCommands } from "./escrow.ts";
import { registerGovCommands } from "./gov.ts";
import { agentsIn, describeTemplates, initAgent, listTemplates } from "./init.ts";
import { registerKeysCommand } from "./keys.ts";
import {
  collectAddress,
  collectHostPort,
  confirm,
  fail,
  flushJson,
  jsonOutput,
  out,
  parseCount,
  parseLimit,
  parsePort,
  parsePositive,
  progress,
  setJsonOutput,
  toJson,
  yesOption,
} from "./output.ts";
import { registerPoolCommands } from "./pool.ts";
import { fromOption, privateKeyOption, resolveSigner, type SignerFlags } from "./signer.ts";
import { registerTriggersCommands } from "./triggers.ts";
import { registerVaultCommands } from "./vault.ts";
import { registerWorkerOps } from "./worker-ops.ts";

// A daemon `veil up` started stops with it, even when it is killed outright.
watchSupervisor();

const program = new Command();
program
  .name("veil")
  .description("Veil: a confidential execution network for AI agents")
  .version(
    (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string })
      .version,
    "-V, --version",
  )
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

const networkOption = () =>
  new Option("--network <file>", "network.json to use (default: $VEIL_NETWORK, then ./.veil/network.json)");
const keyOption = privateKeyOption;

/** The signing key: --private-key, --from, $VEIL_PRIVATE_KEY, else the dev network's "user" account. */
function signingKey(network: ReturnType<typeof loadNetwork>, flags: SignerFlags): Hex {
  return resolveSigner(network, flags);
}

/** Loaded on use: the client pulls in viem, which `veil --help` should not pay for. */
async function client(network: ReturnType<typeof loadNetwork>, privateKey?: Hex): Promise<VeilClientType> {
  const { VeilClient } = await import("../sdk/client.ts");
  return new VeilClient(network, privateKey ? { privateKey } : {});
}

function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      fail(err);
    }
  };
}

// ── network ─────────────────────────────────────────────────────────────────────────────────

program
  .command("up")
  .description("start a whole Veil network on this machine: chain, contracts, gatekeeper, workers, gateway")
  .option("--dir <dir>", "where the network keeps its files (network.json, logs, data)", ".veil")
  .option("--rpc <url>", "use this JSON-RPC chain instead of the embedded one")
  .option("--deployer-key <hex>", "with --rpc: the key that deploys and governs the contracts")
  .option(
    "--allow-simulated",
    "with --rpc: let that chain accept the simulated TEE (INSECURE: anyone who can reach the chain can get keys)",
  )
  .option("--workers <n>", "how many workers", parseCount, 2)
  .option(
    "--gatekeepers <n>",
    "how many gatekeepers (the first makes the master key, the rest join)",
    parseCount,
    1,
  )
  .option(
    "--base-port <port>",
    "chain on PORT, gateway PORT+1, gatekeeper PORT+2, workers PORT+10…; 0 = free ports",
    parsePort,
    8545,
  )
  .option("--host <host>", "interface to listen on", "127.0.0.1")
  .option(
    "--fee-claim-calls <n>",
    "workers claim fees once this many paid calls are pending",
    parsePositive,
    20,
  )
  .option("--fee-interval <seconds>", "…or once any has been pending this long", parsePositive, 30)
  .option(
    "--allow-private-egress <host[:port]>",
    "let agents reach this private or loopback destination (as each worker's --allow-private-egress); repeatable",
    collectHostPort,
  )
  .addOption(
    new Option(
      "--gateway <where>",
      "run the gateway in the first worker's process or in its own (default: the worker's with one worker, its own with more)",
    ).choices(["worker", "process"]),
  )
  .option(
    "--governed",
    "give the registries to governance's timelock, as in production: owner changes then go through `veil gov` (kept on resume)",
  )
  .addOption(
    new Option(
      "--state <file|url>",
      "where workers keep agents' state, nonces and logs: postgres://USER:PASSWORD@HOST:PORT/DB, or a SQLite file (default DIR/state.sqlite); kept on resume",
    ).env("VEIL_STATE"),
  )
  .option("--fresh", "start a new network, deleting the one in --dir (asks first; --yes does not)")
  .option("--yes", "with --fresh: do not ask")
  .action(
    action(
      async (opts: {
        state?: string;
        fresh?: boolean;
        yes?: boolean;
        dir: string;
        rpc?: string;
        deployerKey?: Hex;
        allowSimulated?: boolean;
        workers: number;
        gatekeepers: number;
        basePort: number;
        host: string;
        feeClaimCalls: number;
        feeInterval: number;
        gateway?: "worker" | "process";
        allowPrivateEgress?: string[];
        governed?: boolean;
      }) => {
        const { up, networkExists } = await import("../network/up.ts");
        const { yes, ...upOptions } = opts;
        if (opts.fresh && networkExists(opts.dir))
          await confirm(
            yes,
            `--fresh deletes the network in ${opts.dir}`,
            "its chain, agents, keys, secrets, stake and state are then gone",
          );
        const started = Date.now();
        const running = await up({ ...upOptions, onProgress: progress });
        const n = running.network;
        const lines = [
          "",
          `Veil network is ${running.resumed ? `resumed at block ${running.resumed.block}` : "up"} (${((Date.now() - started) / 1000).toFixed(1)}s) — INSECURE simulated TEE, for development only`,
          `  gateway      ${n.gateway?.url}`,
          ...(n.console ? [`  console      ${n.console.url}  (open it in a browser)`] : []),
          `  chain        ${n.chain.rpcUrl} (chain id ${n.chain.chainId}${n.chain.embedded ? ", embedded" : ""})`,
          ...n.gatekeepers.map((g) => `  gatekeeper   ${g.url}  ${g.address}`),
          ...n.workers.map((w) => `  worker       ${w.url}  ${w.address}`),
          `  contracts    AgentRegistry ${n.chain.contracts.agentRegistry}`,
          `               WorkerRegistry ${n.chain.contracts.workerRegistry}`,
          `               GatekeeperRegistry ${n.chain.contracts.gatekeeperRegistry}`,
          `               AttestationPolicy ${n.chain.contracts.attestationPolicy}`,
          ...(n.chain.governed
            ? ["  governed     the registries belong to the timelock: owner changes go through `veil gov`"]
            : []),
          `  state        ${n.state?.kind === "postgres" ? `PostgreSQL (schema ${n.state.namespace})` : `SQLite ${opts.state ?? `${opts.dir}/state.sqlite`}`}`,
          `  network file ${running.path}  (dev accounts in it are DEV ONLY)`,
          `  logs         ${opts.dir}/logs/`,
          "",
          "In another shell:  npx veil init hello-agent && npx veil deploy ./hello-agent --name hello",
          '                   npx veil invoke hello --path /greet --data \'{"name":"Ada"}\'',
          "Press Ctrl-C (or run `npx veil down`) to stop; `npm start` again resumes this network.",
        ];
        out(lines, {
          status: running.resumed ? "resumed" : "up",
          ...(running.resumed ? { block: running.resumed.block } : {}),
          networkFile: running.path,
          logs: `${opts.dir}/logs/`,
          gateway: n.gateway?.url,
          ...(n.console ? { console: n.console.url } : {}),
          chain: n.chain,
          gatekeepers: n.gatekeepers,
          workers: n.workers,
          state: n.state,
          insecure: n.tee.insecure === true,
        });
        let stopping = false;
        const shutdown = async () => {
          if (stopping) return;
          stopping = true;
          progress("stopping the network…");
          await running.stop();
          process.exit(0);
        };
        process.on("SIGINT", shutdown);
        process.on("SIGTERM", shutdown);
      },
    ),
  );

program
  .command("down")
  .description("stop the network that `veil up` runs from --dir (from another shell)")
  .option("--dir <dir>", "the network's directory", ".veil")
  .option("--timeout <seconds>", "how long to wait for it to stop", parsePositive, 30)
  .action(
    action(async (opts: { dir: string; timeout: number }) => {
      const { down } = await import("../network/down.ts");
      const outcome = await down(opts.dir, opts.timeout * 1000, progress);
      out([outcome], { dir: opts.dir, outcome });
    }),
  );

// ── agents ──────────────────────────────────────────────────────────────────────────────────

program
  .command("init")
  .description("make a new agent project from a template")
  .argument("<dir>", "directory to create")
  .option("--template <name>", `template to use: ${listTemplates().join(", ")}`, "hello")
  .addHelpText(
    "after",
    () =>
      `\nTemplates:\n${describeTemplates()
        .map((t) => `  ${t.name.padEnd(14)}${t.description}`)
        .join("\n")}\n`,
  )
  .action(
    action(async (dir: string, opts: { template: string }) => {
      const target = initAgent(dir, opts.template);
      const agents = agentsIn(target).map((a) => {
        const path = relative(process.cwd(), a.dir) || ".";
        const shown = path.startsWith(".") || isAbsolute(path) ? path : `./${path}`;
        return { name: a.name, dir: shown, deploy: `npx veil deploy ${shown} --name ${a.name}` };
      });
      const readme = existsSync(join(target, "README.md"))
        ? join(relative(process.cwd(), target) || ".", "README.md")
        : undefined;
      out(
        [
          `Created ${target} from the "${opts.template}" template.`,
          `Deploy ${agents.length > 1 ? "them" : "it"} with:`,
          ...agents.map((a) => `  ${a.deploy}`),
          ...(readme ? [`Then see ${readme}.`] : []),
        ],
        { dir: target, template: opts.template, agents, ...(readme ? { readme } : {}) },
      );
    }),
  );

program
  .command("dev")
  .description(
    "serve an agent locally with the same sandbox, globals and limits as a worker; reload on change",
  )
  .argument("<dir>", "the agent's project directory")
  .option("--port <port>", "port", parsePort, 8788)
  .option("--host <host>", "interface", "127.0.0.1")
  .option("--allow-host <host...>", "hosts the agent may fetch (default: any public host)")
  .option(
    "--env <file>",
    "NAME=value lines the agent gets as env.NAME, as deployed secrets (repeatable; .dev.vars in DIR is read first)",
    (v: string, prev: string[] = []) => [...prev, v],
  )
  .action(
    action(
      async (dir: string, opts: { port: number; host: string; allowHost?: string[]; env?: string[] }) => {
        const { startDevServer } = await import("../sdk/dev-server.ts");
        const { readDevVars } = await import("../sdk/dev-vars.ts");
        // Read once now so that a bad file fails at start, then again on every reload.
        readDevVars(dir, opts.env);
        const { basename, resolve } = await import("node:path");
        const name =
          basename(resolve(dir))
            .toLowerCase()
            .replace(/[^a-z0-9-]/g, "-") || "agent";
        const server = await startDevServer({
          dir,
          port: opts.port,
          host: opts.host,
          name,
          ...(opts.allowHost ? { allowHosts: opts.allowHost } : {}),
          env: () => readDevVars(dir, opts.env),
          onEvent: progress,
        });
        out([`Serving ${resolve(dir)} at ${server.url} (reloads on change; Ctrl-C to stop)`], {
          dir: resolve(dir),
          url: server.url,
        });
      },
    ),
  );

program
  .command("build")
  .description("build an agent into its bundle and print its content hash (nothing is deployed)")
  .argument("<dir>", "the agent's project directory")
  .option("--out <file>", "write the bundle to this file")
  .action(
    action(async (dir: string, opts: { out?: string }) => {
      const { buildAgent } = await import("../sdk/build.ts");
      const built = await buildAgent(dir);
      if (opts.out) (await import("node:fs")).writeFileSync(opts.out, built.bytes);
      out([`${built.hash}  ${built.bytes.byteLength} bytes  ${built.entry}`], {
        hash: built.hash,
        bytes: built.bytes.byteLength,
        entry: built.entry,
        ...(opts.out ? { out: opts.out } : {}),
      });
    }),
  );

program
  .command("deploy")
  .description("build an agent, store its bundle, register it on chain, and wait until a worker serves it")
  .argument("<dir>", "the agent's project directory")
  .requiredOption(
    "--name <name>",
    "the agent's name (1–64 of a–z, 0–9, '-'); a name you own gets a new version",
  )
  .addOption(networkOption())
  .addOption(fromOption())
  .addOption(keyOption())
  .option("--timeout <seconds>", "how long to wait for a worker to serve it", "60")
  .option("--memory-mb <n>", "heap limit (0: the network default)", parseLimit)
  .option("--cpu-ms <n>", "CPU time per request", parseLimit)
  .option("--wall-ms <n>", "wall time per request", parseLimit)
  .option("--max-request-bytes <n>", "largest request body", parseLimit)
  .option("--max-response-bytes <n>", "largest response body", parseLimit)
  .option("--concurrency <n>", "requests in flight at once", parseLimit)
  .option("--state-bytes <n>", "ctx.state quota", parseLimit)
  .option("--egress <hosts>", 'hosts the agent may fetch, comma-separated ("*" any public host)')
  .action(
    action(
      async (
        dir: string,
        opts: {
          name: string;
          network?: string;
          privateKey?: string;
          timeout: string;
          memoryMb?: number;
          cpuMs?: number;
          wallMs?: number;
          maxRequestBytes?: number;
          maxResponseBytes?: number;
          concurrency?: number;
          stateBytes?: number;
          egress?: string;
        },
      ) => {
        const started = Date.now();
        const network = loadNetwork(opts.network);
        const veil = await client(network, signingKey(network, opts));
        const limits = Object.fromEntries(
          Object.entries({
            memoryMb: opts.memoryMb,
            cpuTimeMs: opts.cpuMs,
            wallTimeMs: opts.wallMs,
            maxRequestBytes: opts.maxRequestBytes,
            maxResponseBytes: opts.maxResponseBytes,
            maxConcurrent: opts.concurrency,
            maxStateBytes: opts.stateBytes,
            egressHosts: opts.egress,
          }).filter(([, v]) => v !== undefined),
        );
        const result = await veil.deploy(dir, opts.name, {
          onProgress: progress,
          timeoutMs: Number(opts.timeout) * 1000,
          ...(Object.keys(limits).length > 0 ? { limits } : {}),
        });
        out(
          [
            `${result.upgraded ? "Upgraded" : "Deployed"} ${result.name} (agent #${result.id}, version ${result.version})`,
            `  code hash  ${result.codeHash} (${result.bundleBytes} bytes)`,
            `  tx         ${result.txHash}`,
            `  served by  ${result.servedBy.join(", ")}`,
            `  took       ${((Date.now() - started) / 1000).toFixed(2)}s`,
            `Invoke it:   npx veil invoke ${result.name} --path /`,
          ],
          { ...result, seconds: (Date.now() - started) / 1000 },
        );
      },
    ),
  );

program
  .command("invoke")
  .description("call an agent through the gateway and print its response body")
  .argument("<agent>", "the agent's name or id")
  .option("--path <path>", "the path to request", "/")
  .option("-X, --method <method>", "HTTP method (default: POST with --data, else GET)")
  .option("-d, --data <body>", "request body; @file reads it from a file")
  .option("-H, --header <header...>", "extra headers, as 'Name: value'")
  .option("-i, --include", "print the status and headers before the body")
  .option(
    "--encrypt",
    "encrypt the request to the agent's certified key; the answer comes back encrypted to a one-time key",
  )
  .option("--no-verify", "do not check the response's signed receipt (checked by default)")
  .option(
    "--as <caller>",
    "sign the request as this caller (a dev account's role, env:VAR holding a key, or 0x-hex): needed by agents with an allowlist, token gate, quota or price",
  )
  .option(
    "--max-price <veil>",
    "the most this call may cost, in VEIL (default with --as: the price the chain shows now, which is printed)",
  )
  .addOption(networkOption())
  .action(
    action(
      async (
        agent: string,
        opts: {
          as?: string;
          path: string;
          method?: string;
          data?: string;
          header?: string[];
          include?: boolean;
          network?: string;
          encrypt?: boolean;
          verify: boolean;
          maxPrice?: string;
        },
      ) => {
        const network = loadNetwork(opts.network);
        const veil = await client(network);
        // A paying caller sees the price before anything is signed, and never pays more than it
        // saw (or allowed with --max-price), whatever the owner does meanwhile (ADR 0020).
        let maxPrice = opts.maxPrice === undefined ? undefined : await amount(opts.maxPrice, "--max-price");
        if (opts.as) {
          const { formatUnits } = await import("viem");
          const price = await veil.priceOf(agent);
          if (price.price > 0n && !price.sponsored) {
            progress(
              `${agent} costs ${formatUnits(price.price, 18)} VEIL a call, paid from your FeeEscrow prepayment${maxPrice === undefined ? "" : ` (at most ${formatUnits(maxPrice, 18)} VEIL)`}`,
            );
          }
          if (price.pending && !price.sponsored) {
            progress(
              `its owner raised the price: ${formatUnits(price.pending.price, 18)} VEIL a call from ${new Date(price.pending.at * 1000).toISOString()}`,
            );
          }
          maxPrice ??= price.price;
        }
        const headers: Record<string, string> = {};
        for (const h of opts.header ?? []) {
          const i = h.indexOf(":");
          if (i <= 0)
            throw new VeilError("BAD_ARGUMENT", `Header "${h}" is not of the form 'Name: value'`, {});
          headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
        }
        let body: string | Uint8Array | undefined;
        if (opts.data !== undefined) {
          body = opts.data.startsWith("@") ? readFileSync(opts.data.slice(1)) : opts.data;
          if (!headers["content-type"]) {
            let isJson = true;
            try {
              JSON.parse(typeof body === "string" ? body : new TextDecoder().decode(body));
            } catch {
              isJson = false;
            }
            headers["content-type"] = isJson ? "application/json" : "application/octet-stream";
          }
        }
        const answer = await veil.invokeStream(agent, {
          path: opts.path,
          ...(opts.method ? { method: opts.method.toUpperCase() } : {}),
          headers,
          ...(body === undefined ? {} : { body }),
          encrypt: Boolean(opts.encrypt),
          verify: opts.verify,
          ...(opts.as ? { as: resolveKey(network, opts.as) } : {}),
          ...(maxPrice === undefined ? {} : { maxPrice }),
        });
        const printHead = (extra: Record<string, string> = {}) => {
          if (!opts.include) return;
          process.stdout.write(`HTTP ${answer.status}\n`);
          for (const [k, v] of Object.entries({ ...answer.headers, ...extra }))
            process.stdout.write(`${k}: ${v}\n`);
          process.stdout.write("\n");
        };
        const report = (end: InvokeEnd) => {
          if (end.verified) {
            progress(
              `receipt verified: agent key certified on chain, code ${end.verified.codeHash.slice(0, 18)}…, worker ${end.verified.worker}${opts.encrypt ? ", end-to-end encrypted" : ""}`,
            );
          }
          if (end.usage) {
            const u = end.usage;
            progress(
              `usage (metered by worker ${u.worker}, signed with the receipt): CPU ${(u.cpuUs / 1000).toFixed(2)} ms, wall ${(u.wallUs / 1000).toFixed(2)} ms, heap ${(u.heapBytes / 1048576).toFixed(1)} MiB, egress ${u.egressBytes} B, state ${u.stateBytes} B${u.llmPromptTokens + u.llmCompletionTokens > 0 ? `, LLM tokens ${u.llmPromptTokens} in / ${u.llmCompletionTokens} out` : ""}`,
            );
          }
          if (end.llmReceipts.length > 0) {
            progress(
              `${end.llmReceipts.length} LLM call receipt(s) verified: ${end.llmReceipts.map((r) => `${r.provider}/${r.model}`).join(", ")}`,
            );
          }
        };
        if (jsonOutput()) {
          // Scripts get the whole answer and what was checked about it in one object.
          const parts: Uint8Array[] = [];
          for await (const chunk of answer.body) parts.push(chunk);
          const end = await answer.done();
          const bytes = Buffer.concat(parts);
          let text: string | undefined;
          try {
            text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
          } catch {}
          out([], {
            status: answer.status,
            headers: { ...answer.headers, ...end.trailers },
            ...(text === undefined ? { bodyBase64: bytes.toString("base64") } : { body: text }),
            streamed: answer.streamed,
            verified: end.verified ?? null,
            usage: end.usage ?? null,
            llmReceipts: end.llmReceipts,
          });
          if (answer.status >= 400) process.exitCode = 1;
          return;
        }
        let last = 10;
        if (answer.streamed) {
          // Printed as it arrives; the receipts cover the whole body and are checked at its end.
          printHead();
          for await (const chunk of answer.body) {
            process.stdout.write(chunk);
            if (chunk.length > 0) last = chunk[chunk.length - 1]!;
          }
          report(await answer.done());
        } else {
          const parts: Uint8Array[] = [];
          for await (const chunk of answer.body) parts.push(chunk);
          const end = await answer.done();
          report(end);
          printHead(end.trailers);
          const bytes = Buffer.concat(parts);
          process.stdout.write(bytes);
          if (bytes.length > 0) last = bytes[bytes.length - 1]!;
        }
        if (last !== 10 && process.stdout.isTTY) process.stdout.write("\n");
        const result = { status: answer.status };
        if (result.status >= 400) {
          progress(`the agent answered HTTP ${result.status}`);
          process.exitCode = 1;
        }
      },
    ),
  );

program
  .command("inspect")
  .description("show an agent: id, owner, code hash, versions, and which workers serve it")
  .argument("<agent>", "the agent's name or id")
  .option("--json", "print JSON")
  .addOption(networkOption())
  .action(
    action(async (agent: string, opts: { json?: boolean; network?: string }) => {
      const veil = await client(loadNetwork(opts.network));
      const info = await veil.inspect(agent);
      const identity = await veil.identity(agent).catch((err: unknown) => err as VeilError);
      const { effective: limits } = await veil.limits(agent);
      const chain = await veil.chain();
      const policy = await chain.getAgentPolicy(BigInt(info.id));
      const { agentAccessName } = await import("../sdk/contracts/registries.ts");
      const { formatUnits } = await import("viem");
      const access = agentAccessName(policy.access);
      const policyJson = {
        paused: policy.paused,
        access,
        ...(access === "tokenHolders"
          ? { token: policy.token, minBalance: policy.minBalance.toString() }
          : {}),
        price: formatUnits(policy.price, 18),
        quota: policy.quotaCalls ? { calls: policy.quotaCalls, periodSeconds: policy.quotaPeriod } : null,
        spendingCap: formatUnits(policy.spendingCap, 18),
      };
      if (opts.json) {
        const keys =
          identity instanceof Error
            ? { error: identity.message }
            : {
                address: identity.address,
                encryptionKey: identity.encryptionKey,
                epoch: identity.epoch.toString(),
                checks: identity.checks,
              };
        out([], { ...info, keys, limits, policy: policyJson });
        return;
      }
      out([
        `${info.name} (agent #${info.id})`,
        `  owner     ${info.owner}`,
        `  code      ${info.codeHash} (version ${info.currentVersion} of ${info.versionCount})`,
        `  status    ${policy.paused ? "PAUSED" : "running"}; access ${access}${access === "tokenHolders" ? ` (≥ ${formatUnits(policy.minBalance, 18)} of ${policy.token})` : ""}`,
        `  price     ${policyJson.price} VEIL per call${policy.spendingCap > 0n ? `, sponsored by the owner up to ${policyJson.spendingCap} VEIL per period` : ""}; quota ${policy.quotaCalls ? `${policy.quotaCalls} calls per caller per ${policy.quotaPeriod} s (counted at each caller's home worker)` : "none"}`,
        identity instanceof Error
          ? `  keys      ${identity.message.split("\n")[0]}`
          : `  address   ${identity.address} (keys certified up to the epoch ${identity.epoch} master key on chain)`,
        ...info.workers.map((w) => `  worker    ${w.address} ${w.url} ${w.status}`),
        `  limits    memory ${limits.memoryMb} MiB, CPU ${limits.cpuTimeMs} ms, wall ${limits.wallTimeMs} ms, ` +
          `${limits.maxConcurrent} concurrent`,
        `            request ≤ ${limits.maxRequestBytes} B, response ≤ ${limits.maxResponseBytes} B, ` +
          `state ≤ ${limits.maxStateBytes} B, egress ${limits.egressHosts.join(", ")}`,
      ]);
    }),
  );

program
  .command("logs")
  .description(
    "print an agent's console output and errors (sealed to its owner; only the owner can read them)",
  )
  .argument("<agent>", "the agent's name or id")
  .option("-f, --follow", "keep printing new lines as they come")
  .option("--json", "one JSON object per line")
  .option(
    "--print-key",
    "print the owner's log key instead (it opens the logs and signs nothing: for the web console)",
  )
  .addOption(networkOption())
  .addOption(fromOption())
  .addOption(keyOption())
  .action(
    action(
      async (
        agent: string,
        opts: { follow?: boolean; json?: boolean; printKey?: boolean; network?: string; privateKey?: string },
      ) => {
        const network = loadNetwork(opts.network);
        const veil = await client(network, signingKey(network, opts));
        if (opts.printKey) {
          process.stdout.write(`${await veil.logKey(agent)}\n`);
          return;
        }
        const print = (lines: Awaited<ReturnType<VeilClientType["logs"]>>["lines"]) => {
          for (const l of lines) {
            process.stdout.write(
              opts.json
                ? `${JSON.stringify(l)}\n`
                : `${new Date(l.at).toISOString()} ${l.level.padEnd(5)} ${l.message}\n`,
            );
          }
        };
        let { lines, cursor } = await veil.logs(agent);
        print(lines);
        if (lines.length === 0 && !opts.json) {
          // Silence would read as "broken"; say what there is and what to do.
          progress(
            `no log lines for ${agent} yet: what it prints (console.*) and the errors it throws appear here, sealed to its owner${opts.follow ? "; waiting for new lines…" : " (--follow waits for them)"}`,
          );
        }
        while (opts.follow) {
          await new Promise((r) => setTimeout(r, 1_000));
          ({ lines, cursor } = await veil.logs(agent, cursor));
          print(lines);
        }
      },
    ),
  );

const secrets = program
  .command("secrets")
  .description("an agent's secrets: set, unset, list (values can never be read back)");

secrets
  .command("set")
  .description("encrypt KEY=VALUE pairs on this machine to the agent's certified key and store them")
  .argument("<agent>", "the agent's name or id")
  .argument("<pairs...>", "KEY=VALUE (names: A–Z, a–z, 0–9, _)")
  .addOption(networkOption())
  .addOption(fromOption())
  .addOption(keyOption())
  .action(
    action(async (agent: string, pairs: string[], opts: { network?: string; privateKey?: string }) => {
      const entries: Record<string, string> = {};
      for (const pair of pairs) {
        const eq = pair.indexOf("=");
        if (eq <= 0)
          throw new VeilError("BAD_ARGUMENT", `"${pair.split("=")[0]}" is not of the form KEY=VALUE`, {});
        entries[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      const network = loadNetwork(opts.network);
      const veil = await client(network, signingKey(network, opts));
      const identity = await veil.identity(agent);
      for (const check of identity.checks) progress(`✔ ${check}`);
      await veil.setSecrets(agent, entries, progress);
      out([`Set ${Object.keys(entries).join(", ")} on ${agent}; workers restart it with the new env.`], {
        agent,
        set: Object.keys(entries),
      });
    }),
  );

secrets
  .command("unset")
  .description("remove one secret")
  .argument("<agent>", "the agent's name or id")
  .argument("<key>", "the secret's name")
  .addOption(networkOption())
  .addOption(fromOption())
  .addOption(keyOption())
  .addOption(yesOption())
  .action(
    action(async (agent: string, key: string, opts: SignerFlags & { network?: string; yes?: boolean }) => {
      const network = loadNetwork(opts.network);
      const veil = await client(network, signingKey(network, opts));
      await confirm(
        opts.yes,
        `Unsetting ${key} on ${agent}`,
        "its value is gone for good; set it again to restore it",
      );
      await veil.unsetSecret(agent, key);
      out([`Unset ${key} on ${agent}.`], { agent, unset: key });
    }),
  );

secrets
  .command("list")
  .description("the names of the agent's secrets (never their values)")
  .argument("<agent>", "the agent's name or id")
  .addOption(networkOption())
  .action(
    action(async (agent: string, opts: { network?: string }) => {
      const names = await (await client(loadNetwork(opts.network))).listSecrets(agent);
      out(names.length ? [...names] : ["(no secrets)"], { agent, names });
    }),
  );

program
  .command("network")
  .description("print the network file in use")
  .addOption(networkOption())
  .action(
    action(async (opts: { network?: string }) => {
      // The file is JSON already: --json prints it as it is.
      loadNetwork(opts.network);
      process.stdout.write(readFileSync(networkPath(opts.network), "utf8"));
    }),
  );

program
  .command("verify")
  .description(
    "verify an agent in one step (workers' quotes, policy, code hash, key certificates), or a bare DCAP quote; exit 0 only on a pass",
  )
  .argument("[name]", "the agent's name or id")
  .addOption(networkOption())
  .option("--quote <file>", "verify this bare quote instead (binary, or hex text)")
  .option("--collateral <file>", "the quote's collateral (JSON as a PCCS serves it)")
  .option("--at <time>", "verify as of this time (ISO 8601 or unix seconds); default now")
  .option(
    "--report-data <hex>",
    "with --quote: require the quote's report data to be exactly this (zero-padded to 64 bytes)",
  )
  .option("--require-hardware", "fail workers on the simulated (INSECURE) backend")
  .option(
    "--source <dir>",
    "rebuild the agent from this project directory: its hash must be the code on chain",
  )
  .option("--json", "print the result as JSON")
  .action(
    action(
      async (
        name: string | undefined,
        opts: {
          network?: string;
          quote?: string;
          collateral?: string;
          at?: string;
          reportData?: string;
          requireHardware?: boolean;
          source?: string;
          json?: boolean;
        },
      ) => {
        const { parseTime, readQuoteFile, runQuoteVerification } = await import("./verify.ts");
        if (name !== undefined) {
          if (opts.quote || opts.collateral) {
            throw new VeilError("BAD_ARGUMENT", "Give an agent name or --quote/--collateral, not both", {
              hint: "`veil verify NAME` or `veil verify --quote FILE --collateral FILE`.",
            });
          }
          const { VeilClient } = await import("../sdk/client.ts");
          const { formatAgentVerdict } = await import("../sdk/verify-agent.ts");
          const client = new VeilClient(loadNetwork(opts.network));
          const verdict = await client.verify(name, {
            ...(opts.at ? { now: parseTime(opts.at) } : {}),
            ...(opts.requireHardware ? { requireHardware: true } : {}),
            ...(opts.source !== undefined ? { source: opts.source } : {}),
          });
          process.stdout.write(
            opts.json ? `${toJson(verdict)}\n` : `${formatAgentVerdict(verdict).join("\n")}\n`,
          );
          if (!verdict.pass) process.exitCode = 1;
          return;
        }
        if (opts.source !== undefined) {
          throw new VeilError("BAD_ARGUMENT", "--source needs the agent's name", {
            hint: "`veil verify NAME --source DIR`.",
          });
        }
        if (!opts.quote || !opts.collateral) {
          throw new VeilError("BAD_ARGUMENT", "Nothing to verify", {
            hint: "`veil verify NAME` checks an agent; `veil verify --quote FILE --collateral FILE` checks a bare quote.",
          });
        }
        const outcome = runQuoteVerification({
          quote: readQuoteFile(opts.quote),
          collateralText: readFileSync(opts.collateral, "utf8"),
          ...(opts.at ? { at: opts.at } : {}),
          ...(opts.reportData ? { reportData: opts.reportData } : {}),
        });
        process.stdout.write(
          opts.json ? `${JSON.stringify(outcome, null, 2)}\n` : `${outcome.lines.join("\n")}\n`,
        );
        if (!outcome.pass) process.exitCode = 1;
      },
    ),
  );

// ── daemons (what `veil up` starts; run them yourself to spread a network over machines) ──

program
  .command("chain")
  .description("run the embedded EVM chain (JSON-RPC over HTTP and WebSocket)")
  .option("--port <port>", "port", parsePort, 8545)
  .option("--host <host>", "interface", "127.0.0.1")
  .option(
    "--data <dir>",
    "keep the chain in this directory (a journal replayed at start); without it, the chain lives in memory",
  )
  .action(
    action(async (opts: { port: number; host: string; data?: string }) => {
      const { startEmbeddedChain } = await import("../chain/embedded.ts");
      const { announceReady } = await import("../daemon/http.ts");
      const chain = await startEmbeddedChain({
        port: opts.port,
        host: opts.host,
        ...(opts.data ? { dataDir: opts.data } : {}),
        onProgress: progress,
      });
      if (chain.resumed && chain.resumed.entries > 0) {
        progress(
          `resumed the chain from ${opts.data}: block ${chain.resumed.block}, ${chain.resumed.entries} journal entries replayed in ${(chain.resumed.ms / 1000).toFixed(1)}s`,
        );
      }
      console.error(`embedded chain listening on ${chain.url}`);
      announceReady({
        role: "chain",
        url: chain.url,
        chainId: chain.chainId,
        ...(chain.resumed ? { block: chain.resumed.block } : {}),
      });
      const stop = async () => {
        await chain.close();
        process.exit(0);
      };
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    }),
  );

program
  .command("gatekeeper")
  .description("run a gatekeeper (key management) daemon")
  .addOption(networkOption())
  .requiredOption("--data <dir>", "data directory (sealed keys)")
  .option("--port <port>", "port", parsePort, 8547)
  .option("--host <host>", "interface", "127.0.0.1")
  .option("--cluster-id <id>", "cluster whose key it provisions", "default")
  .option(
    "--join <gateway-url>",
    "join the network of this gateway from another host (fetches its network file into DATA/network.json)",
  )
  .option("--rpc <url>", "with --join: the chain's JSON-RPC as this host reaches it")
  .addOption(teeOption())
  .option("--pccs-url <url>", "where hardware backends fetch collateral (default Intel's PCS)")
  .option("--configfs-tsm <dir>", "the configfs-tsm report directory (tdx)")
  .option("--dstack-endpoint <path|url>", "the dstack guest agent's socket or URL (dstack)")
  .action(
    action(
      async (
        opts: {
          network?: string;
          data: string;
          port: number;
          host: string;
          clusterId: string;
          join?: string;
          rpc?: string;
        } & TeeFlags,
      ) => {
        if (opts.join && opts.network)
          throw new VeilError("BAD_ARGUMENT", "--join and --network both name the network", {
            hint: "Give one: --join GATEWAY_URL on another host, --network FILE on the network's own.",
          });
        if (opts.rpc && !opts.join)
          throw new VeilError("BAD_ARGUMENT", "--rpc goes with --join", {
            hint: "On the network's own host the network file says where the chain is.",
          });
        const network = opts.join
          ? await (await import("../network/join.ts")).joinNetwork(opts.join, opts.data, {
              ...(opts.rpc ? { rpc: opts.rpc } : {}),
            })
          : networkPath(opts.network);
        const { runGatekeeper } = await import("../gatekeeper/main.ts");
        await runGatekeeper({
          network,
          dataDir: opts.data,
          port: opts.port,
          host: opts.host,
          clusterId: opts.clusterId,
          enclave: enclaveChoice(opts),
        });
      },
    ),
  );

program
  .command("worker")
  .description("run a worker (pRuntime) daemon")
  .addOption(networkOption())
  .requiredOption("--data <dir>", "data directory (sealed identity)")
  .requiredOption("--operator-key <hex>", "the operator account that registers this worker")
  .option(
    "--join <gateway-url>",
    "join the network of this gateway from another host (fetches its network file into DATA/network.json)",
  )
  .option("--rpc <url>", "with --join: the chain's JSON-RPC as this host reaches it")
  .option("--port <port>", "port", parsePort, 8555)
  .option("--host <host>", "interface", "127.0.0.1")
  .option("--public-url <url>", "URL announced on chain (default http://HOST:PORT)")
  .option("--max-request-bytes <n>", "largest request body", "1048576")
  .addOption(
    new Option(
      "--state <file|url>",
      "where agents' state, request nonces and logs live, shared with the other workers: a SQLite file (default DATA/state.sqlite) or postgres://USER:PASSWORD@HOST:PORT/DB",
    ).env("VEIL_STATE"),
  )
  .option("--fee-batch <n>", "most fee channels per FeeEscrow claim", parsePositive, 200)
  .option("--fee-claim-calls <n>", "claim fees once this many paid calls are pending", parsePositive, 100)
  .option("--fee-interval <seconds>", "…or once any has been pending this long", parsePositive, 300)
  .addOption(teeOption())
  .option("--pccs-url <url>", "where hardware backends fetch collateral (default Intel's PCS)")
  .option("--configfs-tsm <dir>", "the configfs-tsm report directory (tdx)")
  .option("--dstack-endpoint <path|url>", "the dstack guest agent's socket or URL (dstack)")
  .option(
    "--gateway-port <port>",
    "also serve the network's gateway from this process, on PORT (docs/adr/0016)",
    parsePort,
  )
  .option("--gateway-rate-limit <perSecond>", "with --gateway-port: as `veil gateway --rate-limit`", "1000")
  .option("--gateway-rate-burst <n>", "with --gateway-port: as `veil gateway --rate-burst`")
  .option("--gateway-trust-forwarded-for", "with --gateway-port: as `veil gateway --trust-forwarded-for`")
  .option("--gateway-link-key <file>", "with --gateway-port: as `veil gateway --link-key`")
  .option(
    "--allow-private-egress <host[:port]>",
    "let agents reach this private, loopback or link-local destination (if they list it too); repeatable; none by default",
    collectHostPort,
  )
  .option(
    "--link-peer <address>",
    "a gateway (its link-key address) that may open the gateway link to this worker; repeatable (the network file's gateway is always one)",
    collectAddress,
  )
  .action(
    action(
      async (
        opts: {
          network?: string;
          data: string;
          operatorKey: Hex;
          port: number;
          host: string;
          publicUrl?: string;
          maxRequestBytes: string;
          state?: string;
          join?: string;
          rpc?: string;
          feeBatch: number;
          feeClaimCalls: number;
          feeInterval: number;
          gatewayPort?: number;
          gatewayRateLimit: string;
          gatewayRateBurst?: string;
          gatewayTrustForwardedFor?: boolean;
          gatewayLinkKey?: string;
          linkPeer?: string[];
          allowPrivateEgress?: string[];
        } & TeeFlags,
      ) => {
        // Checked before anything starts: a bad flag is not found after registering on chain.
        const rateLimit = parseRateLimit(opts.gatewayRateLimit, opts.gatewayRateBurst, "--gateway-");
        const { runWorker } = await import("../worker/main.ts");
        const { VeilClient } = await import("../sdk/client.ts");
        if (opts.join && opts.network)
          throw new VeilError("BAD_ARGUMENT", "--join and --network both name the network", {
            hint: "Give one: --join GATEWAY_URL on another host, --network FILE on the network's own.",
          });
        if (opts.rpc && !opts.join)
          throw new VeilError("BAD_ARGUMENT", "--rpc goes with --join", {
            hint: "On the network's own host the chain is in its network file.",
          });
        const networkFile = opts.join
          ? await (await import("../network/join.ts")).joinNetwork(opts.join, opts.data, {
              ...(opts.rpc ? { rpc: opts.rpc } : {}),
            })
          : networkPath(opts.network);
        const worker = await runWorker({
          network: networkFile,
          dataDir: opts.data,
          port: opts.port,
          host: opts.host,
          operatorKey: opts.operatorKey,
          ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : {}),
          maxRequestBytes: Number(opts.maxRequestBytes),
          enclave: enclaveChoice(opts),
          ...(opts.state ? { state: opts.state } : {}),
          fees: {
            batchSize: opts.feeBatch,
            claimAtCalls: opts.feeClaimCalls,
            intervalMs: opts.feeInterval * 1000,
          },
          ...(opts.linkPeer ? { linkPeers: opts.linkPeer } : {}),
          ...(opts.allowPrivateEgress ? { allowPrivateEgress: opts.allowPrivateEgress } : {}),
          // Agents call other agents as any client of the network does: through the SDK.
          callClient: (n) => new VeilClient(n),
        });
        let gateway: string | undefined;
        if (opts.gatewayPort !== undefined) {
          const { startGateway } = await import("../gateway/main.ts");
          ({ url: gateway } = await startGateway(
            {
              network: networkFile,
              port: opts.gatewayPort,
              host: opts.host,
              maxRequestBytes: Number(opts.maxRequestBytes),
              rateLimit,
              trustForwardedFor: opts.gatewayTrustForwardedFor === true,
              ...(opts.gatewayLinkKey ? { linkKeyFile: opts.gatewayLinkKey } : {}),
              ...(opts.state ? { state: opts.state } : {}),
            },
            { address: worker.ready.address, listener: worker.listener },
          ));
        }
        const { announceReady } = await import("../daemon/http.ts");
        announceReady({ ...worker.ready, ...(gateway ? { gateway } : {}) });
      },
    ),
  );

program
  .command("gateway")
  .description("run the gateway")
  .addOption(networkOption())
  .option("--port <port>", "port", parsePort, 8546)
  .option("--host <host>", "interface", "127.0.0.1")
  .option("--max-request-bytes <n>", "largest request body", "1048576")
  .option(
    "--rate-limit <perSecond>",
    "requests per second one caller (client address) may sustain; 0 = off",
    "1000",
  )
  .option("--rate-burst <n>", "requests one caller may make at once (default: 2 × --rate-limit)")
  .option(
    "--trust-forwarded-for",
    "take the caller's address from x-forwarded-for (only behind a proxy that sets it)",
  )
  .option("--data <dir>", "with --join: where this gateway keeps the network file, its link key and bundles")
  .option(
    "--join <gateway-url>",
    "run a second gateway of the network of this gateway, from another host (fetches its network file into DATA/network.json)",
  )
  .option("--rpc <url>", "with --join: the chain's JSON-RPC as this host reaches it")
  .addOption(
    new Option(
      "--state <url>",
      "the network's PostgreSQL (postgres://USER:PASSWORD@HOST:PORT/DB): callers' rate limits are shared with its other gateways",
    ).env("VEIL_STATE"),
  )
  .option(
    "--link-key <file>",
    "the key that signs this gateway's links to workers, made there on first use (default: gateway-link.key beside the network file); workers list its address with --link-peer",
  )
  .action(
    action(
      async (opts: {
        network?: string;
        port: number;
        host: string;
        maxRequestBytes: string;
        rateLimit: string;
        rateBurst?: string;
        trustForwardedFor?: boolean;
        linkKey?: string;
        data?: string;
        join?: string;
        rpc?: string;
        state?: string;
      }) => {
        const rateLimit = parseRateLimit(opts.rateLimit, opts.rateBurst, "--");
        if (opts.join && opts.network)
          throw new VeilError("BAD_ARGUMENT", "--join and --network both name the network", {
            hint: "Give one: --join GATEWAY_URL on another host, --network FILE on the network's own.",
          });
        if ((opts.rpc || opts.data) && !opts.join)
          throw new VeilError("BAD_ARGUMENT", "--rpc and --data go with --join", {
            hint: "On the network's own host the network file says where the chain is.",
          });
        if (opts.join && !opts.data)
          throw new VeilError("BAD_ARGUMENT", "--join needs --data DIR", {
            hint: "Give the directory where this gateway keeps the network file, its link key and bundles.",
          });
        const network =
          opts.join && opts.data
            ? await (await import("../network/join.ts")).joinNetwork(opts.join, opts.data, {
                ...(opts.rpc ? { rpc: opts.rpc } : {}),
              })
            : networkPath(opts.network);
        const { runGateway } = await import("../gateway/main.ts");
        await runGateway({
          network,
          port: opts.port,
          host: opts.host,
          maxRequestBytes: Number(opts.maxRequestBytes),
          rateLimit,
          trustForwardedFor: opts.trustForwardedFor === true,
          ...(opts.linkKey ? { linkKeyFile: opts.linkKey } : {}),
          ...(opts.state ? { state: opts.state } : {}),
        });
      },
    ),
  );

/** The gateway's per-caller limit from its flags (`prefix` "--" or "--gateway-"). */
function parseRateLimit(
  rateLimit: string,
  rateBurst: string | undefined,
  prefix: string,
): { perSecond: number; burst: number } {
  const perSecond = Number(rateLimit);
  const burst = rateBurst === undefined ? Math.max(1, 2 * perSecond) : Number(rateBurst);
  if (!Number.isFinite(perSecond) || perSecond < 0 || !Number.isInteger(burst) || burst < 1) {
    throw new VeilError(
      "BAD_ARGUMENT",
      `${prefix}rate-limit must be a number ≥ 0 and ${prefix}rate-burst an integer ≥ 1`,
      {
        hint: `For example: ${prefix}rate-limit 200 ${prefix}rate-burst 400, or ${prefix}rate-limit 0 to turn limiting off.`,
      },
    );
  }
  return { perSecond, burst };
}

type TeeFlags = { tee: string; pccsUrl?: string; configfsTsm?: string; dstackEndpoint?: string };

function teeOption(): Option {
  return new Option("--tee <backend>", "TEE backend (simulated is INSECURE, for development only)")
    .choices(["simulated", "tdx", "dstack"])
    .default("simulated");
}

function enclaveChoice(opts: TeeFlags) {
  return {
    tee: opts.tee,
    ...(opts.pccsUrl ? { pccsUrl: opts.pccsUrl } : {}),
    ...(opts.configfsTsm ? { configfsRoot: opts.configfsTsm } : {}),
    ...(opts.dstackEndpoint ? { dstackEndpoint: opts.dstackEndpoint } : {}),
  };
}

registerKeysCommand(program);
registerAgentCommands(program);
registerPoolCommands(program);
registerVaultCommands(program);
registerWorkerOps(program);
registerEscrowCommands(program);
registerGovCommands(program);
registerTriggersCommands(program, { networkOption, keyOption, loadNetwork, signingKey, action });
registerAuditCommand(program, { networkOption, keyOption, loadNetwork, signingKey, action });
registerDoctorCommand(program);
registerContractCommands(program);

program
  .command("commands")
  .description("every command with its options (for scripts and shell completion)")
  .option("--json", "as JSON: [{ command, description, options: [flags] }]")
  .action((opts: { json?: boolean }) => {
    const all = commandTree(program);
    process.stdout.write(
      opts.json
        ? `${JSON.stringify(all, null, 2)}\n`
        : all.map((c) => `${c.command.padEnd(28)} ${c.description}\n`).join(""),
    );
  });

program
  .command("completion")
  .description("print a shell completion script: veil completion bash|zsh|fish")
  .argument("<shell>", "bash, zsh or fish")
  .action(
    action(async (shell: string) => {
      process.stdout.write(completionScript(shell, commandTree(program)));
    }),
  );

const DAEMONS = ["chain", "gatekeeper", "worker", "gateway"];

// One grammar (issue 21): every command takes --json. A command that does not print JSON of its
// own says what it did through `out(lines, fields)`, printed as one object when it ends.
for (const command of leafCommands(program)) {
  if (command.name() === "completion") continue; // its output is a shell script
  if (!command.options.some((o) => o.long === "--json")) {
    command.addOption(new Option("--json", "print the result as one JSON object (amounts in base units)"));
  }
}
program.hook("preAction", async (_program, command) => {
  const json = command.opts().json === true;
  setJsonOutput(json);
  if (json && DAEMONS.includes(command.name())) (await import("../daemon/http.ts")).announceReadyAsJson();
});
program.hook("postAction", () => flushJson());

function leafCommands(parent: Command): Command[] {
  // `veil worker` is both the daemon and the parent of `worker start|stop|…`.
  return parent.commands.flatMap((c) =>
    c.commands.length ? [...(DAEMONS.includes(c.name()) ? [c] : []), ...leafCommands(c)] : [c],
  );
}

program.parseAsync(process.argv).catch(fail);
