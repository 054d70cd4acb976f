import { type Command, Option } from "commander";
import type { Hex } from "viem";
import { VeilError } from "../errors/index.ts";
import { loadNetwork, type NetworkFile } from "../network/config.ts";
import { confirm, fail, out, progress, yesOption } from "./output.ts";
import { fromOption, privateKeyOption, resolveSigner, type SignerFlags } from "./signer.ts";

// `veil keys …`: the key epoch, the gatekeepers and rotation (ADR 0010). Kept in its own file
// so that main.ts only hooks it in.

const networkOption = () =>
  new Option("--network <file>", "network.json to use (default: $VEIL_NETWORK, then ./.veil/network.json)");

/**
 * The registry owner's key, named as every command names its signer (signer.ts); on a dev
 * network the DEV ONLY deployer by default, which owns the registries unless `veil up --governed`.
 */
function governanceKey(network: NetworkFile, flags: SignerFlags): Hex {
  if (!flags.privateKey && !flags.from && !process.env.VEIL_PRIVATE_KEY && !network.devAccounts) {
    throw new VeilError("NO_ACCOUNT", "No governance account to send the rotation with", {
      hint: "Outside a dev network, the GatekeeperRegistry's owner is governance's timelock: `veil keys rotate --propose` proposes it, or pass --from/--private-key of the owner.",
    });
  }
  return resolveSigner(network, flags, "deployer");
}

