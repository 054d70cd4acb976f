import { bytesToHex, type Hex } from "viem";
import { type VeilChain, WorkerStatus } from "../chain/client.ts";
import type { AgentTable } from "./agents.ts";
import { AgentGas, ChainRequestWatcher } from "./chain-requests.ts";
import { ScheduleRunner } from "./schedules.ts";

const EMPTY_REQUEST = {
  method: "POST",
  url: "http://veil.internal/trigger",
  headers: [],
  body: null,
} as const;

/**
 * Starts the worker's triggers (requests from contracts and schedules) over its agent table;
 * the one hook worker/main.ts calls. Does nothing on a network without AgentTriggers.
 */
export async function startTriggers(options: {
  chain: VeilChain;
  operator: VeilChain;
  agents: AgentTable;
  self: Hex;
  log: (message: string) => void;
}): Promise<{ stop(): Promise<void> } | undefined> {
  const { chain, agents } = options;
  if (!chain.config.contracts.agentTriggers) return undefined;
  const ready = (id: bigint) => {
    const s = agents.get(id.toString());
    if (s?.status !== "ready") throw new Error(`agent ${id} is not loaded on this worker`);
    return s;
  };
  const account = async (id: bigint) => {
    const identity = ready(id).identity;
    if (!identity) throw new Error(`agent ${id} has no keys on this worker yet`);
    return identity.account;
  };
  const workers = async () =>
    (await chain.listWorkers()).filter((w) => w.status === WorkerStatus.Active).map((w) => w.address);
  const gas = new AgentGas(options.operator);
  const fund = (address: Hex) => gas.fund(address);
  const requests = new ChainRequestWatcher({
    chain,
    self: options.self,
    workers,
    serves: (id) => agents.get(id.toString())?.status === "ready",
    account,
    fund,
    run: async (id, request) => {
      const res = await ready(id).sandbox.invoke(
        { ...EMPTY_REQUEST, headers: [] },
        { kind: "onChainRequest", event: request },
      );
      return bytesToHex(res.body);
    },
    log: options.log,
  });
  const schedules = new ScheduleRunner({
    chain,
    self: options.self,
    workers,
    agents: () =>
      agents
        .list()
        .filter((a) => a.status === "ready")
        .map((a) => BigInt(a.id)),
    account,
    fund,
    run: async (id, event) => {
      await ready(id).sandbox.invoke({ ...EMPTY_REQUEST, headers: [] }, { kind: "scheduled", event });
    },
    log: options.log,
  });
  await requests.start();
  schedules.start();
  return {
    stop: async () => {
      await requests.stop();
      await schedules.stop();
    },
  };
}
