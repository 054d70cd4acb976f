import type { NetworkGlance, PublicNetwork, WorkerMining } from "../src/sdk/browser.ts";
import { formatVeil } from "../src/sdk/browser-glance.ts";

// Plain DOM, text only: everything shown comes from the chain or the gateway, so nothing is
// ever parsed as HTML (agent names and endpoints are whatever their owners wrote).

type Child = Node | string;

/** An element with attributes and children (strings become text nodes). */
export function h(tag: string, attributes: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

export const byId = (id: string): HTMLElement => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element;
};

/** `0x1234…abcd`, the whole value in its tooltip. */
export const short = (hex: string) =>
  h("span", { class: "mono", title: hex }, hex.length > 14 ? `${hex.slice(0, 8)}…${hex.slice(-6)}` : hex);

/** How long before the head block `at` was, both in chain time (the chain's clock is its own). */
function age(at: number, head: number): string {
  if (at <= 0) return "never";
  const s = Math.max(0, head - at);
  return s < 120
    ? `${s} s ago`
    : s < 7200
      ? `${Math.round(s / 60)} min ago`
      : `${Math.round(s / 3600)} h ago`;
}

export function fillBody(tableId: string, rows: HTMLElement[], empty: string, columns: number): void {
  const body = byId(tableId).querySelector("tbody");
  if (!body) throw new Error(`#${tableId} has no tbody`);
  body.replaceChildren(
    ...(rows.length ? rows : [h("tr", {}, h("td", { class: "empty", colspan: String(columns) }, empty))]),
  );
}

/** What does not change while the page is open: the network's name, endpoints, TEE. */
export function renderNetwork(network: PublicNetwork, gatewayUrl: string): void {
  byId("network-name").textContent = network.name;
  document.title = `Veil console: ${network.name}`;
  byId("insecure").hidden = !network.tee.insecure;
  byId("gateway-url").textContent = gatewayUrl;
  byId("rpc-url").textContent = network.chain.rpcUrl;
}

/** Every live figure of the landing page. */
export function renderGlance(glance: NetworkGlance): void {
  byId("chain-id").textContent = String(glance.chainId);
  byId("block").textContent = glance.block.toString();
  byId("epoch").textContent = glance.epoch.toString();
  const r = glance.rotation;
  byId("rotation").textContent =
    r.epoch === 0n
      ? `none yet; key traffic ${r.keyTrafficOpen ? "open" : "paused"}`
      : `to epoch ${r.epoch}: ${r.state}; contributed ${r.contributions}/${r.elected}, confirmed ${r.confirmations}/${r.elected}, old key destroyed ${r.destroyed}/${r.elected}; key traffic ${r.keyTrafficOpen ? "open" : "paused"}`;
  byId("worker-count").textContent = String(glance.workers.length);
  byId("agent-count").textContent = String(glance.agents.length);
  fillBody(
    "workers",
    glance.workers.map((w) =>
      h(
        "tr",
        { "data-address": w.address },
        h("td", {}, h("span", { class: "mono" }, w.address)),
        h("td", {}, h("code", {}, w.url)),
        h(
          "td",
          { class: "verdict" },
          h(
            "span",
            { class: w.insecure ? "badge-insecure" : w.attested ? "badge-ok" : "badge-bad" },
            w.verdict,
          ),
        ),
        h("td", { class: "status" }, w.status),
        h("td", {}, w.routed === undefined ? "unknown" : w.routed ? "yes" : "no"),
        h("td", {}, age(w.verifiedAt, glance.blockTime)),
        // Filled from the economy's reads (renderMining), which come after the first paint.
        h("td", { class: "stake" }, stakeCells.get(w.address)?.[0] ?? "…"),
        h("td", { class: "mining" }, stakeCells.get(w.address)?.[1] ?? "…"),
      ),
    ),
    "No worker is registered on chain.",
    8,
  );
  fillBody(
    "gatekeepers",
    glance.gatekeepers.map((g) =>
      h(
        "tr",
        { "data-address": g.address },
        h("td", {}, h("span", { class: "mono" }, g.address)),
        h("td", {}, h("code", {}, g.url)),
        h("td", {}, g.active ? "yes" : "no"),
      ),
    ),
    "No gatekeeper is registered on chain.",
    3,
  );
  fillBody(
    "agents",
    glance.agents.map((a) =>
      h(
        "tr",
        { "data-name": a.name },
        h("td", { class: "name" }, h("a", { href: `#/agents/${encodeURIComponent(a.name)}` }, a.name)),
        h("td", {}, a.id.toString()),
        h("td", {}, short(a.owner)),
        h("td", {}, `${a.version} of ${a.versions}`),
        h("td", {}, short(a.codeHash)),
        h("td", { class: "price" }, a.price === 0n ? "free" : `${formatVeil(a.price)} VEIL`),
        h("td", { class: "access" }, a.paused ? `${a.access} (paused)` : a.access),
        h("td", { class: "serving" }, a.serving === undefined ? "unknown" : String(a.serving)),
        h("td", { class: "verdict" }, agentVerdicts.get(`${a.name} ${a.codeHash}`) ?? "checking…"),
      ),
    ),
    "No agent yet: deploy one with `npx veil deploy ./hello-agent --name hello`.",
    9,
  );
}

