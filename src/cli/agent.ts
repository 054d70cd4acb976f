import { type Command, Option } from "commander";
import type { Hex } from "viem";
import { VeilError } from "../errors/index.ts";
import { loadNetwork, type NetworkFile } from "../network/config.ts";
import type { VeilChain } from "../sdk/contracts/registries.ts";
import { confirm, fail, out, progress, yesOption } from "./output.ts";
import {
  addressSpec,
  fromOption,
  privateKeyOption,
  resolveKeySpec,
  resolveSigner,
  type SignerFlags,
} from "./signer.ts";

// `veil agent …`: the owner's controls over an agent on chain — access, price, quota, pause,
// versions and ownership. Every command prints each transaction's hash and what it changed.

/** VeilToken (and FeeEscrow amounts) use 18 decimals; amounts are typed in token units. */
const DECIMALS = 18;

const networkOption = () =>
  new Option("--network <file>", "network.json to use (default: $VEIL_NETWORK, then ./.veil/network.json)");
type Common = { network?: string } & SignerFlags;

/**
 * A caller or signer key named on the command line (`--as`): 0x-hex, `env:NAME`, or a dev
 * account by role or address (signer.ts).
 */
export function resolveKey(network: NetworkFile, spec: string | undefined): Hex {
  return spec === undefined ? resolveSigner(network, {}) : resolveKeySpec(network, spec);
}

async function ownerChain(opts: Common): Promise<{ chain: VeilChain; network: NetworkFile }> {
  const network = loadNetwork(opts.network);
  const { VeilChain } = await import("../sdk/contracts/registries.ts");
  await loadViem();
  return { chain: new VeilChain(network.chain, { account: resolveSigner(network, opts) }), network };
}

async function agentId(chain: VeilChain, nameOrId: string): Promise<bigint> {
  const id = /^\d+$/.test(nameOrId) ? BigInt(nameOrId) : await chain.agentIdOf(nameOrId);
  if (id === 0n) {
    throw new VeilError("AGENT_NOT_FOUND", `No agent named "${nameOrId}"`, {
      status: 404,
      hint: "Check the name with `veil inspect`.",
    });
  }
  await chain.getAgent(id); // AGENT_NOT_FOUND for an unknown id
  return id;
}

// viem loads on use (a second of start-up on a busy machine): `veil agent --help` does without.
let viem: typeof import("viem") | undefined;
async function loadViem(): Promise<typeof import("viem")> {
  viem ??= await import("viem");
  return viem;
}

export async function amount(value: string, what: string): Promise<bigint> {
  const { parseUnits } = await loadViem();
  try {
    const n = parseUnits(value, DECIMALS);
    if (n < 0n) throw new Error("negative");
    return n;
  } catch {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not an amount of tokens for ${what}`, {
      hint: `Give a number of tokens, e.g. 0.5 (up to ${DECIMALS} decimals).`,
    });
  }
}

function address(value: string): Hex {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not an address`, {
      hint: "Use 0x and 40 hex digits.",
    });
  }
  return value as Hex;
}

/** An amount for people: "0.01 VEIL" (viem is loaded by then: every command reads the chain first). */
const tokens = (n: bigint) => `${(viem as typeof import("viem")).formatUnits(n, DECIMALS)} VEIL`;

/** A transaction sent: what it did and its hash (under --json, both in `transactions`). */
function sent(hash: Hex, result: string): void {
  out([result, `  tx ${hash}`], { transactions: [{ hash, did: result }] });
}

function run<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      fail(err);
    }
  };
}

