import { type Abi, type AbiFunction, type AbiParameter, encodeFunctionData, type Hex, isAddress } from "viem";
import { VeilError } from "../errors/index.ts";
import type { NetworkFile } from "../network/config.ts";
import * as abis from "../sdk/contracts/abi.ts";
import type { ProposalAction } from "../sdk/contracts/economy.ts";

/**
 * `veil gov propose --call 'attestationPolicy.setParameters(3600, 600, 2)'`: any function of any
 * contract the network names, as a proposal action, so that governance reaches what it owns
 * beyond the economy's named parameters (the attestation policy, the gatekeeper set and key
 * rotations, when the registries are the timelock's). The arguments are typed by the ABI.
 */
export type CallableContract = { address: Hex; abi: Abi };

/** The contracts of a network by the names network.json gives them. */
export function callableContracts(network: NetworkFile): Record<string, CallableContract> {
  const c = network.chain.contracts;
  const e = network.chain.economy;
  const entries: [string, Hex | undefined, Abi][] = [
    ["agentRegistry", c.agentRegistry, abis.agentRegistryAbi as Abi],
    ["agentKeys", c.agentKeys, abis.agentKeysAbi as Abi],
    ["workerRegistry", c.workerRegistry, abis.workerRegistryAbi as Abi],
    ["gatekeeperRegistry", c.gatekeeperRegistry, abis.gatekeeperRegistryAbi as Abi],
    ["attestationPolicy", c.attestationPolicy, abis.attestationPolicyAbi as Abi],
    ["agentTriggers", c.agentTriggers, abis.agentTriggersAbi as Abi],
    ["token", e?.token, abis.veilTokenAbi as Abi],
    ["stakePool", e?.stakePool, abis.stakePoolAbi as Abi],
    ["rewards", e?.rewards, abis.rewardsAbi as Abi],
    ["feeEscrow", e?.feeEscrow, abis.feeEscrowAbi as Abi],
    ["slashing", e?.slashing, abis.slashingAbi as Abi],
    ["vaultFactory", e?.vaultFactory, abis.vaultFactoryAbi as Abi],
    ["governor", e?.governor, abis.veilGovernorAbi as Abi],
    ["timelock", e?.timelock, abis.veilTimelockAbi as Abi],
  ];
  const out: Record<string, CallableContract> = {};
  for (const [name, address, abi] of entries) if (address) out[name] = { address, abi };
  return out;
}

function bad(message: string, hint: string): VeilError {
  return new VeilError("BAD_ARGUMENT", message, { hint });
}

/** Splits "a, [b, c], \"d,e\"" at the commas outside brackets and quotes. */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = "";
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === "[") depth++;
    else if (!quoted && ch === "]") depth--;
    if (ch === "," && depth === 0 && !quoted) {
      out.push(current.trim());
      current = "";
    } else current += ch;
  }
  if (quoted || depth !== 0) throw bad(`Unbalanced quotes or brackets in "${text}"`, 'Close every [ and ".');
  if (current.trim() !== "" || out.length > 0) out.push(current.trim());
  return out;
}

/** Names an address may be written as (a network's contract, a dev account): the address, or undefined. */
export type AddressNames = (name: string) => Hex | undefined;

/** One argument, typed by its ABI parameter. */
function convert(raw: string, param: AbiParameter, signature: string, names?: AddressNames): unknown {
  const type = param.type;
  const fail = (what: string) =>
    bad(
      `${param.name || "an argument"} of ${signature} must be ${what}, not "${raw}"`,
      `The function is ${signature}.`,
    );
  const array = /^(.*)\[(\d*)\]$/.exec(type);
  if (array) {
    if (!raw.startsWith("[") || !raw.endsWith("]")) throw fail(`a list like [a, b]`);
    const items = splitArgs(raw.slice(1, -1));
    if (array[2] && items.length !== Number(array[2])) throw fail(`a list of ${array[2]}`);
    return items.map((item) => convert(item, { ...param, type: array[1] ?? "" }, signature, names));
  }
  if (/^u?int\d*$/.test(type)) {
    if (!/^-?\d+$/.test(raw) && !/^0x[0-9a-fA-F]+$/.test(raw)) throw fail("a whole number");
    return BigInt(raw);
  }
  if (type === "bool") {
    if (raw !== "true" && raw !== "false") throw fail("true or false");
    return raw === "true";
  }
  if (type === "address") {
    const named = names?.(raw);
    if (named) return named;
    if (!isAddress(raw))
      throw fail(
        names
          ? "an address (0x and 40 hex digits) or a contract's or account's name"
          : "an address (0x and 40 hex digits)",
      );
    return raw;
  }
  if (/^bytes\d*$/.test(type)) {
    const size = Number(type.slice(5));
    if (!/^0x([0-9a-fA-F]{2})*$/.test(raw) || (size > 0 && raw.length !== 2 + size * 2))
      throw fail(size > 0 ? `${size} bytes in hex (0x…)` : "bytes in hex (0x…)");
    return raw;
  }
  if (type === "string") return raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  throw fail(`a ${type}, which cannot be written on the command line`);
}

