import type { Hex } from "viem";
import { type AgentRecord, VeilChain } from "../chain/index.ts";
import { VeilError } from "../errors/index.ts";
import type { SecretSigner } from "./browser-secrets.ts";

// An agent's versions and what its owner can do with each: pin one as the one that runs (an
// upgrade, or a roll back), or remove one for good. The CLI (`veil agent rollback`,
// `remove-version`) and the web console decide and refuse with these same functions, so a
// refusal reads the same in both. Browser-safe: viem and web APIs only.

export type AgentVersion = { version: number; codeHash: Hex; removed: boolean };

/** A version as its owner sees it: whether it runs, and what can be done with it now. */
export type AgentVersionView = AgentVersion & {
  current: boolean;
  /** It can be pinned as the one that runs (not running, not removed). */
  canPin: boolean;
  /** It can be removed (not removed; neither the running version nor the running code). */
  canRemove: boolean;
};

/** The result of a pin or a removal: the transaction and the version it touched. */
export type VersionChange = { hash: Hex; agent: bigint; version: number; codeHash: Hex };

const sameHash = (a: Hex, b: Hex) => a.toLowerCase() === b.toLowerCase();

function numbered(version: number): number {
  if (!Number.isInteger(version) || version < 0) {
    throw new VeilError("BAD_ARGUMENT", `"${version}" is not a version number`, {
      hint: "Versions are numbered from 0: `veil agent versions` lists them.",
    });
  }
  return version;
}

/**
 * Each version with what can be done with it, from the agent's record and its versions on chain.
 *
 * @example
 * ```ts
 * const views = versionViews(await chain.getAgent(id), await chain.agentVersions(id));
 * views.filter((v) => v.canPin).map((v) => v.version); // [0, 1]
 * ```
 */
export function versionViews(record: AgentRecord, versions: readonly AgentVersion[]): AgentVersionView[] {
  return versions.map((v) => {
    const current = v.version === record.currentVersion;
    return {
      ...v,
      current,
      canPin: !current && !v.removed,
      // Removing a version removes its code: the running code cannot go, under any number.
      canRemove: !v.removed && !current && !sameHash(v.codeHash, record.codeHash),
    };
  });
}

/**
 * The version a roll back runs: the newest usable one before the current with other code than
 * runs now (a redeploy of the same bundle with new limits is skipped); `VERSION_NOT_FOUND` if none.
 *
 * @example
 * ```ts
 * const target = rollbackTarget(await chain.getAgent(id), await chain.agentVersions(id)); // 1
 * ```
 */
export function rollbackTarget(record: AgentRecord, versions: readonly AgentVersion[]): number {
  const earlier = versions
    .filter((v) => v.version < record.currentVersion && !v.removed && !sameHash(v.codeHash, record.codeHash))
    .pop();
  if (!earlier) {
    throw new VeilError(
      "VERSION_NOT_FOUND",
      `Agent #${record.id} has no usable version before ${record.currentVersion} with other code than it runs now`,
      { hint: "Name a version: `veil agent versions` lists them." },
    );
  }
  return earlier.version;
}

/**
 * Refuses, as the contract would, a version that cannot be pinned: unknown (`VERSION_NOT_FOUND`)
 * or removed (`VERSION_REMOVED`).
 *
 * @example
 * ```ts
 * checkPinnable(record, versions, 3); // throws VERSION_REMOVED if version 3 was removed
 * ```
 */
export function checkPinnable(record: AgentRecord, versions: readonly AgentVersion[], version: number): void {
  const target = versions[numbered(version)];
  if (!target)
    throw new VeilError("VERSION_NOT_FOUND", `Agent #${record.id} has no version ${version}`, {
      hint: "`veil agent versions` lists them (numbered from 0).",
    });
  if (target.removed)
    throw new VeilError("VERSION_REMOVED", `Version ${version} of agent #${record.id} is removed`, {
      hint: "A removed version can never run again: pin another, or deploy new code.",
    });
}

/**
 * Refuses, as the contract would, a version that cannot be removed: unknown, removed already, the
 * running one, or one with the running code (`VERSION_IS_CURRENT`).
 *
 * @example
 * ```ts
 * checkRemovable(record, versions, record.currentVersion); // throws VERSION_IS_CURRENT
 * ```
 */
