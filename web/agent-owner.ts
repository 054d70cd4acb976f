import {
  type AgentDetail,
  type AgentLogLine,
  type AgentUsage,
  type ConnectedNetwork,
  devAccountSigner,
  formatVeil,
  type LogCursor,
  openAgentLogs,
  pinAgentVersion,
  readAgentUsage,
  readSettledFees,
  removeAgentVersion,
  type SecretSigner,
  signingChain,
  unlockedDevAccounts,
  VeilError,
  versionViews,
  walletSigner,
} from "../src/sdk/browser.ts";
import { byId, fillBody, h, renderError, short } from "./render.ts";

// The agent page's owner part: each version with what can be done with it (pin, roll back,
// remove), signed as secrets are (an injected wallet; else, DEV ONLY, an account the dev chain's
// node holds unlocked, chosen here); the agent's logs, opened in this browser with the owner's
// log key, which the owner pastes (it opens logs and signs nothing; docs/adr/0025); and its
// requests and fees over time, summed over the workers that serve it, drawn as inline SVG.

type Shown = { code?: string; message: string; hint?: string };
type Injected = Parameters<typeof walletSigner>[0];

const injected = (): Injected | undefined => (window as { ethereum?: Injected }).ethereum;

/** The agent shown, as last read: what the buttons act on. */
let shownAgent: AgentDetail | undefined;

/** Who would sign the owner's transactions, said before anything is sent. */
async function renderOwnerSigner(network: ConnectedNetwork, agent: AgentDetail): Promise<void> {
  const note = byId("owner-signer");
  const select = byId("owner-account") as HTMLSelectElement;
  if (injected()) {
    note.className = "muted";
    note.textContent = `Your browser wallet signs (it will ask); only the owner ${agent.owner} can change versions.`;
    select.hidden = true;
    return;
  }
  const accounts = await unlockedDevAccounts(network.chain);
  if (select.options.length !== accounts.length) {
    select.replaceChildren(...accounts.map((a) => h("option", { value: a }, a)));
    // The owner, when the chain's node holds its account; any other is refused (NOT_AGENT_OWNER).
    const owner = accounts.find((a) => a.toLowerCase() === agent.owner.toLowerCase());
    if (owner) select.value = owner;
  }
  select.hidden = accounts.length === 0;
  if (accounts.length) {
    note.className = "insecure";
    note.dataset.signer = "dev-account";
    note.textContent =
      "DEV ONLY: signed by the development chain's own unlocked account chosen here, whose key is public. Never on a network that holds anything of value.";
  } else {
    note.className = "muted";
    note.textContent = `Only the owner ${agent.owner} can change versions: open this page in a browser with a wallet holding its key, or use \`veil agent rollback\`.`;
  }
}

async function ownerSigner(network: ConnectedNetwork): Promise<SecretSigner> {
  const wallet = injected();
  if (wallet) return walletSigner(wallet);
  const address = (byId("owner-account") as HTMLSelectElement).value as `0x${string}`;
  const dev = address ? await devAccountSigner(network.chain, address) : undefined;
  if (!dev) {
    throw new VeilError("NO_SIGNER", "Nothing in this browser can sign as the agent's owner", {
      hint: "Use a browser wallet holding the owner's key, or `veil agent rollback` from the CLI.",
    });
  }
  return dev;
}

/** The versions, newest first, each with the actions it allows now. */
function renderVersions(agent: AgentDetail): void {
  const record = {
    id: agent.id,
    owner: agent.owner,
    name: agent.name,
    currentVersion: agent.version,
    codeHash: agent.codeHash,
    versionCount: agent.versions.length,
  };
  const button = (action: string, version: number, label: string) =>
    h("button", { type: "button", "data-action": action, "data-version": String(version) }, label);
  fillBody(
    "agent-versions",
    versionViews(record, agent.versions)
      .reverse()
      .map((v) =>
        h(
          "tr",
          { "data-version": String(v.version) },
          h("td", {}, String(v.version)),
          h("td", {}, short(v.codeHash)),
          h("td", { class: "state" }, v.current ? "active" : v.removed ? "removed" : "kept"),
          h(
            "td",
            { class: "actions" },
            ...(v.canPin
              ? [button("pin", v.version, v.version < agent.version ? "Roll back to it" : "Pin")]
              : []),
            ...(v.canRemove ? [button("remove", v.version, "Remove")] : []),
          ),
        ),
      ),
    "No version.",
    4,
  );
}