/** Registers `veil agent …` on the program. */
export function registerAgentCommands(program: Command): void {
  const agent = program
    .command("agent")
    .description("an agent owner's controls on chain: access, price, pause, versions, ownership");

  agent
    .command("acl")
    .description("set who may call the agent (public, allowlist, token holders) and per-caller quotas")
    .argument("<agent>", "the agent's name or id")
    .option("--public", "anyone may call")
    .option("--allowlist", "only callers on the allowlist may call (they sign their requests)")
    .option("--token <address>", "only holders of this ERC20 may call")
    .option("--min <amount>", "with --token: the least balance a caller must hold, in token units", "0")
    .option("--allow <address...>", "add callers to the allowlist (addresses, or dev accounts by role)")
    .option("--deny <address...>", "remove callers from the allowlist (addresses, or dev accounts by role)")
    .option("--quota <calls/seconds>", "at most CALLS per caller per SECONDS (0/0 lifts it), e.g. 100/3600")
    .addOption(networkOption())
    .addOption(fromOption())
    .addOption(privateKeyOption())
    .action(
      run(
        async (
          name: string,
          opts: Common & {
            public?: boolean;
            allowlist?: boolean;
            token?: string;
            min: string;
            allow?: string[];
            deny?: string[];
            quota?: string;
          },
        ) => {
          const modes = [opts.public, opts.allowlist, opts.token].filter(Boolean).length;
          if (modes > 1)
            throw new VeilError("BAD_ARGUMENT", "Choose one of --public, --allowlist, --token", {});
          const { chain, network } = await ownerChain(opts);
          const id = await agentId(chain, name);
          const allow = (opts.allow ?? []).map((a) => addressSpec(network, a));
          const deny = (opts.deny ?? []).map((a) => addressSpec(network, a));
          let changed = false;
          if (modes === 1) {
            const zero = "0x0000000000000000000000000000000000000000" as Hex;
            if (opts.token) {
              const min = await amount(opts.min, "--min");
              sent(
                await chain.setAgentAccess(id, "tokenHolders", address(opts.token), min),
                `access: holders of ≥ ${tokens(min).replace(" VEIL", "")} of ${opts.token}`,
              );
            } else {
              const mode = opts.public ? "public" : "allowlist";
              sent(await chain.setAgentAccess(id, mode, zero, 0n), `access: ${mode}`);
            }
            changed = true;
          }
          if (allow.length) {
            sent(await chain.setAgentAllowed(id, allow, true), `allowed: ${allow.join(", ")}`);
            changed = true;
          }
          if (deny.length) {
            sent(await chain.setAgentAllowed(id, deny, false), `denied: ${deny.join(", ")}`);
            changed = true;
          }
          if (opts.quota !== undefined) {
            const m = /^(\d+)\/(\d+)$/.exec(opts.quota);
            if (!m)
              throw new VeilError("BAD_ARGUMENT", `"${opts.quota}" is not CALLS/SECONDS`, {
                hint: "e.g. 100/3600",
              });
            const [calls, period] = [Number(m[1]), Number(m[2])];
            sent(
              await chain.setAgentQuota(id, calls, period),
              calls === 0 ? "quota: none" : `quota: ${calls} calls per caller per ${period} s`,
            );
            changed = true;
          }
          if (!changed) progress("nothing to change; see `veil agent acl --help`");
        },
      ),
    );

  agent
    .command("price")
    .description(
      "set the price per call (paid from the payer's FeeEscrow prepayment) and the owner's spending cap",
    )
    .argument("<agent>", "the agent's name or id")
    .argument("[amount]", "price per call in VEIL (e.g. 0.01); 0 makes calls free")
    .option(
      "--cap <amount>",
      "sponsor calls: the owner's escrow pays, up to this many VEIL per quota period (0: callers pay)",
    )
    .addOption(networkOption())
    .addOption(fromOption())
    .addOption(privateKeyOption())
    .action(
      run(async (name: string, price: string | undefined, opts: Common & { cap?: string }) => {
        const { chain } = await ownerChain(opts);
        const id = await agentId(chain, name);
        if (price === undefined && opts.cap === undefined) {
          const p = await chain.getAgentPolicy(id);
          const pending =
            p.pendingPriceAt > 0n
              ? `; rising to ${tokens(p.pendingPrice)} at ${new Date(Number(p.pendingPriceAt) * 1000).toISOString()}`
              : "";
          out([`price ${tokens(p.price)} per call${pending}; owner's cap ${tokens(p.spendingCap)}`], {
            agent: id,
            price: p.price,
            spendingCap: p.spendingCap,
            ...(p.pendingPriceAt > 0n
              ? { pendingPrice: p.pendingPrice, pendingFrom: new Date(Number(p.pendingPriceAt) * 1000) }
              : {}),
          });
          return;
        }
        if (price !== undefined) {
          const n = await amount(price, "the price");
          const hash = await chain.setAgentPrice(id, n);
          // An increase waits the network's delay so that callers see it coming (ADR 0020).
          const p = await chain.getAgentPolicy(id);
          sent(
            hash,
            p.pendingPriceAt > 0n && p.pendingPrice === n
              ? `price: ${tokens(n)} per call from ${new Date(Number(p.pendingPriceAt) * 1000).toISOString()} (increases wait ${await chain.priceIncreaseDelay()} s; until then ${tokens(p.price)})`
              : `price: ${tokens(n)} per call`,
          );
        }
        if (opts.cap !== undefined) {
          const n = await amount(opts.cap, "--cap");
          sent(
            await chain.setAgentSpendingCap(id, n),
            n === 0n
              ? "sponsoring: off (callers pay)"
              : `sponsoring: the owner pays up to ${tokens(n)} per period`,
          );
        }
      }),
    );

  for (const [verb, what] of [
    ["pause", "stop all calls to the agent (workers answer AGENT_PAUSED)"],
    ["unpause", "let calls through again"],
  ] as const) {
    agent
      .command(verb)
      .description(what)
      .argument("<agent>", "the agent's name or id")
      .addOption(networkOption())
      .addOption(fromOption())
      .addOption(privateKeyOption())
      .action(
        run(async (name: string, opts: Common) => {
          const { chain } = await ownerChain(opts);
          const id = await agentId(chain, name);
          const hash = verb === "pause" ? await chain.pauseAgent(id) : await chain.unpauseAgent(id);
          sent(hash, `agent #${id} ${verb === "pause" ? "paused" : "running"}`);
        }),
      );
  }

  agent
    .command("versions")
    .description("list the agent's versions: which runs, which were removed")
    .argument("<agent>", "the agent's name or id")
    .option("--json", "print JSON")
    .addOption(networkOption())
    .action(
      run(async (name: string, opts: { network?: string; json?: boolean }) => {
        const network = loadNetwork(opts.network);
        const { VeilChain } = await import("../sdk/contracts/registries.ts");
        const chain = new VeilChain(network.chain);
        const id = await agentId(chain, name);
        const [record, versions] = await Promise.all([chain.getAgent(id), chain.agentVersions(id)]);
        out(
          versions.map((v) => {
            const mark = v.version === record.currentVersion ? "* running" : v.removed ? "  removed" : "";
            return `${String(v.version).padStart(4)}  ${v.codeHash}  ${mark}`;
          }),
          {
            agent: id,
            current: record.currentVersion,
            versions: versions.map((v) => ({ ...v, current: v.version === record.currentVersion })),
          },
        );
      }),
    );

  agent
    .command("rollback")
    .description("pin a version as the one that runs (default: the newest usable one before the current)")
    .argument("<agent>", "the agent's name or id")
    .argument("[version]", "the version number to run (see `veil agent versions`)")
    .addOption(networkOption())
    .addOption(fromOption())
    .addOption(privateKeyOption())
    .action(
      run(async (name: string, version: string | undefined, opts: Common) => {
        if (version !== undefined && !/^\d+$/.test(version))
          throw new VeilError("BAD_ARGUMENT", `"${version}" is not a version number`, {});
        const { chain } = await ownerChain(opts);
        const id = await agentId(chain, name);
        const { pinAgentVersion } = await import("../sdk/agent-versions.ts");
        // The same decision and refusals as the web console's (src/sdk/agent-versions.ts).
        const pinned = await pinAgentVersion(chain, id, version === undefined ? undefined : Number(version));
        sent(pinned.hash, `agent #${id} now runs version ${pinned.version} (${pinned.codeHash})`);
      }),
    );

  agent
    .command("remove-version")
    .description("remove a version for good: it can never run or be activated again")
    .argument("<agent>", "the agent's name or id")
    .argument("<version>", "the version number (not the running one)")
    .addOption(networkOption())
    .addOption(fromOption())
    .addOption(privateKeyOption())
    .addOption(yesOption())
    .action(
      run(async (name: string, version: string, opts: Common & { yes?: boolean }) => {
        const n = Number(version);
        if (!Number.isInteger(n) || n < 0)
          throw new VeilError("BAD_ARGUMENT", `"${version}" is not a version number`, {});
        const { chain } = await ownerChain(opts);
        const id = await agentId(chain, name);
        const [record, versions] = await Promise.all([chain.getAgent(id), chain.agentVersions(id)]);
        const { checkRemovable, removeAgentVersion } = await import("../sdk/agent-versions.ts");
        // Refusals come before the question: nothing to confirm for what cannot be done.
        checkRemovable(record, versions, n);
        await confirm(
          opts.yes,
          `Removing version ${n} of ${name}`,
          "its code can never run or be activated again",
        );
        sent((await removeAgentVersion(chain, id, n)).hash, `agent #${id}: version ${n} removed for good`);
      }),
    );

  agent
    .command("transfer")
    .description("hand the agent to another owner at once (check the address: this cannot be undone by you)")
    .argument("<agent>", "the agent's name or id")
    .argument("<new-owner>", "the new owner's address (or a dev account by role)")
    .addOption(networkOption())
    .addOption(fromOption())
    .addOption(privateKeyOption())
    .addOption(yesOption())
    .action(
      run(async (name: string, newOwner: string, opts: Common & { yes?: boolean }) => {
        const { chain, network } = await ownerChain(opts);
        const to = addressSpec(network, newOwner);
        const id = await agentId(chain, name);
        await confirm(
          opts.yes,
          `Handing ${name} to ${to}`,
          "only the new owner can change it, or give it back, from now on",
        );
        sent(await chain.transferAgentOwnership(id, to), `agent #${id} now belongs to ${to}`);
      }),
    );
}
