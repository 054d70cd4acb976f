import {
  type ConnectedNetwork,
  devAccountSigner,
  economyOf,
  formatVeil,
  type PoolView,
  type ProposalView,
  parseVeil,
  readProposals,
  readStakingView,
  type SecretSigner,
  signedEconomy,
  unlockedDevAccounts,
  type VeilEconomy,
  VeilError,
  VoteType,
  walletSigner,
} from "../src/sdk/browser.ts";
import { byId, fillBody, h, renderError, short } from "./render.ts";

// The staking page (`#/staking`: pools and vaults with their figures, contribute, withdraw,
// delegate, a plot of stake per pool) and the governance page (`#/governance`: proposals with
// their state and votes; vote, queue, execute). Who signs: an injected wallet when there is one,
// else (DEV ONLY) an account the development chain's node holds unlocked, chosen on the page.

type Shown = { code?: string; message: string; hint?: string };
type Injected = Parameters<typeof walletSigner>[0];

const injected = (): Injected | undefined => (window as { ethereum?: Injected }).ethereum;

const economies = new WeakMap<ConnectedNetwork, VeilEconomy>();
function economy(connected: ConnectedNetwork): VeilEconomy {
  let found = economies.get(connected);
  if (!found) {
    found = economyOf(connected);
    economies.set(connected, found);
  }
  return found;
}

/** The account the page reads "your" figures for and signs as. */
async function chosenAccount(): Promise<`0x${string}` | undefined> {
  const wallet = injected();
  if (wallet) {
    const accounts = (await wallet.request({ method: "eth_accounts" })) as `0x${string}`[];
    return accounts[0];
  }
  const select = byId("econ-account") as HTMLSelectElement;
  return (select.value || undefined) as `0x${string}` | undefined;
}

/** Who signs, said before anything is sent; on a dev chain, the choice of its unlocked accounts. */
export async function renderEconomySigner(connected: ConnectedNetwork): Promise<void> {
  const note = byId("econ-signer");
  const select = byId("econ-account") as HTMLSelectElement;
  if (injected()) {
    note.className = "muted";
    note.textContent = "Your browser wallet signs (it will ask for each transaction).";
    select.hidden = true;
    return;
  }
  const accounts = await unlockedDevAccounts(connected.chain);
  const known = [...select.options].map((o) => o.value).join();
  if (known !== accounts.join()) {
    const was = select.value;
    select.replaceChildren(...accounts.map((a) => h("option", { value: a }, a)));
    if (accounts.includes(was as `0x${string}`)) select.value = was;
  }
  select.hidden = accounts.length === 0;
  if (accounts.length) {
    note.className = "insecure";
    note.dataset.signer = "dev-account";
    note.textContent =
      "DEV ONLY: signed by the development chain's own unlocked account chosen here, whose key is public. Never on a network that holds anything of value.";
  } else {
    note.className = "muted";
    note.textContent =
      "Nothing here can sign: open this page in a browser with a wallet, or use `veil pool` and `veil gov`.";
  }
}

async function signer(connected: ConnectedNetwork): Promise<SecretSigner> {
  const wallet = injected();
  if (wallet) return walletSigner(wallet);
  const address = await chosenAccount();
  const dev = address && (await devAccountSigner(connected.chain, address));
  if (!dev) {
    throw new VeilError("NO_SIGNER", "Nothing in this browser can sign", {
      hint: "Use a browser wallet, or the CLI (`veil pool contribute`, `veil gov vote`).",
    });
  }
  return dev;
}

const veil = (amount: bigint) => `${formatVeil(amount)} VEIL`;
const pct = (bps: number) => `${bps / 100}%`;

