import { type ConnectedNetwork, connectNetwork, readNetworkGlance, VeilError } from "../src/sdk/browser.ts";
import { renderError, renderGlance, renderNetwork, renderUpdated } from "./render.ts";

/** How often every figure is read again. Blocks come every second on a dev network. */
const POLL_MS = 2_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function shown(err: unknown): { code?: string; message: string; hint?: string } {
  if (err instanceof VeilError)
    return { code: err.code, message: err.shortMessage, ...(err.hint ? { hint: err.hint } : {}) };
  return { message: err instanceof Error ? err.message : String(err) };
}

/**
 * The console is served by the gateway (`/console/`), so the gateway is this page's origin: it
 * tells the page which chain and contracts the network has; the page then reads the chain
 * directly (its JSON-RPC answers CORS) and the gateway, every POLL_MS, without a reload.
 */
async function run(): Promise<void> {
  const gatewayUrl = window.location.origin;
  let connected: ConnectedNetwork | undefined;
  while (!connected) {
    try {
      connected = await connectNetwork(gatewayUrl);
    } catch (err) {
      renderError(shown(err));
      renderUpdated(`Cannot reach the gateway; trying again every ${POLL_MS / 1000} s…`);
      await sleep(POLL_MS);
    }
  }
  renderNetwork(connected.network, gatewayUrl);
  for (;;) {
    try {
      renderGlance(await readNetworkGlance(connected.chain, { gatewayUrl }));
      renderError(undefined);
      renderUpdated(`Updated ${new Date().toLocaleTimeString()}, live every ${POLL_MS / 1000} s.`);
    } catch (err) {
      renderError(shown(err));
      renderUpdated(`Last read failed at ${new Date().toLocaleTimeString()}; trying again…`);
    }
    await sleep(POLL_MS);
  }
}

void run();
