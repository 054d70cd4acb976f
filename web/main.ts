import type { AgentVerdict } from "../src/sdk/browser.ts";
import {
  type ConnectedNetwork,
  connectNetwork,
  type NetworkGlance,
  readAgentDetail,
  readNetworkGlance,
  VeilError,
} from "../src/sdk/browser-glance.ts";
import { renderAgent, renderVerdict, routeOf, showPage, verdictLine, workerVerdicts } from "./agent-page.ts";
import {
  hasAgentVerdict,
  renderAgentVerdict,
  renderError,
  renderGlance,
  renderMining,
  renderNetwork,
  renderUpdated,
} from "./render.ts";

// The first load is the landing page's: the pages that act or verify (an agent's verdict and
// secrets, the playground, staking, governance) and the SDK's paths they use are loaded when
// one is first shown, their forms wired then (esbuild splits them: build.ts).
let connected: ConnectedNetwork | undefined;
const loaded = <T>(load: () => Promise<T>) => {
  let module: Promise<T> | undefined;
  return () => {
    module ??= load();
    return module;
  };
};
const sdk = loaded(() => import("../src/sdk/browser.ts"));
const economyPages = loaded(async () => {
  const m = await import("./economy-pages.ts");
  m.setUpEconomy(() => connected, shown);
  return m;
});
const playground = loaded(async () => {
  const m = await import("./playground.ts");
  m.setUpPlayground(() => connected, shown);
  return m;
});
const owner = loaded(async () => {
  const m = await import("./agent-owner.ts");
  m.setUpOwner(() => connected, shown);
  return m;
});
const secrets = loaded(async () => {
  const m = await import("./secrets.ts");
  m.setUpSecrets(
    () => connected,
    () => {
      const route = routeOf(window.location.hash);
      return route.page === "agent" ? route.name : undefined;
    },
    shown,
  );
  return m;
});

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
let checking = false;

/**
 * Verifies, in this browser, each listed agent whose current code has no verdict yet, one at a
 * time (each is a round of questions to every worker serving it), in the background.
 */
async function checkAgents(connected: ConnectedNetwork, glance: NetworkGlance): Promise<void> {
  if (checking) return;
  checking = true;
  try {
    const { verifyAgent } = await sdk();
    for (const a of glance.agents) {
      if (hasAgentVerdict(a.name, a.codeHash)) continue;
      const [line, pass] = await verifyAgent(connected.chain, a.name).then(
        (v) => [verdictLine(v), v.pass] as const,
        (err: unknown) =>
          [err instanceof VeilError ? `not verified: ${err.code}` : "not verified", false] as const,
      );
      renderAgentVerdict(a.name, a.codeHash, line, pass);
    }
  } finally {
    checking = false;
  }
}

async function refresh(connected: ConnectedNetwork, verdicts: Map<string, AgentVerdict>): Promise<void> {
  const { chain, gatewayUrl } = connected;
  const route = routeOf(window.location.hash);
  showPage(route);
  if (route.page === "landing") {
    const glance = await readNetworkGlance(chain, { gatewayUrl });
    renderGlance(glance);
    void checkAgents(connected, glance);
    const { economyOf, readWorkerMining } = await sdk();
    if (connected.network.chain.economy) {
      renderMining(
        await readWorkerMining(
          economyOf(connected),
          glance.workers.map((w) => w.address),
        ),
      );
    }
    return;
  }
  if (route.page === "staking") {
    await (await economyPages()).refreshStaking(connected);
    return;
  }
  if (route.page === "governance") {
    await (await economyPages()).refreshGovernance(connected);
    return;
  }
  if (route.page === "playground") {
    const page = await playground();
    page.renderAgentChoice(
      (await chain.listAgents()).map((a) => a.name),
      route.name,
    );
    await page.renderCallerChoice(connected);
    return;
  }
  // The verdict takes a round of questions to every worker: it is computed beside the chain's
  // reads, and the last one shown meanwhile.
  const { verifyAgent } = await sdk();
  const verdict = verifyAgent(chain, route.name).then((v) => {
    verdicts.set(route.name, v);
    return v;
  });
  verdict.catch(() => undefined); // shown below, unless the chain's reads failed first
  const agent = await readAgentDetail(chain, route.name, { gatewayUrl });
  renderAgent(agent, workerVerdicts(verdicts.get(route.name)));
  const [secretsPage, ownerPage] = await Promise.all([secrets(), owner()]);
  await Promise.all([
    secretsPage.renderSecretSigner(connected, agent),
    ownerPage.refreshOwner(connected, agent, shown),
  ]);
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
