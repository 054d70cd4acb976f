import { type Hex, hexToBytes } from "viem";
import type { VeilChain } from "../chain/index.ts";
import { VeilError } from "../errors/index.ts";
import { type AgentIdentities, agentIdOf } from "./agent-admin.ts";
import type { VerifiedAgentIdentity } from "./identity.ts";

// An agent's secrets, sealed here on the client to its certified key and its epoch's cluster key
// (ADR 0013): only ciphertext leaves this process.

/**
 * Sets secrets, each encrypted here to the agent's certified key after its certificate chain
 * checks out; one transaction per key. A secret sealed to an epoch that ended meanwhile is
 * sealed again to the new keys, once.
 *
 * @example
 * const hashes = await setAgentSecrets(chain, identities, "hello", { OPENAI_KEY: "sk-…" });
 */
export async function setAgentSecrets(
  chain: VeilChain,
  identities: AgentIdentities,
  nameOrId: string,
  entries: Record<string, string>,
  onProgress?: (m: string) => void,
): Promise<Hex[]> {
  let identity = await identities.get(nameOrId);
  const { sealAgentSecret } = await import("../crypto/agent-envelopes.ts");
  // Sealed to the agent's key and to its epoch's cluster key (ADR 0013).
  const sealFor = (who: VerifiedAgentIdentity, name: string, value: string): Hex =>
    `0x${Buffer.from(
      sealAgentSecret(
        {
          agentEncryptionKey: hexToBytes(who.encryptionKey),
          clusterSigningPublicKey: hexToBytes(who.clusterSigningPublicKey),
          epoch: who.epoch,
        },
        who.id,
        name,
        value,
      ),
    ).toString("hex")}`;
  const hashes: Hex[] = [];
  for (const [name, value] of Object.entries(entries)) {
    try {
      hashes.push(await chain.setSecret(identity.id, name, sealFor(identity, name, value)));
    } catch (err) {
      // The chain refuses a secret sealed to an ended epoch: re-read the keys once and reseal.
      if (!(err instanceof VeilError) || err.code !== "SECRET_EPOCH_STALE") throw err;
      identities.forget(nameOrId);
      identity = await identities.get(nameOrId);
      hashes.push(await chain.setSecret(identity.id, name, sealFor(identity, name, value)));
    }
    onProgress?.(
      `set ${name} (encrypted to ${identity.encryptionKey.slice(0, 18)}…, epoch ${identity.epoch})`,
    );
  }
  return hashes;
}

/**
 * Removes one of the agent's secrets (owner only).
 *
 * @example
 * await unsetAgentSecret(chain, "hello", "OPENAI_KEY");
 */
export async function unsetAgentSecret(chain: VeilChain, nameOrId: string, name: string): Promise<Hex> {
  return chain.unsetSecret(await agentIdOf(chain, nameOrId), name);
}

/**
 * The names of the agent's secrets (never their values).
 *
 * @example
 * const names = await agentSecretNames(chain, "hello"); // ["OPENAI_KEY"]
 */
export async function agentSecretNames(chain: VeilChain, nameOrId: string): Promise<readonly string[]> {
  return chain.secretNames(await agentIdOf(chain, nameOrId));
}
