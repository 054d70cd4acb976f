import {
  type AgentVerdict,
  type ConnectedNetwork,
  connectNetwork,
  readAgentDetail,
  readNetworkGlance,
  VeilError,
  verifyAgent,
} from "../src/sdk/browser.ts";
import { refreshOwner, setUpOwner } from "./agent-owner.ts";
import { renderAgent, renderVerdict, routeOf, showPage, workerVerdicts } from "./agent-page.ts";
import { refreshGovernance, refreshStaking, setUpEconomy } from "./economy-pages.ts";
import { renderAgentChoice, setUpPlayground } from "./playground.ts";
import { renderError, renderGlance, renderNetwork, renderUpdated } from "./render.ts";
import { renderSecretSigner, setUpSecrets } from "./secrets.ts";

/** How often every figure is read again. Blocks come every second on a dev network. */
const POLL_MS = 2_000;

/** Waits `ms`, or less if the address changes (a link was followed: show the new page now). */
const pause = (ms: number) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      window.removeEventListener("hashchange", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    window.addEventListener("hashchange", done);
  });

function shown(err: unknown): { code?: string; message: string; hint?: string } {
  if (err instanceof VeilError)
    return { code: err.code, message: err.shortMessage, ...(err.hint ? { hint: err.hint } : {}) };
  return { message: err instanceof Error ? err.message : String(err) };
}

/** One round of the page the address names: every figure read again. */
async function refresh(connected: ConnectedNetwork, verdicts: Map<string, AgentVerdict>): Promise<void> {
  const { chain, gatewayUrl } = connected;
  const route = routeOf(window.location.hash);
  showPage(route);
  if (route.page === "landing") {
    renderGlance(await readNetworkGlance(chain, { gatewayUrl }));
    return;
  }
  if (route.page === "staking") {
    await refreshStaking(connected);
    return;
  }
  if (route.page === "governance") {
    await refreshGovernance(connected);
    return;
  }
  if (route.page === "playground") {
    renderAgentChoice(
      (await chain.listAgents()).map((a) => a.name),
      route.name,
    );
    return;
  }
  // The verdict takes a round of questions to every worker: it is computed beside the chain's
  // reads, and the last one shown meanwhile.
  const verdict = verifyAgent(chain, route.name).then((v) => {
    verdicts.set(route.name, v);
    return v;
  });
  verdict.catch(() => undefined); // shown below, unless the chain's reads failed first
  const agent = await readAgentDetail(chain, route.name, { gatewayUrl });
  renderAgent(agent, workerVerdicts(verdicts.get(route.name)));
  await Promise.all([renderSecretSigner(connected, agent), refreshOwner(connected, agent, shown)]);
  const v = await verdict;
  renderVerdict(v, new Date());
  renderAgent(agent, workerVerdicts(v));
}

/**
 * The console is served by the gateway (`/console/`), so the gateway is this page's origin: it
 * tells the page which chain and contracts the network has; the page then reads the chain
 * directly (its JSON-RPC answers CORS) and the gateway, every POLL_MS, without a reload.
 */
async function run(): Promise<void> {
  const gatewayUrl = window.location.origin;
  let connected: ConnectedNetwork | undefined;
  setUpPlayground(() => connected, shown);
  setUpEconomy(() => connected, shown);
  setUpOwner(() => connected, shown);
  setUpSecrets(
    () => connected,
    () => {
      const route = routeOf(window.location.hash);
      return route.page === "agent" ? route.name : undefined;
    },
    shown,
  );
  while (!connected) {
    try {
      connected = await connectNetwork(gatewayUrl);
    } catch (err) {
      renderError(shown(err));
      renderUpdated(`Cannot reach the gateway; trying again every ${POLL_MS / 1000} s…`);
      await pause(POLL_MS);
    }
  }
  renderNetwork(connected.network, gatewayUrl);
  const verdicts = new Map<string, AgentVerdict>();
  for (;;) {
    try {
      await refresh(connected, verdicts);
      renderError(undefined);
      renderUpdated(`Updated ${new Date().toLocaleTimeString()}, live every ${POLL_MS / 1000} s.`);
    } catch (err) {
      renderError(shown(err));
      renderUpdated(`Last read failed at ${new Date().toLocaleTimeString()}; trying again…`);
    }
    await pause(POLL_MS);
  }
}

void run();
