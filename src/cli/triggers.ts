import type { Command, Option } from "commander";
import type { Hex } from "viem";
import { VeilError } from "../errors/index.ts";
import type { loadNetwork } from "../network/config.ts";
import { out, progress } from "./output.ts";
import { fromOption, type SignerFlags } from "./signer.ts";

type Network = ReturnType<typeof loadNetwork>;

/** What main.ts lends this file: its shared options and helpers. */
export type TriggersCliDeps = {
  networkOption: () => Option;
  keyOption: () => Option;
  loadNetwork: (path?: string) => Network;
  signingKey: (network: Network, flags: SignerFlags) => Hex;
  action: <A extends unknown[]>(fn: (...args: A) => Promise<void>) => (...args: A) => Promise<void>;
};

const STATUS = ["none", "pending", "answered", "refunded"];

async function triggersFor(network: Network, key?: Hex) {
  const { VeilChain } = await import("../sdk/contracts/registries.ts");
  const { TriggersClient } = await import("../sdk/contracts/triggers.ts");
  const chain = new VeilChain(network.chain, key ? { account: key } : {});
  return { chain, triggers: new TriggersClient(chain) };
}

async function agentId(
  chain: { agentIdOf(name: string): Promise<bigint> },
  nameOrId: string,
): Promise<bigint> {
  if (/^\d+$/.test(nameOrId)) return BigInt(nameOrId);
  const id = await chain.agentIdOf(nameOrId);
  if (id === 0n) {
    throw new VeilError("AGENT_NOT_FOUND", `There is no agent named "${nameOrId}"`, {
      hint: "Check the name with `veil inspect`.",
    });
  }
  return id;
}

/** `veil triggers …`: schedules and requests from contracts (contracts/triggers). */
export function registerTriggersCommands(program: Command, d: TriggersCliDeps): void {
  const triggers = program
    .command("triggers")
    .description("what starts an agent besides HTTP: cron schedules and requests from contracts");

  triggers
    .command("schedule")
    .description(
      'run the agent\'s scheduled(event, env, ctx) handler on a cron expression (5 fields, UTC), e.g. "*/5 * * * *"',
    )
    .argument("<agent>", "the agent's name or id")
    .argument("<cron>", "minute hour day-of-month month day-of-week")
    .option("--force", "schedule even when the running code has no scheduled handler (yet)")
    .addOption(d.networkOption())
    .addOption(fromOption())
    .addOption(d.keyOption())
    .action(
      d.action(
        async (agent: string, cron: string, opts: { network?: string; force?: boolean } & SignerFlags) => {
          const { parseCron } = await import("../sdk/contracts/triggers.ts");
          parseCron(cron); // refuse a bad expression before it costs a transaction
          const network = d.loadNetwork(opts.network);
          // A schedule for code without scheduled() would fail every tick: say so before sending.
          const { VeilClient } = await import("../sdk/client.ts");
          const handlers = await new VeilClient(network).handlersOf(agent);
          if (handlers === undefined)
            progress(`cannot read ${agent}'s bundle from this machine: not checking that it has scheduled()`);
          else if (!handlers.includes("scheduled") && !opts.force)
            throw new VeilError(
              "AGENT_NOT_SCHEDULABLE",
              `${agent}'s running code has no scheduled(event, env, ctx) handler (it has ${handlers.join(", ") || "none"})`,
              {
                hint: "Add scheduled(event, env, ctx) to its default export and deploy it, or pass --force to schedule first.",
              },
            );
          const { chain, triggers } = await triggersFor(network, d.signingKey(network, opts));
          await triggers.setSchedule(await agentId(chain, agent), cron);
          out([`${agent} runs on "${cron}" (UTC), on one worker per tick.`], { agent, schedule: cron });
        },
      ),
    );

  triggers
    .command("unschedule")
    .description("remove the agent's schedule")
    .argument("<agent>", "the agent's name or id")
    .addOption(d.networkOption())
    .addOption(fromOption())
    .addOption(d.keyOption())
    .action(
      d.action(async (agent: string, opts: { network?: string } & SignerFlags) => {
        const network = d.loadNetwork(opts.network);
        const { chain, triggers } = await triggersFor(network, d.signingKey(network, opts));
        await triggers.setSchedule(await agentId(chain, agent), "");
        out([`${agent} has no schedule now.`], { agent, schedule: null });
      }),
    );

  triggers
    .command("requests")
    .description("requests from contracts to the agent, with their status, and its schedule")
    .argument("<agent>", "the agent's name or id")
    .addOption(d.networkOption())
    .option("--json", "print JSON")
    .action(
      d.action(async (agent: string, opts: { network?: string; json?: boolean }) => {
        const { triggers, chain } = await triggersFor(d.loadNetwork(opts.network));
        const id = await agentId(chain, agent);
        const head = await chain.blockNumber();
        const events = await triggers.requestEvents(0n, head, id);
        const rows = await Promise.all(
          events.map(async (e) => ({
            ...e,
            status: STATUS[(await triggers.getRequest(e.id)).status] ?? "?",
          })),
        );
        const schedule = await triggers.scheduleOf(id);
        if (opts.json) {
          process.stdout.write(
            `${JSON.stringify({ agent: id.toString(), schedule, requests: rows }, (_, v) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`,
          );
          return;
        }
        const { formatUnits } = await import("viem");
        out([
          `schedule: ${schedule || "(none)"}`,
          ...(rows.length === 0 ? ["no requests"] : []),
          ...rows.map(
            (r) =>
              `#${r.id}  ${r.status.padEnd(8)}  from ${r.consumer}  block ${r.blockNumber}, deadline ${r.deadlineBlock}, fee ${formatUnits(r.fee, 18)} ETH`,
          ),
        ]);
      }),
    );
}