async function act(
  network: ConnectedNetwork,
  action: "pin" | "rollback" | "remove",
  version: number | undefined,
  shown: (err: unknown) => Shown,
): Promise<void> {
  const agent = shownAgent;
  if (!agent) return;
  const result = byId("version-result");
  renderError(undefined, "version-error");
  if (
    action === "remove" &&
    !window.confirm(`Remove version ${version} of ${agent.name} for good? Its code can never run again.`)
  ) {
    return;
  }
  result.textContent = "Signing…";
  try {
    const signer = await ownerSigner(network);
    const chain = signingChain(network.chain, signer);
    const change =
      action === "remove"
        ? await removeAgentVersion(chain, agent.id, version ?? -1)
        : await pinAgentVersion(chain, agent.id, version);
    result.textContent =
      action === "remove"
        ? `Version ${change.version} removed for good (transaction ${change.hash}).`
        : `Now runs version ${change.version} (${change.codeHash.slice(0, 18)}…), transaction ${change.hash}.`;
  } catch (err) {
    result.textContent = "";
    renderError(shown(err), "version-error");
  }
}

// ── logs ──

/** The log key the owner pasted, for the agent it was pasted on; in this page's memory only. */
let logs: { agent: string; key: `0x${string}`; cursor: LogCursor; lines: AgentLogLine[] } | undefined;

function renderLogLines(): void {
  fillBody(
    "agent-logs",
    (logs?.lines ?? []).map((l) =>
      h(
        "tr",
        { class: `log-${l.level}` },
        h("td", {}, new Date(l.at).toLocaleTimeString()),
        h("td", {}, l.level),
        h("td", { class: "log-message" }, l.message),
        h("td", {}, short(l.worker)),
      ),
    ),
    logs
      ? "No log lines yet: what the agent prints (console.*) appears here."
      : "Paste the owner's log key to open them.",
    4,
  );
}

/** Fetches what is new since the last round and opens it here. */
async function readLogs(network: ConnectedNetwork, agent: AgentDetail): Promise<void> {
  if (!logs || logs.agent !== agent.name) return;
  const { lines, cursor } = await openAgentLogs(network.chain, agent.id, logs.key, logs.cursor);
  logs.cursor = cursor;
  logs.lines.push(...lines);
  // The last 500 lines are kept on the page.
  if (logs.lines.length > 500) logs.lines.splice(0, logs.lines.length - 500);
  renderLogLines();
}

// ── usage ──

const veil = (amount: bigint) => `${formatVeil(amount)} VEIL`;

/** Requests per bucket as bars, fees as a line over them, on one time axis. */
function usagePlot(usage: AgentUsage): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const el = (tag: string, attrs: Record<string, string>, text?: string) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const width = 640;
  const height = 160;
  const left = 40;
  const bottom = 20;
  const svg = el("svg", {
    width: String(width),
    height: String(height),
    role: "img",
    "aria-label": "Requests and fees over time",
  }) as SVGSVGElement;
  const buckets = usage.buckets;
  if (buckets.length === 0 || usage.bucketMs === 0) {
    svg.append(el("text", { x: String(left), y: "80", class: "plot-label" }, "No calls yet."));
    return svg;
  }
  // The axis spans the last hour at most, from the first bucket to now.
  const end = Math.max(Date.now(), buckets.at(-1)!.at + usage.bucketMs);
  const start = Math.max(buckets[0]!.at, end - 3_600_000);
  const span = Math.max(end - start, usage.bucketMs * 6);
  const x = (at: number) => left + ((at - (end - span)) / span) * (width - left - 10);
  const barWidth = Math.max(2, (usage.bucketMs / span) * (width - left - 10) - 1);
  const maxRequests = Math.max(...buckets.map((b) => b.requests));
  let maxFees = 0n;
  for (const b of buckets) if (b.fees > maxFees) maxFees = b.fees;
  const plotHeight = height - bottom - 10;
  const y = (fraction: number) => height - bottom - fraction * plotHeight;
  for (const b of buckets) {
    const top = y(b.requests / maxRequests);
    svg.append(
      el("rect", {
        x: String(x(b.at)),
        y: String(top),
        width: String(barWidth),
        height: String(height - bottom - top),
        class: "plot-total",
        "data-at": String(b.at),
        "data-requests": String(b.requests),
      }),
    );
  }
  if (maxFees > 0n) {
    const points = buckets
      .map((b) => `${x(b.at) + barWidth / 2},${y(Number((b.fees * 10_000n) / maxFees) / 10_000)}`)
      .join(" ");
    svg.append(el("polyline", { points, class: "plot-fees", fill: "none" }));
  }
  svg.append(
    el("text", { x: "0", y: "14", class: "plot-label" }, String(maxRequests)),
    el("text", { x: "0", y: String(height - bottom), class: "plot-label" }, "0"),
    el(
      "text",
      { x: String(left), y: String(height - 4), class: "plot-label" },
      `requests per ${usage.bucketMs / 1000} s (bars)${maxFees > 0n ? `, fees (line, up to ${veil(maxFees)})` : ""}; ${new Date(end - span).toLocaleTimeString()} to now`,
    ),
  );
  return svg;
}