export function checkRemovable(
  record: AgentRecord,
  versions: readonly AgentVersion[],
  version: number,
): void {
  const n = numbered(version);
  const target = versions[n];
  if (!target)
    throw new VeilError("VERSION_NOT_FOUND", `Agent #${record.id} has no version ${n}`, {
      hint: "`veil agent versions` lists them (numbered from 0).",
    });
  if (target.removed)
    throw new VeilError("VERSION_REMOVED", `Version ${n} of agent #${record.id} is removed already`, {
      hint: "`veil agent versions` lists the versions and which are removed.",
    });
  if (n === record.currentVersion)
    throw new VeilError(
      "VERSION_IS_CURRENT",
      `Version ${n} of agent #${record.id} is the one that runs now`,
      {
        hint: "Activate another version first (`veil agent rollback`), or deploy new code.",
      },
    );
  if (sameHash(target.codeHash, record.codeHash))
    throw new VeilError(
      "VERSION_IS_CURRENT",
      `Version ${n} of agent #${record.id} has the same code as version ${record.currentVersion}, which runs now; removing it would remove the running code`,
      { hint: "Activate a version with other code first (`veil agent rollback`), or deploy new code." },
    );
}

async function ownedAgent(
  chain: VeilChain,
  id: bigint,
): Promise<{ record: AgentRecord; versions: AgentVersion[] }> {
  const [record, versions] = await Promise.all([chain.getAgent(id), chain.agentVersions(id)]);
  // Refused here, before anything is signed, as the contract would (onlyAgentOwner).
  if (record.owner.toLowerCase() !== chain.account.toLowerCase()) {
    throw new VeilError("NOT_AGENT_OWNER", `${chain.account} does not own agent ${record.name}`, {
      status: 403,
      hint: `Sign with the account that owns it (${record.owner}).`,
    });
  }
  return { record, versions };
}

/**
 * Pins `version` as the one the agent runs (an upgrade or a roll back); without a version, rolls
 * back to `rollbackTarget`'s. `chain` signs: the owner's (`NOT_AGENT_OWNER` otherwise, before
 * anything is sent).
 *
 * @example
 * ```ts
 * const { version } = await pinAgentVersion(ownerChain, 7n); // rolled back to version 1
 * await pinAgentVersion(ownerChain, 7n, 2); // and forward again
 * ```
 */
export async function pinAgentVersion(
  chain: VeilChain,
  id: bigint,
  version?: number,
): Promise<VersionChange> {
  const { record, versions } = await ownedAgent(chain, id);
  const target = version === undefined ? rollbackTarget(record, versions) : version;
  checkPinnable(record, versions, target);
  const hash = await chain.activateAgentVersion(id, target);
  return { hash, agent: id, version: target, codeHash: versions[target]!.codeHash };
}

/**
 * Removes `version` for good (it can never run or be activated again); `checkRemovable`'s
 * refusals and `NOT_AGENT_OWNER` come before anything is sent.
 *
 * @example
 * ```ts
 * await removeAgentVersion(ownerChain, 7n, 0);
 * ```
 */
export async function removeAgentVersion(
  chain: VeilChain,
  id: bigint,
  version: number,
): Promise<VersionChange> {
  const { record, versions } = await ownedAgent(chain, id);
  checkRemovable(record, versions, version);
  const hash = await chain.removeAgentVersion(id, version);
  return { hash, agent: id, version, codeHash: versions[version]!.codeHash };
}

/**
 * The chain, signing as `signer` (a browser wallet, or a development chain's unlocked account):
 * what the console passes to `pinAgentVersion` and `removeAgentVersion`. No key enters the page.
 *
 * @example
 * ```ts
 * const owner = signingChain(connected.chain, await walletSigner(window.ethereum));
 * await pinAgentVersion(owner, 7n, 1);
 * ```
 */
export function signingChain(chain: VeilChain, signer: SecretSigner): VeilChain {
  return new VeilChain(chain.config, {
    account: { address: signer.address, type: "json-rpc" },
    signerTransport: signer.transport,
  });
}
