import { BaseError, ContractFunctionRevertedError, HttpRequestError } from "viem";
import { VeilError } from "../errors/index.ts";

/** Revert errors of the contracts → Veil error codes, hints and HTTP statuses. */
const REVERTS: Record<string, { code: string; status: number; hint: string }> = {
  NameTaken: { code: "AGENT_NAME_TAKEN", status: 409, hint: "Choose another --name; names are global." },
  InvalidName: {
    code: "AGENT_NAME_INVALID",
    status: 400,
    hint: "Use 1–64 characters of a–z, 0–9 and '-', starting with a letter.",
  },
  AgentNotFound: { code: "AGENT_NOT_FOUND", status: 404, hint: "Check the name or id with `veil inspect`." },
  NotAgentOwner: { code: "NOT_AGENT_OWNER", status: 403, hint: "Use the account that owns the agent." },
  EmptyCodeHash: { code: "BUNDLE_HASH_EMPTY", status: 400, hint: "Build the bundle before registering it." },
  VersionOutOfRange: { code: "VERSION_NOT_FOUND", status: 404, hint: "List versions with `veil inspect`." },
  BadWorkerSignature: {
    code: "WORKER_SIGNATURE_INVALID",
    status: 400,
    hint: "The worker's identity key must sign its registration.",
  },
  MeasurementNotAllowed: {
    code: "ATTESTATION_MEASUREMENT_NOT_ALLOWED",
    status: 403,
    hint: "This build is not in the attestation policy; governance must allow its measurement.",
  },
  WorkerStillValid: {
    code: "WORKER_STILL_VALID",
    status: 409,
    hint: "The worker is within the attestation policy (or not active); nothing to record.",
  },
  BadConfidence: {
    code: "ATTESTATION_CONFIDENCE_INVALID",
    status: 400,
    hint: "Confidence levels run from 1 to 5.",
  },
  ConfidenceBelowMinimum: {
    code: "ATTESTATION_TCB_BELOW_MINIMUM",
    status: 403,
    hint: "The platform's TCB is worse than the policy allows; update its microcode and firmware, then re-attest.",
  },
  BadParameters: {
    code: "POLICY_PARAMETERS_INVALID",
    status: 400,
    hint: "Need 0 < reattest period < max evidence age, and a minimum confidence from 1 to 5.",
  },
  WorkerEvicted: { code: "WORKER_EVICTED", status: 403, hint: "An evicted worker must use a new identity." },
  WorkerNotFound: {
    code: "WORKER_NOT_FOUND",
    status: 404,
    hint: "Register the worker first (`veil worker start`).",
  },
  AgentKeysAlreadySet: {
    code: "AGENT_KEYS_ALREADY_SET",
    status: 409,
    hint: "Another worker recorded them first.",
  },
  BadAgentCertificate: {
    code: "AGENT_CERT_INVALID",
    status: 400,
    hint: "Agent keys must be certified by the cluster key.",
  },
  BadClusterCertificate: {
    code: "AGENT_CERT_INVALID",
    status: 400,
    hint: "The cluster key must be certified by the master key.",
  },
  AgentKeysMissing: {
    code: "AGENT_KEYS_MISSING",
    status: 409,
    hint: "The agent has no keys yet: wait until a worker serves it (veil deploy waits for that).",
  },
  InvalidSecretName: {
    code: "SECRET_NAME_INVALID",
    status: 400,
    hint: "Secret names are 1–64 of A–Z, a–z, 0–9 and '_', not starting with a digit.",
  },
  SecretNotFound: {
    code: "SECRET_NOT_FOUND",
    status: 404,
    hint: "List the secrets with `veil secrets list NAME`.",
  },
  SecretTooLarge: {
    code: "SECRET_TOO_LARGE",
    status: 413,
    hint: "A secret is at most 4 KiB, and an agent has at most 64.",
  },
  EgressListTooLong: {
    code: "EGRESS_LIST_TOO_LONG",
    status: 400,
    hint: "List at most 1024 characters of hosts; use wildcards such as *.example.com.",
  },
  OwnableUnauthorizedAccount: {
    code: "NOT_OWNER",
    status: 403,
    hint: "Only the contract's owner (governance) may do this.",
  },
  NotWorkerOperator: { code: "NOT_WORKER_OPERATOR", status: 403, hint: "Use the worker's operator account." },
  NotGatekeeper: {
    code: "NOT_GATEKEEPER",
    status: 403,
    hint: "Only a gatekeeper of the current set may do this.",
  },
  MasterKeyAlreadyPublished: {
    code: "MASTER_KEY_ALREADY_PUBLISHED",
    status: 409,
    hint: "The master key of this epoch is already on chain.",
  },
};

/** Turns what viem throws into a VeilError that says what went wrong and what to do. */
export function chainError(err: unknown, action: string, rpcUrl: string): VeilError {
  if (err instanceof VeilError) return err;
  if (err instanceof BaseError) {
    const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted instanceof ContractFunctionRevertedError) {
      const name = reverted.data?.errorName ?? "";
      const args = (reverted.data?.args ?? []).map((a) => String(a));
      const known = REVERTS[name];
      if (known) {
        return new VeilError(known.code, `${action}: the chain refused it (${name})`, {
          context: args.length ? [`arguments: ${args.join(", ")}`] : [],
          hint: known.hint,
          status: known.status,
          cause: err,
        });
      }
      return new VeilError(
        "CHAIN_REVERTED",
        `${action}: the transaction reverted (${name || reverted.reason})`,
        {
          context: args.length ? [`arguments: ${args.join(", ")}`] : [],
          cause: err,
          status: 400,
        },
      );
    }
    if (err.walk((e) => e instanceof HttpRequestError) || /fetch failed|ECONNREFUSED/.test(err.message)) {
      return unreachable(action, rpcUrl, err);
    }
    return new VeilError("CHAIN_ERROR", `${action}: ${err.shortMessage}`, { cause: err, status: 502 });
  }
  if (err instanceof Error && /fetch failed|ECONNREFUSED|ECONNRESET/.test(err.message)) {
    return unreachable(action, rpcUrl, err);
  }
  return new VeilError("CHAIN_ERROR", `${action}: ${String((err as Error)?.message ?? err)}`, {
    cause: err,
    status: 502,
  });
}

function unreachable(action: string, rpcUrl: string, cause: unknown): VeilError {
  return new VeilError("CHAIN_UNREACHABLE", `${action}: the chain at ${rpcUrl} is not reachable`, {
    cause,
    status: 503,
    retryable: true,
    hint: "Start the network with `npm start` (or `veil up`), or point --rpc / network.json at a running node.",
  });
}