/** Bars of total stake per pool (free stake darker inside), drawn as inline SVG. */
function stakePlot(pools: PoolView[]): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const el = (tag: string, attrs: Record<string, string>, text?: string) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const row = 26;
  const width = 640;
  const label = 90;
  const svg = el("svg", {
    width: String(width),
    height: String(Math.max(1, pools.length) * row + 8),
    role: "img",
    "aria-label": "Stake per pool",
  }) as SVGSVGElement;
  // bigints: Math.max takes none.
  let max = 0n;
  for (const p of pools) if (p.totalStake > max) max = p.totalStake;
  const scale = (v: bigint) =>
    (max === 0n ? 0 : Number((v * 10_000n) / max) / 10_000) * (width - label - 160);
  pools.forEach((p, i) => {
    const y = i * row + 4;
    svg.append(
      el("text", { x: "0", y: String(y + 15), class: "plot-label" }, `pool #${p.id}`),
      el("rect", {
        x: String(label),
        y: String(y),
        width: String(scale(p.totalStake)),
        height: "18",
        class: "plot-total",
        "data-pool": String(p.id),
      }),
      el("rect", {
        x: String(label),
        y: String(y),
        width: String(scale(p.freeStake)),
        height: "18",
        class: "plot-free",
      }),
      el(
        "text",
        { x: String(label + scale(p.totalStake) + 6), y: String(y + 15), class: "plot-label" },
        veil(p.totalStake),
      ),
    );
  });
  return svg;
}

/** Every figure of the staking page, read again each poll. */
export async function refreshStaking(connected: ConnectedNetwork): Promise<void> {
  await renderEconomySigner(connected);
  const account = await chosenAccount();
  const view = await readStakingView(economy(connected), connected.chain, account);
  byId("you-balance").textContent = view.account ? veil(view.account.balance) : "…";
  byId("you-votes").textContent = view.account ? veil(view.account.votes) : "…";
  byId("you-delegate").textContent = view.account
    ? /^0x0{40}$/.test(view.account.delegate)
      ? "nobody (delegate to vote)"
      : view.account.delegate
    : "…";
  fillBody(
    "pools",
    view.pools.map((p) =>
      h(
        "tr",
        { "data-pool": String(p.id) },
        h("td", {}, `#${p.id}`),
        h("td", {}, short(p.owner)),
        h("td", {}, pct(p.commissionBps)),
        h("td", { class: "total-stake" }, veil(p.totalStake)),
        h("td", { class: "free-stake" }, veil(p.freeStake)),
        h("td", { class: "workers" }, String(p.workers)),
        h(
          "td",
          { class: "your-share" },
          p.you
            ? `${formatVeil(p.you.shares)} shares, worth ${veil(p.you.value)}${p.you.queued ? ` (${formatVeil(p.you.queued)} queued)` : ""}`
            : "…",
        ),
      ),
    ),
    "No pool yet: `veil pool create --commission 10`.",
    7,
  );
  byId("stake-plot").replaceChildren(stakePlot(view.pools));
  fillBody(
    "vaults",
    view.vaults.map((v, i) =>
      h(
        "tr",
        { "data-vault": v.address },
        h("td", {}, `#${i + 1} `, short(v.address)),
        h("td", {}, short(v.owner)),
        h("td", {}, pct(v.commissionBps)),
        h("td", { class: "assets" }, veil(v.totalAssets)),
        h("td", {}, v.pools.map((id) => `#${id}`).join(", ") || "none"),
        h("td", {}, String(v.queueLength)),
        h(
          "td",
          { class: "your-share" },
          v.you
            ? `${formatVeil(v.you.shares)} shares, worth ${veil(v.you.value)}${v.you.queued ? ` (${formatVeil(v.you.queued)} queued)` : ""}`
            : "…",
        ),
      ),
    ),
    "No vault yet: `veil vault create --commission 5`.",
    7,
  );
}