/** On a network whose timelock owns the registries, a direct rotate/abort can only fail: say so first. */
function refuseWhenGoverned(network: NetworkFile, verb: string): void {
  if (network.chain.governed) {
    throw new VeilError(
      "NOT_OWNER",
      `The timelock owns this network's GatekeeperRegistry: ${verb} goes through governance`,
      {
        hint: `Run \`veil keys ${verb} --propose\`, then \`veil gov vote latest for\`, \`veil gov queue latest --wait\` and \`veil gov execute latest --wait\`.`,
      },
    );
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** --elect's addresses, else every active gatekeeper. */
async function electedOf(
  chain: { listGatekeepers(): Promise<{ address: Hex; active: boolean }[]> },
  elect?: string,
): Promise<Hex[]> {
  if (!elect) return (await chain.listGatekeepers()).filter((g) => g.active).map((g) => g.address);
  const list = elect.split(",").map((x) => x.trim());
  for (const a of list) {
    if (!/^0x[0-9a-fA-F]{40}$/.test(a)) {
      throw new VeilError("BAD_ARGUMENT", `"${a}" is not a gatekeeper address`, {
        hint: "List addresses as `veil keys status` shows them, separated by commas.",
      });
    }
  }
  return list as Hex[];
}

/**
 * Where the GatekeeperRegistry's owner is governance's timelock, a rotation is opened (or an
 * open one aborted) by a proposal: this proposes it and says what comes next.
 */
async function proposeThroughGovernance(
  opts: { network?: string; elect?: string; privateKey?: string; from?: string; description?: string },
  kind: "open" | "abort",
): Promise<void> {
  const { RotationClient, VeilChain, rotationProposalAction } = await import(
    "../sdk/contracts/registries.ts"
  );
  const { economyClient } = await import("./economy-common.ts");
  const { economy, network } = await economyClient({
    ...(opts.network ? { network: opts.network } : {}),
    ...(opts.privateKey ? { privateKey: opts.privateKey } : {}),
    ...(opts.from ? { from: opts.from } : {}),
  });
  const chain = new VeilChain(network.chain);
  const registry = network.chain.contracts.gatekeeperRegistry;
  const next = (await chain.epoch()) + 1n;
  const current = await new RotationClient(chain).current();
  const action =
    kind === "open"
      ? rotationProposalAction(registry, { open: await electedOf(chain, opts.elect) })
      : rotationProposalAction(registry, "abort");
  const description =
    opts.description ??
    (kind === "open" ? `Open key rotation to epoch ${next}` : `Abort key rotation to epoch ${current.epoch}`);
  const { warnUnlessTimelockOwns } = await import("./timelock-owner.ts");
  await warnUnlessTimelockOwns(economy, network, [action.target]);
  const { proposalId } = await economy.governance.propose([action], description);
  const settings = await economy.governance.governorSettings();
  out(
    [
      `proposal ${proposalId}: ${description}`,
      `  voting opens in ${settings.votingDelay}s and lasts ${settings.votingPeriod}s: veil gov vote ${proposalId} for`,
      `  then: veil gov queue ${proposalId} --wait; after the timelock delay: veil gov execute ${proposalId} --wait`,
      kind === "open"
        ? "  once executed, the elected gatekeepers take part on their own; follow with `veil keys status`"
        : "  once executed, the current epoch stays in force",
    ],
    { proposal: proposalId, description },
  );
}

export function registerKeysCommand(program: Command): void {
  const keys = program
    .command("keys")
    .description("the key epoch, the gatekeepers, and key rotation (see docs/adr/0010-key-rotation.md)");

  keys
    .command("status")
    .description("show the key epoch, the gatekeepers and their election, and the progress of a rotation")
    .addOption(networkOption())
    .option("--json", "print as JSON")
    .action(async (opts: { network?: string; json?: boolean }) => {
      try {
        const { RotationClient, VeilChain, rotationStateName } = await import(
          "../sdk/contracts/registries.ts"
        );
        const chain = new VeilChain(loadNetwork(opts.network).chain);
        const rotation = new RotationClient(chain);
        const [epoch, gatekeepers, r, open, head] = await Promise.all([
          chain.epoch(),
          chain.listGatekeepers(),
          rotation.current(),
          rotation.keyTrafficOpen(),
          chain.blockNumber(),
        ]);
        const progressOf = await Promise.all(
          r.elected.map(async (g) => ({
            gatekeeper: g,
            contributed: r.epoch > 0n && (await rotation.contribution(r.epoch, g)) !== "0x",
            confirmed: r.epoch > 0n && (await rotation.hasConfirmed(r.epoch, g)),
            destroyedOldKey: r.epoch > 0n && (await rotation.hasDestroyed(r.epoch, g)),
          })),
        );
        const out = {
          epoch: epoch.toString(),
          masterPublicKey: await chain.masterPublicKey(epoch),
          keyTraffic: open ? "open" : "paused",
          gatekeepers: gatekeepers.map((g) => ({
            address: g.address,
            endpoint: g.endpoint,
            active: g.active,
          })),
          rotation: {
            epoch: r.epoch.toString(),
            state: rotationStateName(r.state),
            openedAt: r.openedAt.toString(),
            confirmedAt: r.confirmedAt.toString(),
            resumesAt: r.confirmedAt ? (r.confirmedAt + 2n).toString() : undefined,
            block: head.toString(),
            elected: progressOf,
          },
        };
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
          return;
        }
        const lines = [
          `epoch ${out.epoch}   key traffic ${out.keyTraffic}   master public key ${out.masterPublicKey}`,
          "gatekeepers:",
          ...out.gatekeepers.map((g) => `  ${g.address} ${g.active ? "active " : "removed"} ${g.endpoint}`),
        ];
        if (r.epoch === 0n) lines.push("rotation: none yet");
        else {
          lines.push(
            `rotation to epoch ${out.rotation.epoch}: ${out.rotation.state} (opened at block ${out.rotation.openedAt}, now ${head})`,
          );
          for (const p of progressOf) {
            lines.push(
              `  ${p.gatekeeper} contributed ${p.contributed ? "✔" : "·"}  confirmed ${p.confirmed ? "✔" : "·"}  old key destroyed ${p.destroyedOldKey ? "✔" : "·"}`,
            );
          }
        }
        process.stdout.write(`${lines.join("\n")}\n`);
      } catch (err) {
        fail(err);
      }
    });

  keys
    .command("rotate")
    .description(
      "open a key rotation to the next epoch, electing gatekeepers (default: every active one). " +
        "On a dev network this sends the GatekeeperRegistry owner's transaction from the DEV ONLY deployer " +
        "account (which stands in for governance) and, since the embedded chain mines only on demand, " +
        "mines the two blocks after which key traffic resumes. In production the owner is governance's " +
        "timelock: pass its key, or propose openRotation(elected) through governance.",
    )
    .addOption(networkOption())
    .option("--elect <addresses>", "comma-separated gatekeeper addresses to elect")
    .addOption(fromOption())
    .addOption(privateKeyOption())
    .option("--no-wait", "return once the rotation is open, without waiting for it to complete")
    .option("--timeout <seconds>", "how long to wait for completion", "120")
    .option(
      "--propose",
      "propose openRotation(elected) to the governor instead of sending it (when the timelock owns the registry); prints the proposal id for `veil gov vote|queue|execute`",
    )
    .option("--description <text>", "with --propose: the proposal's description")
    .addHelpText(
      "after",
      "\nWho signs: the registry's owner (default: the dev network's DEV ONLY deployer); with --propose, a voter (default: user).",
    )
    .action(
      async (opts: {
        network?: string;
        elect?: string;
        privateKey?: string;
        wait: boolean;
        timeout: string;
        propose?: boolean;
        from?: string;
        description?: string;
      }) => {
        try {
          const { RotationClient, RotationState, VeilChain } = await import("../sdk/contracts/registries.ts");
          const network = loadNetwork(opts.network);
          if (opts.propose) {
            await proposeThroughGovernance(opts, "open");
            return;
          }
          refuseWhenGoverned(network, "rotate");
          const chain = new VeilChain(network.chain, { account: governanceKey(network, opts) });
          const rotation = new RotationClient(chain);
          const elected = await electedOf(chain, opts.elect);
          await rotation.open(elected);
          const r = await rotation.current();
          progress(`opened the rotation to epoch ${r.epoch}, electing ${elected.length} gatekeeper(s)`);
          if (!opts.wait) {
            out([], { epoch: r.epoch, completed: false });
            return;
          }
          const deadline = Date.now() + Number(opts.timeout) * 1000;
          let last = "";
          for (;;) {
            const now = await rotation.current();
            const line = `contributions ${now.contributions}/${now.elected.length}, confirmations ${now.confirmations}/${now.elected.length}, old keys destroyed ${now.destroyed}/${now.elected.length}`;
            if (line !== last) progress(line);
            last = line;
            if (now.state === RotationState.Completed) break;
            if (now.state === RotationState.Idle)
              throw new VeilError("ROTATION_ABORTED", "The rotation was aborted", {});
            if (now.state === RotationState.Confirmed && network.chain.embedded) {
              // The embedded chain mines a block only per transaction; key traffic resumes two later.
              await fetch(network.chain.rpcUrl, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "evm_mine", params: [] }),
              });
            }
            if (Date.now() > deadline) {
              throw new VeilError(
                "ROTATION_TIMEOUT",
                `The rotation to epoch ${r.epoch} did not complete in time`,
                {
                  hint: "Check `veil keys status` and the gatekeepers' logs; governance can abort an open rotation.",
                  retryable: true,
                },
              );
            }
            await sleep(500);
          }
          out([`Rotated to epoch ${r.epoch}; the keys of epoch ${r.epoch - 1n} are destroyed.`], {
            epoch: r.epoch,
            completed: true,
          });
        } catch (err) {
          fail(err);
        }
      },
    );

  keys
    .command("abort")
    .description(
      "abort the open key rotation (a gatekeeper crashed for good, say): the current epoch stays in force. " +
        "On a dev network this is the DEV ONLY deployer's transaction; with --propose, a proposal to the governor.",
    )
    .addOption(networkOption())
    .addOption(fromOption())
    .addOption(privateKeyOption())
    .option("--propose", "propose abortRotation() to the governor instead of sending it")
    .option("--description <text>", "with --propose: the proposal's description")
    .addOption(yesOption())
    .action(
      async (opts: {
        network?: string;
        privateKey?: string;
        propose?: boolean;
        from?: string;
        description?: string;
        yes?: boolean;
      }) => {
        try {
          if (opts.propose) {
            await proposeThroughGovernance(opts, "abort");
            return;
          }
          const { RotationClient, RotationState, VeilChain } = await import("../sdk/contracts/registries.ts");
          const network = loadNetwork(opts.network);
          refuseWhenGoverned(network, "abort");
          const chain = new VeilChain(network.chain, { account: governanceKey(network, opts) });
          const rotation = new RotationClient(chain);
          const r = await rotation.current();
          if (r.state !== RotationState.Open) {
            throw new VeilError("NO_ROTATION_OPEN", "No key rotation is open: there is nothing to abort", {
              status: 409,
              hint: "See `veil keys status`; open one with `veil keys rotate`.",
            });
          }
          await confirm(
            opts.yes,
            `Aborting the rotation to epoch ${r.epoch}`,
            "the contributions made to it are void; a new rotation starts over",
          );
          await rotation.abort();
          const epoch = await chain.epoch();
          out([`Aborted the rotation to epoch ${r.epoch}; epoch ${epoch} stays in force.`], {
            aborted: r.epoch,
            epoch,
          });
        } catch (err) {
          fail(err);
        }
      },
    );
}
