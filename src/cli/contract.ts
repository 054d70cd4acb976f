import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Command } from "commander";
import type { Abi, Hex } from "viem";
import { VeilError } from "../errors/index.ts";
import { loadNetwork, type NetworkFile, networkPath } from "../network/config.ts";
import type { VeilChain } from "../sdk/contracts/registries.ts";
import { addSignerOptions, run, type SignerFlags } from "./economy-common.ts";
import type { AddressNames, CallableContract } from "./gov-call.ts";
import { out, progress, toJson } from "./output.ts";
import { devAddress, resolveSigner } from "./signer.ts";

// `veil contract deploy|call` (issue 21): a contract of contracts/ that a user deploys for
// themselves (the price oracle's PriceFeedConsumer), and any call to it or to the network's own
// contracts, its arguments typed by the ABI as `gov propose --call` types them. What was
// deployed is remembered by name in contracts.json beside network.json.

type Deployed = Record<string, Hex>;

function deployedFile(network?: string): string {
  return join(dirname(networkPath(network)), "contracts.json");
}

function readDeployed(network?: string): Deployed {
  const file = deployedFile(network);
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Deployed;
  } catch (err) {
    throw new VeilError("BAD_ARGUMENT", `${file} is not JSON`, {
      cause: err,
      hint: "It lists the contracts `veil contract deploy` made, { name: address }: fix or delete it.",
    });
  }
}

async function chainFor(network: NetworkFile, flags: SignerFlags): Promise<VeilChain> {
  const { VeilChain } = await import("../sdk/contracts/registries.ts");
  return new VeilChain(network.chain, { account: resolveSigner(network, flags), pollingIntervalMs: 50 });
}

/** `agent:NAME` anywhere in the arguments → the agent's id (a uint256 on chain). */
async function agentIds(chain: VeilChain, text: string): Promise<string> {
  let result = text;
  for (const [whole, name] of text.matchAll(/agent:([a-z0-9-]+)/g)) {
    const id = await chain.agentIdOf(name ?? "");
    if (id === 0n)
      throw new VeilError("AGENT_NOT_FOUND", `No agent named "${name}"`, {
        hint: "Check it with `veil inspect`.",
      });
    result = result.replace(whole, id.toString());
  }
  return result;
}

/** Addresses by name: the network's contracts, the ones deployed here, the dev accounts. */
function addressNames(network: NetworkFile, contracts: Record<string, CallableContract>): AddressNames {
  return (name) => contracts[name]?.address ?? devAddress(network, name);
}

async function contractsOf(
  network: NetworkFile,
  flags: SignerFlags,
): Promise<Record<string, CallableContract>> {
  const { callableContracts } = await import("./gov-call.ts");
  const { compileContracts } = await import("../sdk/contracts/compile.ts");
  const contracts = callableContracts(network);
  const deployed = readDeployed(flags.network);
  if (Object.keys(deployed).length > 0) {
    const compiled = compileContracts({ onProgress: progress });
    for (const [name, address] of Object.entries(deployed)) {
      const abi = compiled[name]?.abi;
      if (abi) contracts[name] = { address, abi };
    }
  }
  return contracts;
}