/** Arguments written on the command line, typed by the parameters they are for. */
export function convertArgs(
  raw: readonly string[],
  params: readonly AbiParameter[],
  signature: string,
  names?: AddressNames,
): unknown[] {
  if (raw.length !== params.length) {
    throw bad(`${signature} takes ${params.length} arguments, not ${raw.length}`, `It is ${signature}.`);
  }
  return params.map((p, i) => convert(raw[i] ?? "", p, signature, names));
}

const signatureOf = (f: AbiFunction) =>
  `${f.name}(${f.inputs.map((i) => `${i.type} ${i.name}`.trim()).join(", ")})`;

/** "contract.function(args…)" → the proposal action calling it. */
export function parseCall(spec: string, contracts: Record<string, CallableContract>): ProposalAction {
  const { target, data } = parseInvocation(spec, contracts, { views: false });
  return { target, value: 0n, data };
}

/**
 * "contract.function(args…)" → the function, its encoded call and its target. `views` says
 * whether read-only functions may be named (`veil contract call`) or not (a proposal's actions).
 */
export function parseInvocation(
  spec: string,
  contracts: Record<string, CallableContract>,
  options: { views: boolean; names?: AddressNames },
): { target: Hex; data: Hex; fn: AbiFunction; args: unknown[]; signature: string; contract: string } {
  const m = /^\s*([A-Za-z][A-Za-z0-9]*)\.([A-Za-z_][A-Za-z0-9_]*)\((.*)\)\s*$/s.exec(spec);
  if (!m) {
    throw bad(
      `"${spec}" is not a call`,
      "Write --call 'contract.function(arg, …)', e.g. --call 'attestationPolicy.setParameters(3600, 600, 2)'.",
    );
  }
  const [, contractName = "", functionName = "", argText = ""] = m;
  const contract = contracts[contractName];
  if (!contract) {
    throw bad(
      `This network has no contract "${contractName}"`,
      `Contracts: ${Object.keys(contracts).join(", ")}.`,
    );
  }
  const callable = (x: Abi[number]): x is AbiFunction =>
    x.type === "function" &&
    (options.views || (x.stateMutability !== "view" && x.stateMutability !== "pure"));
  const functions = contract.abi.filter((x): x is AbiFunction => callable(x) && x.name === functionName);
  if (functions.length === 0) {
    const names = contract.abi.filter(callable).map((f) => f.name);
    throw bad(
      `${contractName} has no function "${functionName}"${options.views ? "" : " that changes state"}`,
      `Functions: ${[...new Set(names)].join(", ")}.`,
    );
  }
  const args = splitArgs(argText);
  const fn = functions.find((f) => f.inputs.length === args.length);
  if (!fn) {
    throw bad(
      `${contractName}.${functionName} takes ${functions.map((f) => f.inputs.length).join(" or ")} arguments, not ${args.length}`,
      `The function is ${functions.map(signatureOf).join(" or ")}.`,
    );
  }
  const signature = `${contractName}.${signatureOf(fn)}`;
  const values = fn.inputs.map((p, i) => convert(args[i] ?? "", p, signature, options.names));
  let data: Hex;
  try {
    data = encodeFunctionData({ abi: [fn], functionName: fn.name, args: values });
  } catch (err) {
    throw bad(
      `The arguments do not fit ${signature}: ${(err as Error).message.split("\n")[0]}`,
      "Check each value's range.",
    );
  }
  return { target: contract.address, data, fn, args: values, signature, contract: contractName };
}
