import assert from "node:assert/strict";
import type { Server } from "node:http";
import type { AddressInfo, Server as NetServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { RateLimiter } from "../../src/gateway/rate-limit.ts";
import type { Router } from "../../src/gateway/routing.ts";
import { createGatewayServer, type GatewayOptions } from "../../src/gateway/server.ts";
import { TEST_GATEWAY_KEY } from "../helpers/link-keys.ts";
import { startStandInWorker } from "../helpers/stand-in-worker.ts";

describe("RateLimiter", () => {
  test("a caller gets its burst at once, then the sustained rate, and waits as long as the hint says", () => {
    const limiter = new RateLimiter({ perSecond: 10, burst: 3 });
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) assert.deepEqual(limiter.take("a", t0), { ok: true });
    const refused = limiter.take("a", t0);
    assert.equal(refused.ok, false);
    assert.equal(!refused.ok && refused.retryAfterMs, 100);
    assert.equal(limiter.take("a", t0 + 50).ok, false, "half a token is not a token");
    assert.equal(limiter.take("a", t0 + 100).ok, true, "one token back after 1/rate s");
    assert.equal(limiter.take("a", t0 + 100).ok, false);
    // Idle for long: the bucket is full again, but never above the burst.
    for (let i = 0; i < 3; i++) assert.equal(limiter.take("a", t0 + 60_000).ok, true);
    assert.equal(limiter.take("a", t0 + 60_000).ok, false);
  });

  test("callers do not share a bucket", () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 1 });
    assert.equal(limiter.take("a", 0).ok, true);
    assert.equal(limiter.take("a", 0).ok, false);
    assert.equal(limiter.take("b", 0).ok, true);
  });

  test("a flood of distinct callers is bounded in memory", () => {
    const limiter = new RateLimiter({ perSecond: 1, burst: 1 }, 1000);
    for (let i = 0; i < 5000; i++) limiter.take(`10.0.${i >> 8}.${i & 255}`, 0);
    assert.equal(limiter.size, 1000);
  });

  test("perSecond 0 turns limiting off; nonsense settings are refused", () => {
    const off = new RateLimiter({ perSecond: 0, burst: 1 });
    for (let i = 0; i < 100; i++) assert.equal(off.take("a", 0).ok, true);
    assert.throws(() => new RateLimiter({ perSecond: -1, burst: 1 }), RangeError);
    assert.throws(() => new RateLimiter({ perSecond: 1, burst: 0 }), RangeError);
    assert.throws(() => new RateLimiter({ perSecond: Number.NaN, burst: 1 }), RangeError);
  });
});

describe("gateway: rate limit per caller", () => {
  let worker: Server;
  let reachedWorker: () => number;
  const servers: NetServer[] = [];
  let router: Router;

  before(async () => {
    const standIn = await startStandInWorker();
    worker = standIn.server;
    reachedWorker = standIn.reached;
    router = standIn.router;
  });
  after(() => {
    for (const s of servers) s.close();
    worker?.close();
  });

  async function gateway(extra: Partial<GatewayOptions>): Promise<string> {
    const server = createGatewayServer({
      router,
      maxRequestBytes: 1024,
      workerTimeoutMs: 5_000,
      linkKey: TEST_GATEWAY_KEY,
      ...extra,
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/agents/hello/`;
  }

  test("over the burst a caller gets 429 RATE_LIMITED with retry-after, and the worker never sees it", async () => {
    const url = await gateway({ rateLimit: { perSecond: 1, burst: 3 } });
    for (let i = 0; i < 3; i++) assert.equal((await fetch(url)).status, 200);
    const before = reachedWorker();
    const res = await fetch(url);
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("retry-after"), "1");
    const body = (await res.json()) as { error: { code: string; retryable: boolean; hint: string } };
    assert.equal(body.error.code, "RATE_LIMITED");
    assert.equal(body.error.retryable, true);
    assert.match(body.error.hint, /retry after 1 s/);
    assert.equal(reachedWorker(), before);
    await new Promise((r) => setTimeout(r, 1_050));
    assert.equal((await fetch(url)).status, 200, "served again once a token is back");
  });

  test("behind a trusted proxy, callers are told apart by x-forwarded-for; otherwise the header is ignored", async () => {
    const trusted = await gateway({ rateLimit: { perSecond: 1, burst: 1 }, trustForwardedFor: true });
    const as = (ip: string) => fetch(trusted, { headers: { "x-forwarded-for": `${ip}, 10.9.9.9` } });
    assert.equal((await as("203.0.113.1")).status, 200);
    assert.equal((await as("203.0.113.1")).status, 429);
    assert.equal((await as("203.0.113.2")).status, 200, "another caller has its own budget");

    const untrusted = await gateway({ rateLimit: { perSecond: 1, burst: 1 } });
    const spoof = (ip: string) => fetch(untrusted, { headers: { "x-forwarded-for": ip } });
    assert.equal((await spoof("203.0.113.1")).status, 200);
    assert.equal((await spoof("203.0.113.2")).status, 429, "a forged header buys no new budget");
  });
});
