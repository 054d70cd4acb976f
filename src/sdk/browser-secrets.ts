import {
  createWalletClient,
  custom,
  defineChain,
  type EIP1193Provider,
  type Hex,
  http,
  type Transport,
  type Chain as ViemChain,
} from "viem";
import { agentKeysAbi } from "../chain/abi.ts";
import { chainError, type VeilChain } from "../chain/index.ts";
import { sealAgentSecret } from "../crypto/agent-envelopes.ts";
import { fromHex, toHex } from "../crypto/bytes.ts";
import { VeilError } from "../errors/index.ts";
import { resolveAgentId, type VerifiedAgentIdentity, verifyAgentIdentity } from "./identity.ts";

// Setting an agent's secrets from a browser (the web console): each value is sealed in the page
// to the agent's certified keys (after their certificates check out up to the master key on
// chain), and only ciphertext goes into the transaction, signed by the agent's owner. Browser-
// safe: viem, @noble and web APIs only.

/** Who signs the owner's transaction: an injected wallet, or (development networks only) the chain's own unlocked account. */
export type SecretSigner = {
  address: Hex;
  /**
   * "wallet": an EIP-1193 provider in the page (a browser wallet) signs, after its user agrees.
   * "dev-account": the development chain's node signs for one of its unlocked accounts, whose
   * keys are public: DEV ONLY, never on a network that holds anything of value.
   */
  kind: "wallet" | "dev-account";
  transport: Transport;
};

/**
 * The development chain's own signer for `address`, if its node holds that account unlocked
 * (`eth_accounts`, as the embedded chain does for its public development accounts); undefined
 * otherwise. DEV ONLY: anyone who can reach that node can sign as that account.
 */
export async function devAccountSigner(chain: VeilChain, address: Hex): Promise<SecretSigner | undefined> {
  let accounts: Hex[];
  try {
    // A wallet method, which viem's public client does not type: asked of the same endpoint.
    const rpc = http(chain.config.rpcUrl, { retryCount: 0 })({});
    accounts = (await rpc.request({ method: "eth_accounts" })) as Hex[];
  } catch {
    return undefined;
  }
  const unlocked = accounts.some((a) => a.toLowerCase() === address.toLowerCase());
  return unlocked
    ? { address, kind: "dev-account", transport: http(chain.config.rpcUrl, { retryCount: 0 }) }
    : undefined;
}

/** The account an injected EIP-1193 wallet (`window.ethereum`) lets this page use; asks its user. */
export async function walletSigner(provider: EIP1193Provider): Promise<SecretSigner> {
  let accounts: readonly Hex[];
  try {
    accounts = await provider.request({ method: "eth_requestAccounts" });
  } catch (err) {
    throw new VeilError("WALLET_REFUSED", "The wallet gave this page no account", {
      cause: err,
      hint: "Unlock the wallet and allow this page to use the account that owns the agent.",
    });
  }
  const address = accounts[0];
  if (!address) {
    throw new VeilError("WALLET_REFUSED", "The wallet gave this page no account", {
      hint: "Unlock the wallet and allow this page to use the account that owns the agent.",
    });
  }
  return { address, kind: "wallet", transport: custom(provider) };
}

export type SecretSet = {
  name: string;
  hash: Hex;
  /** The agent's certified keys it was sealed to. */
  identity: VerifiedAgentIdentity;
  /** The ciphertext that went on chain (what anyone can read of the secret). */
  ciphertextBytes: number;
};

/**
 * Seals `value` here to the agent's certified keys (the agent's X25519 key, then its epoch's
 * cluster key; ADR 0013) and sets it as secret `name` in one transaction signed by `signer`,
 * which must be the agent's owner (`NOT_AGENT_OWNER` otherwise, before anything is sent).
 *
 * @example
 * ```ts
 * const { chain } = await connectNetwork(location.origin);
 * const signer = await walletSigner(window.ethereum);
 * const set = await setSecretFromBrowser(chain, "hello", "API_KEY", "s3cret", signer);
 * console.log(set.hash);
 * ```
 */
export async function setSecretFromBrowser(
  chain: VeilChain,
  nameOrId: string,
  name: string,
  value: string,
  signer: SecretSigner,
): Promise<SecretSet> {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) {
    throw new VeilError("SECRET_NAME_INVALID", `"${name}" is not a secret name`, {
      hint: "Use letters, digits and underscores, not starting with a digit (as environment variables).",
    });
  }
  const id = await resolveAgentId(chain, nameOrId);
  const agent = await chain.getAgent(id);
  if (agent.owner.toLowerCase() !== signer.address.toLowerCase()) {
    throw new VeilError("NOT_AGENT_OWNER", `${signer.address} does not own agent ${agent.name}`, {
      status: 403,
      hint: `Sign with the account that owns it (${agent.owner}).`,
    });
  }
  const viemChain: ViemChain = defineChain({
    id: chain.config.chainId,
    name: `veil-${chain.config.chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [chain.config.rpcUrl] } },
  });
  const wallet = createWalletClient({
    account: signer.address,
    chain: viemChain,
    transport: signer.transport,
  });
  const send = async (identity: VerifiedAgentIdentity) => {
    const ciphertext: Hex = `0x${toHex(
      sealAgentSecret(
        {
          agentEncryptionKey: fromHex(identity.encryptionKey),
          clusterSigningPublicKey: fromHex(identity.clusterSigningPublicKey),
          epoch: identity.epoch,
        },
        identity.id,
        name,
        value,
      ),
    )}`;
    const action = `set secret ${name} of agent ${identity.id}`;
    try {
      const call = {
        address: chain.config.contracts.agentKeys,
        abi: agentKeysAbi,
        functionName: "setSecret",
        args: [identity.id, name, ciphertext],
        account: signer.address,
      } as const;
      // Simulated first, so that a refusal comes back decoded (NOT_AGENT_OWNER, SECRET_EPOCH_STALE).
      await chain.public.simulateContract(call);
      const hash = await wallet.writeContract({ ...call, chain: viemChain });
      const receipt = await chain.public.waitForTransactionReceipt({ hash, pollingInterval: 250 });
      if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
      return { name, hash, identity, ciphertextBytes: (ciphertext.length - 2) / 2 };
    } catch (err) {
      throw chainError(err, action, chain.config.rpcUrl);
    }
  };
  try {
    return await send(await verifyAgentIdentity(chain, id));
  } catch (err) {
    // The chain refuses a secret sealed to an ended epoch: read the keys again once and reseal.
    if (!(err instanceof VeilError) || err.code !== "SECRET_EPOCH_STALE") throw err;
    return send(await verifyAgentIdentity(chain, id));
  }
}
