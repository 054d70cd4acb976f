import { type Hex, keccak256, toBytes, toHex } from "viem";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import type { NetworkFile } from "../../network/config.ts";
import { signTyped, TeeType, WorkerStatus, workerStatusName } from "../../sdk/contracts/registries.ts";
import { type AuditCheck, type AuditContext, broken, cannotRun, held } from "./types.ts";

// Issue 18's first attack: `WorkerRegistry.register` stored whatever evidence an operator sent and
// `isAttested` believed it; a worker whose "evidence" was a hash of nothing got routed traffic,
// quota homes and rewards. Now standing needs a gatekeeper's verification on chain (ADR 0020).

const MADE_UP = keccak256(toBytes("this is not evidence"));

/** The TEE type the network's nodes run on: the measurement it lists is allowed for that one. */
function teeTypeOf(network: NetworkFile): number {
  return network.tee.backend === "simulated" ? TeeType.simulated : TeeType.tdx;
}

/**
 * The worker key's consent to the registration: EIP-712 `WorkerRegistration` under the registry's
 * domain, signed by the chain package's typed-data signer (`signTyped`), so that the
 * audit follows the format the contracts are generated from rather than restating it.
 */
async function register(ctx: AuditContext, worker: PrivateKeyAccount, reg: Registration): Promise<void> {
  const signature = await signTyped(
    worker,
    { chainId: ctx.network.chain.chainId, verifyingContract: ctx.network.chain.contracts.workerRegistry },
    "WorkerRegistration",
    { operator: ctx.address, ...reg },
  );
  await ctx.chain.registerWorker({ ...reg, signature });
}

type Registration = {
  worker: Hex;
  encryptionKey: Hex;
  teeType: number;
  measurement: Hex;
  evidenceHash: Hex;
  confidence: number;
  endpoint: string;
};

export const unverifiedWorker: AuditCheck = {
  id: "unverified-worker",
  title: "a worker registered with made-up evidence",
  async run(ctx) {
    await ctx.requireFunds();
    const teeType = teeTypeOf(ctx.network);
    const measurement = ctx.network.tee.measurement;
    if (!(await ctx.chain.isMeasurementAllowed(teeType, measurement))) {
      throw cannotRun(
        `the policy does not allow the measurement network.json names (${measurement.slice(0, 18)}…), so no registration gets as far as the evidence`,
        "Point --network at the network.json its operators publish, which names the allowed build.",
      );
    }
    const worker = privateKeyToAccount(generatePrivateKey());
    const reg: Registration = {
      worker: worker.address,
      encryptionKey: toHex(crypto.getRandomValues(new Uint8Array(32))),
      teeType,
      measurement,
      evidenceHash: MADE_UP,
      // Level 1 is the best there is: an attacker claims it.
      confidence: 1,
      endpoint: "http://veil-audit.invalid/",
    };
    ctx.progress(`registering worker ${worker.address} with evidence keccak("this is not evidence")…`);
    await register(ctx, worker, reg);
    ctx.onCleanup(`stopping the made-up worker ${worker.address}`, () =>
      ctx.chain.stopWorker(worker.address),
    );
    const record = await ctx.chain.getWorker(worker.address);
    const withinPolicy = await ctx.chain.isWorkerRegisteredWithinPolicy(worker.address);
    const attested = await ctx.chain.isWorkerAttested(worker.address);
    const status = record ? workerStatusName(record.status) : "not found";
    const claims = `registered from ${ctx.address} (status ${status}, within the policy on its claims: ${withinPolicy})`;
    if (record?.status !== WorkerStatus.Active) {
      throw new Error(`the registration of ${worker.address} left it ${status}, not Active`);
    }
    if (attested) {
      return broken(
        `worker ${worker.address}, ${claims}, is attested without any gatekeeper's verification: routing, quota homes and rewards trust it`,
      );
    }
    return held(
      `worker ${worker.address} with evidence keccak("this is not evidence"), ${claims}: isAttested is false, no gatekeeper verified it, so routing, quota homes and rewards ignore it (stopped at the end of the audit)`,
    );
  },
};
