import { generatePrivateKey } from "viem/accounts";
import { VeilClient } from "../../sdk/client.ts";
import { startRecordingProxy } from "./recording-proxy.ts";
import { type AuditCheck, broken, held, sleep } from "./types.ts";

// ADR 0020, "a request runs once across the agent's workers": a caller's signature binds chain,
// agent, request, nonce and time, not the worker. Whoever saw a signed request (the gateway, a
// worker's host, anyone on the path) sends the same bytes to another worker of the agent.

export const replayAcrossWorkers: AuditCheck = {
  id: "replay-across-workers",
  title: "a signed request replayed to another worker of the agent",
  async run(ctx) {
    const probe = await ctx.probe();
    // The victim is a caller of its own (a fresh key: signing a request needs no funds), calling
    // through the SDK as any client does; the attacker sits on its path to the gateway.
    const proxy = await startRecordingProxy(ctx.client.gatewayUrl);
    let first: Awaited<ReturnType<VeilClient["invoke"]>> | undefined;
    try {
      const victim = new VeilClient({ ...ctx.network, gateway: { url: proxy.url } });
      // The victim's own call must succeed before it can be replayed. Under load the gateway
      // may move it to another worker after the first claimed its nonce, and the caller is
      // told REQUEST_REPLAYED (a failover artefact, not the attack): the victim calls again.
      for (let attempt = 1; !first; attempt++) {
        try {
          first = await victim.invoke(probe.name, {
            path: "/count",
            method: "POST",
            headers: { "content-type": "text/plain" },
            body: "veil audit: a request to be replayed",
            as: generatePrivateKey(),
          });
        } catch (err) {
          if (attempt >= 3 || (err as { code?: string }).code !== "REQUEST_REPLAYED") throw err;
          proxy.recorded.length = 0;
        }
      }
    } finally {
      await proxy.close();
    }
    const seen = proxy.recorded.find((r) => r.headers["x-veil-caller-signature"] !== undefined);
    if (first.status !== 200 || !seen) {
      throw new Error(`the signed call to the probe answered HTTP ${first.status}, not 200`);
    }
    const ranAt = counter(Buffer.from(first.body).toString("utf8"));
    const answeredBy = (seen.answeredBy ?? first.worker ?? "").toLowerCase();
    const serving = (await ctx.client.inspect(probe.name)).workers.filter((w) => w.status === "ready");
    const other = serving.find((w) => w.address.toLowerCase() !== answeredBy);
    const target = other ?? serving.find((w) => w.address.toLowerCase() === answeredBy);
    if (!target) throw new Error(`no worker serves ${probe.name} to replay the request to`);
    const where = other
      ? `worker ${target.address} (the request was answered by ${answeredBy})`
      : `the same worker ${target.address} (the only one serving the agent)`;
    ctx.progress(`replaying the signed request byte for byte to ${where}…`);

    // The gateway's /agents/NAME/PATH is the worker's /v1/agents/ID/invoke/PATH.
    const path = seen.url.replace(/^\/agents\/[^/?]+/, "") || "/";
    const { "content-length": _length, ...headers } = seen.headers;
    // A worker still loading the agent answers 503: that is no verdict, so ask again.
    let replay: { status: number; text: string; code: string | undefined } | undefined;
    for (let attempt = 0; attempt < 20; attempt++) {
      const res = await fetch(`${target.url.replace(/\/$/, "")}/v1/agents/${probe.id}/invoke${path}`, {
        method: seen.method,
        headers,
        body: new Uint8Array(seen.body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      replay = { status: res.status, text, code: errorCode(text) };
      if (res.status !== 503) break;
      await sleep(500);
    }
    if (!replay) throw new Error("the replay was never sent");
    if (replay.status === 409 && replay.code === "REQUEST_REPLAYED") {
      return held(
        `a signed request (x-veil-nonce, x-veil-caller*, body) answered through the gateway, sent again byte for byte to ${where}: refused 409 REQUEST_REPLAYED`,
      );
    }
    if (replay.status >= 200 && replay.status < 300) {
      const again = counter(replay.text);
      return broken(
        `the same signed request sent again to ${where} ran again: HTTP ${replay.status}${again !== undefined ? ` (the probe's call counter went from ${ranAt} to ${again})` : ""}`,
      );
    }
    // Refused for another reason: the replay did not run, but the nonce space was not what
    // refused it, so this proves nothing about replays.
    throw new Error(
      `the replay to ${where} answered HTTP ${replay.status}${replay.code ? ` ${replay.code}` : ""}, neither a run nor REQUEST_REPLAYED`,
    );
  },
};

function errorCode(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** The probe's call counter in an answer of its counting route. */
function counter(text: string): number | undefined {
  try {
    return (JSON.parse(text) as { n?: number }).n;
  } catch {
    return undefined;
  }
}
