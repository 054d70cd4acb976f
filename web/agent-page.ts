import type { AgentDetail, AgentVerdict, VerifyCheck } from "../src/sdk/browser.ts";
import { byId, fillBody, h } from "./render.ts";

// The agent page (`#/agents/NAME`): what the chain says of the agent, which workers serve it,
// and the verdict of `verifyAgent`, computed in this browser (trusting the chain alone).

/** Which page the address names: the landing page, an agent's, or the playground (for an agent). */
export type Route =
  | { page: "landing" }
  | { page: "agent"; name: string }
  | { page: "playground"; name: string | undefined }
  | { page: "staking" }
  | { page: "governance" };

export function routeOf(hash: string): Route {
  const agent = /^#\/agents\/([^/]+)$/.exec(hash);
  if (agent?.[1]) return { page: "agent", name: decodeURIComponent(agent[1]) };
  const playground = /^#\/playground(?:\/([^/]+))?$/.exec(hash);
  if (playground) return { page: "playground", name: playground[1] && decodeURIComponent(playground[1]) };
  if (hash === "#/staking") return { page: "staking" };
  if (hash === "#/governance") return { page: "governance" };
  return { page: "landing" };
}

export function showPage(route: Route): void {
  byId("landing-page").hidden = route.page !== "landing";
  byId("agent-page").hidden = route.page !== "agent";
  byId("playground-page").hidden = route.page !== "playground";
  byId("staking-page").hidden = route.page !== "staking";
  byId("governance-page").hidden = route.page !== "governance";
  byId("econ-signer-box").hidden = route.page !== "staking" && route.page !== "governance";
}

/** The agent as the chain and the gateway describe it, every poll. */
export function renderAgent(agent: AgentDetail, verdicts: Map<string, string>): void {
  byId("agent-name").textContent = agent.name;
  byId("agent-try").setAttribute("href", `#/playground/${encodeURIComponent(agent.name)}`);
  byId("agent-id").textContent = agent.id.toString();
  byId("agent-version").textContent = `${agent.version} of ${agent.versions.length}`;
  byId("agent-price").textContent = agent.price === 0n ? "free" : `${agent.price} base units`;
  byId("agent-access").textContent = `${agent.access}${agent.paused ? " (paused)" : ""}`;
  byId("agent-owner").textContent = agent.owner;
  byId("agent-secrets").textContent = agent.secrets.length ? agent.secrets.join(", ") : "none";
  fillBody(
    "agent-workers",
    agent.serving.map((w) =>
      h(
        "tr",
        { "data-address": w.address },
        h("td", {}, h("span", { class: "mono" }, w.address)),
        h("td", {}, h("code", {}, w.url)),
        h("td", {}, w.status),
        h("td", { class: "verdict" }, verdicts.get(w.address.toLowerCase()) ?? "not checked yet"),
      ),
    ),
    agent.workers === undefined
      ? "The gateway could not be asked which workers serve it."
      : "No worker serves it right now.",
    4,
  );
  // The versions, with what the owner can do with each, are agent-owner.ts's.
}

/** "PASS (INSECURE: simulated TEE)", "PASS" or "FAIL", as `veil verify` ends. */
export function verdictLine(v: AgentVerdict): string {
  return v.pass ? (v.insecure ? "PASS (INSECURE: simulated TEE)" : "PASS") : "FAIL";
}

/** Each worker's one-line verdict, by address in lower case, for the serving workers' table. */
export function workerVerdicts(v: AgentVerdict | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const w of v?.workers ?? []) {
    const failed = w.checks.find((c) => !c.ok);
    out.set(
      w.address.toLowerCase(),
      w.pass
        ? w.insecure
          ? "PASS (INSECURE: simulated TEE)"
          : `PASS (${w.tee ?? "attested"})`
        : `FAIL: ${failed?.name ?? "not checked"}`,
    );
  }
  return out;
}

const check = (c: VerifyCheck) => h("li", { class: c.ok ? "ok" : "fail" }, `${c.name}: ${c.detail}`);

/** The verdict of `verifyAgent`, with every check it made, agent-wide and per worker. */
export function renderVerdict(v: AgentVerdict, at: Date): void {
  const badge = byId("agent-verdict");
  badge.textContent = verdictLine(v);
  badge.className = v.pass ? (v.insecure ? "badge-insecure" : "badge-ok") : "badge-bad";
  byId("agent-verdict-time").textContent = `checked at ${at.toLocaleTimeString()}`;
  byId("agent-checks").replaceChildren(
    ...v.checks.map(check),
    ...v.workers.map((w) =>
      h(
        "li",
        { class: w.pass ? "ok" : "fail", "data-worker": w.address },
        `worker ${w.address}${w.tee ? ` (${w.tee}${w.insecure ? ", INSECURE" : ""})` : ""}`,
        h("ul", {}, ...w.checks.map(check)),
      ),
    ),
  );
}