async function renderUsage(network: ConnectedNetwork, agent: AgentDetail): Promise<void> {
  const feeEscrow = network.network.chain.economy?.feeEscrow;
  const [usage, settled] = await Promise.all([
    readAgentUsage(network.chain, agent.id),
    feeEscrow ? readSettledFees(network.chain, feeEscrow, agent.id) : undefined,
  ]);
  byId("usage-settled").textContent = settled
    ? settled.claims
      ? `${veil(settled.paid)} (${settled.calls} calls)`
      : "none yet"
    : "no fee escrow";
  byId("usage-requests").textContent = String(usage.total.requests);
  byId("usage-fees").textContent = veil(usage.total.fees);
  byId("usage-workers").textContent =
    `${usage.workers.answered.length} of ${usage.workers.answered.length + usage.workers.silent.length}`;
  byId("usage-plot").replaceChildren(usagePlot(usage));
}

/** The owner's part of the agent page, every poll: versions, who signs, logs, usage. */
export async function refreshOwner(
  network: ConnectedNetwork,
  agent: AgentDetail,
  shown: (err: unknown) => Shown,
): Promise<void> {
  if (shownAgent?.name !== agent.name) {
    logs = undefined;
    byId("version-result").textContent = "";
    renderError(undefined, "version-error");
    renderError(undefined, "logs-error");
    renderLogLines();
  }
  shownAgent = agent;
  renderVersions(agent);
  await Promise.all([
    renderOwnerSigner(network, agent),
    renderUsage(network, agent),
    readLogs(network, agent).catch((err: unknown) => {
      renderError(shown(err), "logs-error");
    }),
  ]);
}

/** Wires the version buttons (one listener for the table, whose rows each poll redraws) and the logs form. */
export function setUpOwner(
  connected: () => ConnectedNetwork | undefined,
  shown: (err: unknown) => Shown,
): void {
  byId("agent-versions").addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest("button[data-action]") : null;
    const network = connected();
    if (!target || !network) return;
    const action = target.getAttribute("data-action") === "remove" ? "remove" : "pin";
    void act(network, action, Number(target.getAttribute("data-version")), shown);
  });
  byId("version-rollback").addEventListener("click", () => {
    const network = connected();
    if (network) void act(network, "rollback", undefined, shown);
  });
  byId("logs-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const network = connected();
    const agent = shownAgent;
    const field = byId("logs-key") as HTMLInputElement;
    if (!network || !agent) return;
    const key = field.value.trim() as `0x${string}`;
    renderError(undefined, "logs-error");
    logs = { agent: agent.name, key, cursor: {}, lines: [] };
    readLogs(network, agent).then(
      () => {
        // Kept in memory for the next rounds; the field is cleared so it is not left on screen.
        field.value = "";
        byId("logs-state").textContent =
          "Opened in this browser with the key you gave; new lines appear as they come.";
      },
      (err: unknown) => {
        logs = undefined;
        renderLogLines();
        renderError(shown(err), "logs-error");
      },
    );
  });
}