export function registerContractCommands(program: Command): void {
  const contract = program
    .command("contract")
    .description(
      "deploy a contract of contracts/ (e.g. PriceFeedConsumer) and call any contract by name, arguments typed by its ABI",
    );

  addSignerOptions(
    contract
      .command("deploy")
      .description("compile and deploy a contract of contracts/; remembered by name for `veil contract call`")
      .argument("<name>", "the contract's name, e.g. PriceFeedConsumer")
      .argument(
        "[args...]",
        "constructor arguments: addresses also by name (agentTriggers, a dev account), agents' ids as agent:NAME",
      ),
  ).action(
    run(async (name: string, args: string[], opts: SignerFlags) => {
      const network = loadNetwork(opts.network);
      const chain = await chainFor(network, opts);
      const { compileContracts } = await import("../sdk/contracts/compile.ts");
      const compiled = compileContracts({ onProgress: progress })[name];
      if (!compiled) {
        const names = Object.keys(compileContracts()).sort();
        throw new VeilError("CONTRACT_NOT_FOUND", `contracts/ has no contract named ${name}`, {
          hint: `Contracts: ${names.join(", ")}.`,
        });
      }
      const ctor = compiled.abi.find((x) => x.type === "constructor");
      const params = ctor && "inputs" in ctor ? ctor.inputs : [];
      const { convertArgs } = await import("./gov-call.ts");
      const contracts = await contractsOf(network, opts);
      const raw = await Promise.all(args.map((a) => agentIds(chain, a)));
      const values = convertArgs(
        raw,
        params,
        `${name}(${params.map((p) => `${p.type} ${p.name ?? ""}`.trim()).join(", ")})`,
        addressNames(network, contracts),
      );
      const { chainError } = await import("../sdk/contracts/registries.ts");
      const wallet = chain.wallet;
      if (!wallet) throw new VeilError("NO_ACCOUNT", "No account to deploy with", {});
      let hash: Hex;
      let address: Hex | null | undefined;
      let block: bigint;
      try {
        hash = await wallet.deployContract({ abi: compiled.abi, bytecode: compiled.bytecode, args: values });
        const receipt = await chain.public.waitForTransactionReceipt({ hash, pollingInterval: 50 });
        if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
        address = receipt.contractAddress;
        block = receipt.blockNumber;
      } catch (err) {
        throw chainError(err, `deploy ${name}`, network.chain.rpcUrl);
      }
      if (!address) throw new VeilError("CHAIN_ERROR", `Deploying ${name} made no contract (tx ${hash})`, {});
      const deployed = readDeployed(opts.network);
      deployed[name] = address;
      writeFileSync(deployedFile(opts.network), `${JSON.stringify(deployed, null, 2)}\n`);
      out(
        [
          `${name} at ${address}`,
          `  tx ${hash} (block ${block})`,
          `Call it: npx veil contract call '${name}.FUNCTION(ARGS)' (by name from now on)`,
        ],
        { contract: name, address, transactions: [{ hash, block }] },
      );
    }),
  );

  addSignerOptions(
    contract
      .command("call")
      .description(
        "call a function: a read prints its result, anything else is sent as a transaction and prints its events",
      )
      .argument(
        "<call>",
        "'contract.function(args…)': the network's contracts by their network.json names (agentTriggers…) or a contract `veil contract deploy` made",
      )
      .option("--value <eth>", "ETH sent with a payable call (e.g. a request's fee)"),
  ).action(
    run(async (spec: string, opts: SignerFlags & { value?: string }) => {
      const network = loadNetwork(opts.network);
      const chain = await chainFor(network, opts);
      const contracts = await contractsOf(network, opts);
      const { parseInvocation } = await import("./gov-call.ts");
      const call = parseInvocation(await agentIds(chain, spec), contracts, {
        views: true,
        names: addressNames(network, contracts),
      });
      const viem = await import("viem");
      if (call.fn.stateMutability === "view" || call.fn.stateMutability === "pure") {
        const { chainError } = await import("../sdk/contracts/registries.ts");
        const result = await chain.public
          .call({ to: call.target, data: call.data })
          .then((r) =>
            viem.decodeFunctionResult({ abi: [call.fn], functionName: call.fn.name, data: r.data ?? "0x" }),
          )
          .catch((err: unknown) => {
            throw chainError(err, `read ${call.signature}`, network.chain.rpcUrl);
          });
        out([toJson(result)], { call: call.signature, result });
        return;
      }
      let value: bigint | undefined;
      if (opts.value !== undefined) {
        try {
          value = viem.parseEther(opts.value);
        } catch {
          throw new VeilError("BAD_ARGUMENT", `"${opts.value}" is not an amount of ETH`, {
            hint: "e.g. --value 0.01",
          });
        }
      }
      const abi = contracts[call.contract]?.abi as Abi;
      // A revert may come from a contract it calls (AgentTriggers' fee check under a consumer):
      // every known contract's errors decode it.
      const errors = Object.values(contracts).flatMap((c) => c.abi.filter((x) => x.type === "error"));
      const { hash, logs } = await chain.write(call.signature, {
        address: call.target,
        abi: [...abi, ...errors],
        functionName: call.fn.name,
        args: call.args,
        ...(value !== undefined ? { value } : {}),
      });
      const events = viem.parseEventLogs({ abi, logs });
      out(
        [
          `tx      ${hash}`,
          ...events.map(
            (e) =>
              `event   ${e.eventName}(${Object.entries((e.args ?? {}) as Record<string, unknown>)
                .map(([k, v]) => `${k}=${typeof v === "bigint" ? v.toString() : String(v)}`)
                .join(" ")})`,
          ),
        ],
        {
          call: call.signature,
          transactions: [{ hash, events: events.map((e) => ({ name: e.eventName, args: e.args })) }],
        },
      );
    }),
  );
}
