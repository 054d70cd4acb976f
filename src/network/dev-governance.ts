import { encodeFunctionData, type Hex } from "viem";
import { agentRegistryAbi, attestationPolicyAbi, gatekeeperRegistryAbi } from "../chain/abi.ts";
import { type ProposalAction, VeilEconomy } from "../chain/economy-client.ts";
import { VeilChain } from "../chain/index.ts";
import { VeilError } from "../errors/index.ts";
import type { NetworkFile } from "./config.ts";

// `veil up --governed` (issue 21): the dev network's registries belong to governance's timelock,
// as they would in production, so that every governance path (`gov propose --call`, `keys
// rotate --propose`) works end to end. What `veil up` itself must change as the owner later (a
// new build's measurement, another gatekeeper) it then passes through the governor with the
// DEV ONLY deployer's votes (it holds most of the dev supply), which takes the dev timings:
// ~1 s to open the vote, 20 s of voting, 5 s of timelock.

type Registries = NetworkFile["chain"]["contracts"];

/** The registries `--governed` hands over, with what to call them in messages. */
function ownedRegistries(contracts: Registries): { name: string; address: Hex }[] {
  return [
    { name: "AgentRegistry", address: contracts.agentRegistry },
    { name: "WorkerRegistry", address: contracts.workerRegistry },
    { name: "GatekeeperRegistry", address: contracts.gatekeeperRegistry },
    { name: "AttestationPolicy", address: contracts.attestationPolicy },
    ...(contracts.agentTriggers ? [{ name: "AgentTriggers", address: contracts.agentTriggers }] : []),
  ];
}

/** Hands every registry to the timelock; from then on only a passed proposal changes them. */
export async function handRegistriesToTimelock(
  network: NetworkFile,
  deployer: Hex,
  progress: (m: string) => void,
): Promise<void> {
  const timelock = network.chain.economy?.timelock;
  if (!timelock) {
    throw new VeilError("NO_ECONOMY", "--governed needs the economy's timelock, and this network has none", {
      hint: "Start the network with `veil up`, which deploys the economy.",
    });
  }
  const chain = new VeilChain(network.chain, { account: deployer });
  for (const r of ownedRegistries(network.chain.contracts)) {
    await chain.write(`hand ${r.name} to the timelock`, {
      address: r.address,
      abi: agentRegistryAbi,
      functionName: "transferOwnership",
      args: [timelock],
    });
  }
  progress(`governed: the registries now belong to the timelock ${timelock}`);
}

/** Whether the timelock owns the registries (network.json says so, the chain decides). */
export function isGoverned(network: NetworkFile): boolean {
  return network.chain.governed === true;
}

/** The proposal action that allows a build on the simulated TEE (AttestationPolicy). */
export function allowMeasurementAction(
  network: NetworkFile,
  teeType: number,
  measurement: Hex,
): ProposalAction {
  return {
    target: network.chain.contracts.attestationPolicy,
    value: 0n,
    data: encodeFunctionData({
      abi: attestationPolicyAbi,
      functionName: "allowMeasurement",
      args: [teeType, measurement],
    }),
  };
}

/** The proposal action that adds a gatekeeper (GatekeeperRegistry). */
export function addGatekeeperAction(
  network: NetworkFile,
  gatekeeper: Hex,
  encryptionKey: Hex,
  endpoint: string,
): ProposalAction {
  return {
    target: network.chain.contracts.gatekeeperRegistry,
    value: 0n,
    data: encodeFunctionData({
      abi: gatekeeperRegistryAbi,
      functionName: "addGatekeeper",
      args: [gatekeeper, encryptionKey, endpoint],
    }),
  };
}

/**
 * Passes owner calls through the governor on a governed dev network: the deployer proposes and
 * votes, then queues and executes once the chain's clock allows. DEV ONLY: it relies on the
 * deployer holding the votes.
 */
export async function passAsDevGovernance(
  network: NetworkFile,
  deployer: Hex,
  actions: ProposalAction[],
  description: string,
  progress: (m: string) => void,
): Promise<void> {
  const economyAddresses = network.chain.economy;
  if (!economyAddresses) throw new VeilError("NO_ECONOMY", "This network has no governor", {});
  const economy = new VeilEconomy({ ...network.chain, economy: economyAddresses }, { account: deployer });
  // A description names one proposal: the same calls proposed again need another.
  const unique = `${description} (veil up, ${new Date().toISOString()})`;
  progress(`governed network: proposing "${description}" as the DEV ONLY deployer (about 30 s)…`);
  const { proposalId } = await economy.propose(actions, unique);
  const settings = await economy.governorSettings();
  const chainNow = async () => (await economy.public.getBlock({ blockTag: "latest" })).timestamp;
  const until = async (at: bigint) => {
    while ((await chainNow()) < at) await new Promise((r) => setTimeout(r, 500));
  };
  const proposedAt = await chainNow();
  await until(proposedAt + settings.votingDelay + 1n);
  await economy.castVote(proposalId, 1);
  await until(proposedAt + settings.votingDelay + settings.votingPeriod + 1n);
  await economy.queueProposal(actions, unique);
  const delay = BigInt(network.economy?.governance.timelockDelaySeconds ?? 0);
  await until((await chainNow()) + delay + 1n);
  await economy.executeProposal(actions, unique);
  progress(`governed network: "${description}" passed and executed`);
}