/** The proposals, newest first, each with what may be done with it now. */
export async function refreshGovernance(connected: ConnectedNetwork): Promise<void> {
  await renderEconomySigner(connected);
  const proposals = await readProposals(economy(connected));
  shownProposals = proposals;
  const button = (action: string, label: string, id: bigint) =>
    h("button", { type: "button", "data-action": action, "data-proposal": String(id) }, label);
  fillBody(
    "proposals",
    proposals.map((p) =>
      h(
        "tr",
        { "data-proposal": String(p.id) },
        h("td", {}, short(p.id.toString())),
        h("td", {}, p.description),
        h("td", { class: "state" }, p.state),
        h("td", { class: "for" }, veil(p.votes.forVotes)),
        h("td", { class: "against" }, veil(p.votes.against)),
        h("td", { class: "abstain" }, veil(p.votes.abstain)),
        h(
          "td",
          { class: "eta" },
          p.eta
            ? new Date(Number(p.eta) * 1000).toISOString()
            : `voting ends ${new Date(Number(p.voteEnd) * 1000).toISOString()}`,
        ),
        h(
          "td",
          { class: "actions" },
          ...(p.state === "Active"
            ? [
                button("for", "For", p.id),
                button("against", "Against", p.id),
                button("abstain", "Abstain", p.id),
              ]
            : p.state === "Succeeded"
              ? [button("queue", "Queue", p.id)]
              : p.state === "Queued"
                ? [button("execute", "Execute", p.id)]
                : []),
        ),
      ),
    ),
    "No proposal yet: `veil gov propose --set … --description …`.",
    8,
  );
}

let shownProposals: ProposalView[] = [];

/** Runs one signed action, showing its progress, result or VeilError. */
async function act(prefix: string, shown: (err: unknown) => Shown, fn: () => Promise<string>): Promise<void> {
  const result = byId(`${prefix}-result`);
  result.textContent = "Sending…";
  renderError(undefined, `${prefix}-error`);
  try {
    result.textContent = await fn();
  } catch (err) {
    result.textContent = "";
    renderError(shown(err), `${prefix}-error`);
  }
}

function amountOf(id: string, what: string): bigint {
  const value = (byId(id) as HTMLInputElement).value.trim();
  try {
    const amount = parseVeil(value);
    if (amount > 0n) return amount;
  } catch {}
  throw new VeilError("BAD_ARGUMENT", `"${value}" is not a valid ${what}`, {
    hint: "Give a positive number of VEIL in token units, e.g. 1000 or 2.5.",
  });
}

function poolOf(): bigint {
  const value = (byId("stake-pool") as HTMLInputElement).value.trim().replace(/^#/, "");
  if (!/^[1-9]\d*$/.test(value)) {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not a pool id`, {
      hint: "A pool id is a whole number from 1.",
    });
  }
  return BigInt(value);
}

/** The vault the form names: its number in the factory's list (as `veil vault create` prints it) or its address. */
async function vaultOf(economy: VeilEconomy): Promise<`0x${string}`> {
  const value = (byId("vault-address") as HTMLInputElement).value.trim().replace(/^#/, "");
  if (/^0x[0-9a-fA-F]{40}$/.test(value)) return value as `0x${string}`;
  const vaults = await economy.vaults.listVaults();
  const found = /^[1-9]\d*$/.test(value) ? vaults[Number(value) - 1] : undefined;
  if (!found) {
    throw new VeilError("BAD_ARGUMENT", `"${value}" is not a vault`, {
      hint: `Give a vault's number (1 to ${vaults.length}, as listed) or its address.`,
    });
  }
  return found;
}

