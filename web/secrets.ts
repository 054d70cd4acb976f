import {
  type AgentDetail,
  type ConnectedNetwork,
  devAccountSigner,
  type SecretSigner,
  setSecretFromBrowser,
  VeilError,
  walletSigner,
} from "../src/sdk/browser.ts";
import { byId, renderError } from "./render.ts";

// Setting an agent's secrets from its page: sealed in this browser to the agent's certified
// keys, set on chain by its owner. The owner signs with a browser wallet (an injected EIP-1193
// provider) when there is one, else, on a development chain whose node holds the owner's account
// unlocked, with that account: DEV ONLY, said so on the page.

type Shown = { code?: string; message: string; hint?: string };
type Injected = Parameters<typeof walletSigner>[0];

const injected = (): Injected | undefined => (window as { ethereum?: Injected }).ethereum;

/** The development chain's signers, by owner, asked once (`eth_accounts`). */
const devSigners = new Map<string, Promise<SecretSigner | undefined>>();

function devSigner(network: ConnectedNetwork, owner: string): Promise<SecretSigner | undefined> {
  let found = devSigners.get(owner);
  if (!found) {
    found = devAccountSigner(network.chain, owner as `0x${string}`);
    devSigners.set(owner, found);
  }
  return found;
}

/** Who would sign for the owner, said before anything is sent. */
export async function renderSecretSigner(network: ConnectedNetwork, agent: AgentDetail): Promise<void> {
  const note = byId("secret-signer");
  const form = byId("secret-form");
  if (injected()) {
    note.className = "muted";
    note.textContent = `Your browser wallet signs (it will ask); only the owner ${agent.owner} can set secrets.`;
    form.hidden = false;
    return;
  }
  const dev = await devSigner(network, agent.owner);
  if (dev) {
    note.className = "insecure";
    note.dataset.signer = "dev-account";
    note.textContent = `DEV ONLY: signed as the owner ${dev.address} by the development chain's own unlocked account, whose key is public. Never on a network that holds anything of value.`;
    form.hidden = false;
    return;
  }
  note.className = "muted";
  note.textContent = `Only the owner ${agent.owner} can set secrets: open this page in a browser with a wallet holding its key, or use \`veil secrets set\`.`;
  form.hidden = true;
}

/** Wires the form: each submit seals the value here and sets it on chain. */
export function setUpSecrets(
  connected: () => ConnectedNetwork | undefined,
  agentName: () => string | undefined,
  shown: (err: unknown) => Shown,
): void {
  byId("secret-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const network = connected();
    const name = agentName();
    if (network && name) void setOne(network, name, shown);
  });
}

async function setOne(
  network: ConnectedNetwork,
  agent: string,
  shown: (err: unknown) => Shown,
): Promise<void> {
  const button = byId("secret-set") as HTMLButtonElement;
  const nameField = byId("secret-name") as HTMLInputElement;
  const valueField = byId("secret-value") as HTMLInputElement;
  const result = byId("secret-result");
  button.disabled = true;
  result.textContent = "Sealing in this browser…";
  renderError(undefined, "secret-error");
  try {
    const owner = (await network.chain.getAgent(await network.chain.agentIdOf(agent))).owner;
    const wallet = injected();
    const signer = wallet ? await walletSigner(wallet) : await devSigner(network, owner);
    if (!signer) {
      throw new VeilError("NO_SIGNER", "Nothing in this browser can sign as the agent's owner", {
        hint: "Use a browser wallet holding the owner's key, or `veil secrets set` from the CLI.",
      });
    }
    const set = await setSecretFromBrowser(network.chain, agent, nameField.value, valueField.value, signer);
    valueField.value = "";
    result.textContent = `Set ${set.name}: sealed here to the agent's key ${set.identity.encryptionKey.slice(0, 18)}… and its epoch ${set.identity.epoch} cluster key (certificates checked up to the master key on chain); ${set.ciphertextBytes} bytes of ciphertext on chain, transaction ${set.hash}, signed by ${signer.kind === "dev-account" ? "the DEV ONLY development account" : "your wallet"}.`;
  } catch (err) {
    result.textContent = "";
    renderError(shown(err), "secret-error");
  } finally {
    button.disabled = false;
  }
}
