import { type Command, Option } from "commander";
import type { Hex } from "viem";
import { VeilError } from "../errors/index.ts";
import { loadNetwork, type NetworkFile } from "../network/config.ts";
import { fail, progress } from "./output.ts";

// `veil keys …`: the key epoch, the gatekeepers and rotation (ADR 0010). Kept in its own file
// so that main.ts only hooks it in.

const networkOption = () =>
  new Option("--network <file>", "network.json to use (default: $VEIL_NETWORK, then ./.veil/network.json)");

/** The governance key: --private-key, $VEIL_PRIVATE_KEY, else the dev network's deployer. */
function governanceKey(network: NetworkFile, explicit?: string): Hex {
  const key = explicit ?? process.env.VEIL_PRIVATE_KEY;
  if (key) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) {
      throw new VeilError("BAD_ARGUMENT", "The private key must be 32 bytes of hex with a 0x prefix", {});
    }
    return key as Hex;
  }
  const deployer = network.devAccounts?.accounts.find((a) => a.role === "deployer-governance");
  if (!deployer) {
    throw new VeilError("NO_ACCOUNT", "No governance account to open the rotation with", {
      hint: "Outside a dev network, the GatekeeperRegistry's owner is governance's timelock: propose openRotation through governance, or pass --private-key of the owner.",
    });
  }
  return deployer.privateKey;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
        const { RotationClient, VeilChain, rotationStateName } = await import("../chain/index.ts");
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
    .option(
      "--private-key <hex>",
      "the registry owner's key (default: $VEIL_PRIVATE_KEY, then the dev deployer)",
    )
    .option("--no-wait", "return once the rotation is open, without waiting for it to complete")
    .option("--timeout <seconds>", "how long to wait for completion", "120")
    .action(
      async (opts: {
        network?: string;
        elect?: string;
        privateKey?: string;
        wait: boolean;
        timeout: string;
      }) => {
        try {
          const { RotationClient, RotationState, VeilChain } = await import("../chain/index.ts");
          const network = loadNetwork(opts.network);
          const chain = new VeilChain(network.chain, { account: governanceKey(network, opts.privateKey) });
          const rotation = new RotationClient(chain);
          const elected = opts.elect
            ? (opts.elect.split(",").map((s) => s.trim()) as Hex[])
            : (await chain.listGatekeepers()).filter((g) => g.active).map((g) => g.address);
          await rotation.open(elected);
          const r = await rotation.current();
          progress(`opened the rotation to epoch ${r.epoch}, electing ${elected.length} gatekeeper(s)`);
          if (!opts.wait) return;
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
          process.stdout.write(
            `Rotated to epoch ${r.epoch}; the keys of epoch ${r.epoch - 1n} are destroyed.\n`,
          );
        } catch (err) {
          fail(err);
        }
      },
    );
}