/** Each worker's stake and mining, kept so that a repaint of the table keeps them. */
const stakeCells = new Map<string, [string, string]>();

/** The economy's figures for the workers' rows (stake pools and rewards). */
export function renderMining(mining: Map<string, WorkerMining>): void {
  for (const [address, m] of mining) {
    const cells: [string, string] = [
      m.poolId === 0n ? "no pool" : `${formatVeil(m.stake)} VEIL (pool ${m.poolId})`,
      m.state === "Idle" ? "Idle" : `${m.state} (${m.performance})`,
    ];
    stakeCells.set(address, cells);
    const row = document.querySelector(`#workers tr[data-address="${address}"]`);
    const [stake, state] = [row?.querySelector("td.stake"), row?.querySelector("td.mining")];
    if (stake) stake.textContent = cells[0];
    if (state) state.textContent = cells[1];
  }
}

/**
 * Verdicts computed in this browser, by agent name and code (a new version is checked again); a
 * failed one is checked again after a while (right after a deploy no worker serves it yet).
 */
const agentVerdicts = new Map<string, string>();
const checkedAt = new Map<string, { at: number; pass: boolean }>();
const RECHECK_FAILED_MS = 5_000;

export function renderAgentVerdict(name: string, codeHash: string, verdict: string, pass: boolean): void {
  agentVerdicts.set(`${name} ${codeHash}`, verdict);
  checkedAt.set(`${name} ${codeHash}`, { at: Date.now(), pass });
  const cell = document.querySelector(`#agents tr[data-name="${CSS.escape(name)}"] td.verdict`);
  if (cell) cell.textContent = verdict;
}

/** Whether the agent's current code has a verdict that need not be computed again now. */
export function hasAgentVerdict(name: string, codeHash: string): boolean {
  const checked = checkedAt.get(`${name} ${codeHash}`);
  return checked !== undefined && (checked.pass || Date.now() - checked.at < RECHECK_FAILED_MS);
}
/** A failure as a VeilError shows it: code, message, hint. Undefined clears it. */
export function renderError(
  error: { code?: string; message: string; hint?: string } | undefined,
  boxId = "error",
): void {
  const box = byId(boxId);
  box.hidden = error === undefined;
  if (!error) {
    box.replaceChildren();
    return;
  }
  box.replaceChildren(
    h("strong", {}, error.code ?? "ERROR"),
    ` ${error.message}`,
    ...(error.hint ? [h("br"), `Hint: ${error.hint}`] : []),
  );
}

export function renderUpdated(text: string): void {
  byId("updated").textContent = text;
}