/** Wires the staking page's forms and the governance page's buttons. */
export function setUpEconomy(
  connected: () => ConnectedNetwork | undefined,
  shown: (err: unknown) => Shown,
): void {
  const signed = async () => {
    const network = connected();
    if (!network) throw new VeilError("NOT_CONNECTED", "The page has not reached the network yet");
    const s = await signer(network);
    return { s, economy: signedEconomy(economy(network), s), reader: economy(network) };
  };
  const by = (s: SecretSigner) =>
    s.kind === "dev-account" ? "the DEV ONLY development account" : "your wallet";
  byId("stake-form").addEventListener("submit", (event) => event.preventDefault());
  byId("stake-contribute").addEventListener("click", () => {
    void act("stake", shown, async () => {
      const pool = poolOf();
      const amount = amountOf("stake-amount", "amount");
      const { s, economy } = await signed();
      const hash = await economy.pools.contribute(pool, amount);
      return `Contributed ${veil(amount)} to pool #${pool} (token approval first if needed), transaction ${hash}, signed by ${by(s)}.`;
    });
  });
  byId("stake-withdraw").addEventListener("click", () => {
    void act("stake", shown, async () => {
      const pool = poolOf();
      const shares = amountOf("stake-amount", "number of shares");
      const { s, economy } = await signed();
      const hash = await economy.pools.withdrawFromPool(pool, shares);
      return `Withdrew ${formatVeil(shares)} shares from pool #${pool} (paid from free stake, or queued), transaction ${hash}, signed by ${by(s)}.`;
    });
  });
  byId("vault-form").addEventListener("submit", (event) => event.preventDefault());
  byId("vault-deposit").addEventListener("click", () => {
    void act("vault", shown, async () => {
      const amount = amountOf("vault-amount", "amount");
      const { s, economy: signedBy, reader } = await signed();
      const vault = await vaultOf(reader);
      // vaultDeposit approves the vault first when the allowance is short, as contribute does.
      const hash = await signedBy.vaults.vaultDeposit(vault, amount);
      return `Deposited ${veil(amount)} into vault ${vault} (token approval first if needed), transaction ${hash}, signed by ${by(s)}.`;
    });
  });
  byId("vault-withdraw").addEventListener("click", () => {
    void act("vault", shown, async () => {
      const shares = amountOf("vault-amount", "number of shares");
      const { s, economy: signedBy, reader } = await signed();
      const vault = await vaultOf(reader);
      const hash = await signedBy.vaults.vaultWithdraw(vault, shares);
      return `Withdrew ${formatVeil(shares)} shares from vault ${vault} (paid from its idle VEIL, or queued), transaction ${hash}, signed by ${by(s)}.`;
    });
  });
  byId("delegate-form").addEventListener("submit", (event) => {
    event.preventDefault();
    void act("stake", shown, async () => {
      const { s, economy } = await signed();
      const to = ((byId("delegate-to") as HTMLInputElement).value.trim() || s.address) as `0x${string}`;
      if (!/^0x[0-9a-fA-F]{40}$/.test(to)) {
        throw new VeilError("BAD_ARGUMENT", `"${to}" is not an address`, {
          hint: "Leave it empty to delegate to yourself (to vote directly).",
        });
      }
      const hash = await economy.token.delegateVotes(to);
      return `Votes of ${s.address} delegated to ${to}, transaction ${hash}, signed by ${by(s)}.`;
    });
  });
  byId("proposals").addEventListener("click", (event) => {
    const target = event.target as HTMLElement;
    const action = target.dataset.action;
    const id = target.dataset.proposal;
    if (!action || !id) return;
    void act("gov", shown, async () => {
      const proposal = shownProposals.find((p) => p.id.toString() === id);
      if (!proposal) throw new VeilError("PROPOSAL_NOT_FOUND", `No proposal ${id}`);
      const { s, economy } = await signed();
      const g = economy.governance;
      const support = { for: VoteType.For, against: VoteType.Against, abstain: VoteType.Abstain }[action];
      const hash =
        support !== undefined
          ? await g.castVote(proposal.id, support)
          : action === "queue"
            ? await g.queueProposal(proposal.actions, proposal.description)
            : await g.executeProposal(proposal.actions, proposal.description);
      return `${support !== undefined ? `Voted ${action} on` : action === "queue" ? "Queued" : "Executed"} proposal ${id.slice(0, 10)}…, transaction ${hash}, signed by ${by(s)}.`;
    });
  });
}
