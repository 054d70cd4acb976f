import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT } from "jose";
import { marked } from "marked";
import {
  createPublicClient,
  encodeFunctionData,
  erc20Abi,
  type Hex,
  http,
  recoverTypedDataAddress,
  verifyMessage,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { type CompatNetwork, startCompatNetwork, text } from "./deployed.ts";

// Issue 19: libraries agents are written with, deployed unchanged on a real network (fixtures in
// test/compat/fixtures): Hono (streamSSE, parseBody of a multipart form), viem (signing,
// calldata, reads of the network's own chain through its http transport), zod 4.6.7,
// jose 6.2.19 (ES256 JWTs with a key pair made in the agent) and marked 18.3.0. What the agents
// produce is checked against the same libraries run here, on Node.

const KEY: Hex = `0x${"4c".repeat(32)}`;

describe("libraries inside deployed agents", { timeout: 300_000 }, () => {
  let net: CompatNetwork;

  before(async () => {
    // The operator lets agents reach loopback: the viem agent reads the network's chain there.
    net = await startCompatNetwork(["127.0.0.1"]);
    await net.deploy("hono");
    await net.deploy("viem", [new URL(net.network.chain.rpcUrl).host]);
    await net.deploy("zod-jose-marked");
  });
  after(async () => {
    await net?.stop();
  });

  test("Hono: parseBody reads a multipart form (repeated fields, a file) sent through the gateway", async () => {
    const form = new FormData();
    form.append("title", "quarterly report");
    form.append("tag", "finance");
    form.append("tag", "q3");
    form.append("file", new File(["héllo, naïve file\r\nline 2"], "notes.txt", { type: "text/plain" }));
    const encoded = new Request("http://form.local/", { method: "POST", body: form });
    const r = await net.client.invoke("hono", {
      path: "/upload",
      method: "POST",
      headers: { "content-type": encoded.headers.get("content-type")! },
      body: new Uint8Array(await encoded.arrayBuffer()),
    });
    assert.equal(r.status, 200, text(r.body));
    assert.deepEqual(JSON.parse(text(r.body)), {
      title: "quarterly report",
      tags: ["finance", "q3"],
      file: { name: "notes.txt", type: "text/plain", size: 27, text: "héllo, naïve file\r\nline 2" },
    });
  });

  test("Hono: streamSSE's events arrive as server-sent events, in order", async () => {
    const answer = await net.client.invokeStream("hono", { path: "/events?n=4" });
    assert.equal(answer.status, 200);
    assert.match(answer.headers["content-type"] ?? "", /^text\/event-stream/);
    let body = "";
    for await (const chunk of answer.body) body += text(chunk);
    const end = await answer.done();
    assert.ok(end.verified, "the receipt over the streamed body verifies");
    const events = body
      .trim()
      .split("\n\n")
      .map((e) =>
        Object.fromEntries(
          e.split("\n").map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)]),
        ),
      );
    assert.deepEqual(events, [
      { event: "tick", data: '{"n":1}', id: "1" },
      { event: "tick", data: '{"n":2}', id: "2" },
      { event: "tick", data: '{"n":3}', id: "3" },
      { event: "tick", data: '{"n":4}', id: "4" },
      { event: "done", data: "bye" },
    ]);
  });

  test("viem: the agent's signatures are the ones viem makes on Node, and recover to its account", async () => {
    const r = await net.call("viem", "/sign", { privateKey: KEY, message: "pay 5 to Ada" });
    assert.equal(r.status, 200, r.text);
    const got = r.json as { address: Hex; signature: Hex; typed: Hex };
    const account = privateKeyToAccount(KEY);
    assert.equal(got.address, account.address);
    assert.equal(got.signature, await account.signMessage({ message: "pay 5 to Ada" }));
    assert.ok(
      await verifyMessage({ address: account.address, message: "pay 5 to Ada", signature: got.signature }),
    );
    const typed = {
      domain: { name: "Veil compat", version: "1", chainId: 1 },
      types: { Note: [{ name: "text", type: "string" }] },
      primaryType: "Note",
      message: { text: "pay 5 to Ada" },
    } as const;
    assert.equal(await recoverTypedDataAddress({ ...typed, signature: got.typed }), account.address);
  });

  test("viem: calldata encoded and decoded in the agent", async () => {
    const to: Hex = `0x${"ab".repeat(20)}`;
    const r = await net.call("viem", "/encode", { to, amount: "123456789012345678901" });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {
      data: encodeFunctionData({
        abi: erc20Abi,
        functionName: "transfer",
        args: [to, 123456789012345678901n],
      }),
      decoded: "123456789012345678901",
    });
  });

  test("viem: a public client reads the network's chain through the agent's fetch", async () => {
    const { rpcUrl, economy } = net.network.chain;
    assert.ok(economy?.token, "the dev network has its token");
    const holder = net.network.devAccounts.accounts.find((a) => a.role === "user")!;
    const holderAddress = privateKeyToAccount(holder.privateKey as Hex).address;
    const r = await net.call("viem", "/read", { rpcUrl, token: economy.token, holder: holderAddress });
    assert.equal(r.status, 200, r.text);
    const got = r.json as {
      chainId: number;
      block: string;
      balance: string;
      symbol: string;
      tokenBalance: string;
    };
    const chain = createPublicClient({ transport: http(rpcUrl) });
    assert.equal(got.chainId, await chain.getChainId());
    assert.ok(BigInt(got.block) > 0n && BigInt(got.block) <= (await chain.getBlockNumber()));
    assert.equal(
      got.symbol,
      await chain.readContract({ address: economy.token, abi: erc20Abi, functionName: "symbol" }),
    );
    assert.equal(
      got.tokenBalance,
      String(
        await chain.readContract({
          address: economy.token,
          abi: erc20Abi,
          functionName: "balanceOf",
          args: [holderAddress],
        }),
      ),
    );
    assert.ok(BigInt(got.balance) > 0n, "the dev user has ether");
  });

  test("zod: a valid order parses; an invalid one answers each issue and zod's pretty message", async () => {
    const ok = await net.call("zod-jose-marked", "/order", {
      item: "tea",
      quantity: 2,
      email: "ada@example.com",
    });
    assert.deepEqual(ok.json, { ok: { item: "tea", quantity: 2, email: "ada@example.com" } });
    const bad = await net.call("zod-jose-marked", "/order", {
      item: "",
      quantity: 1.5,
      email: "nope",
      notes: 7,
    });
    assert.equal(bad.status, 400);
    const { issues, pretty } = bad.json as { issues: { path: string; code: string }[]; pretty: string };
    assert.deepEqual(issues, [
      { path: "item", code: "too_small" },
      { path: "quantity", code: "invalid_type" },
      { path: "email", code: "invalid_format" },
      { path: "notes", code: "invalid_type" },
    ]);
    assert.match(pretty, /✖ Invalid email address\n {2}→ at email/);
  });

  test("jose: an ES256 JWT signed in the agent verifies on Node, and one signed on Node verifies in the agent", async () => {
    const made = await net.call("zod-jose-marked", "/token", { sub: "ada" });
    assert.equal(made.status, 200, made.text);
    const { jwt, jwk } = made.json as { jwt: string; jwk: Parameters<typeof importJWK>[0] };
    assert.equal(jwk.kty, "EC");
    assert.equal(jwk.crv, "P-256");
    assert.equal(jwk.d, undefined, "only the public key leaves the agent");
    const { payload, protectedHeader } = await jwtVerify(jwt, await importJWK(jwk, "ES256"), {
      issuer: "veil-compat",
    });
    assert.equal(payload.sub, "ada");
    assert.equal(payload.role, "agent");
    assert.equal(protectedHeader.alg, "ES256");
    // The agent checks its own token with the public JWK it gave out.
    assert.deepEqual((await net.call("zod-jose-marked", "/verify", { jwt, jwk })).json, {
      valid: true,
      sub: "ada",
      role: "agent",
      alg: "ES256",
    });
    // Node's token, checked in the agent with the public JWK; then one with a forged signature.
    const pair = await generateKeyPair("ES256", { extractable: true });
    const ours = await new SignJWT({ role: "agent" })
      .setProtectedHeader({ alg: "ES256" })
      .setSubject("grace")
      .setIssuer("veil-compat")
      .setExpirationTime("5m")
      .sign(pair.privateKey);
    const publicJwk = await exportJWK(pair.publicKey);
    assert.deepEqual((await net.call("zod-jose-marked", "/verify", { jwt: ours, jwk: publicJwk })).json, {
      valid: true,
      sub: "grace",
      role: "agent",
      alg: "ES256",
    });
    const forged = `${ours.slice(0, ours.lastIndexOf(".") + 1)}${jwt.slice(jwt.lastIndexOf(".") + 1)}`;
    assert.deepEqual((await net.call("zod-jose-marked", "/verify", { jwt: forged, jwk: publicJwk })).json, {
      valid: false,
      code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
    });
  });

  test("marked: markdown renders to the HTML marked makes on Node", async () => {
    const markdown = [
      "# Report",
      "",
      "Some *emphasis*, **strong**, `code` and a [link](https://example.com).",
      "",
      "| item | qty |",
      "| ---- | --: |",
      "| tea  |   2 |",
      "",
      "- [x] done",
      "- [ ] todo",
      "",
      "```ts",
      "const a = 1 < 2;",
      "```",
      "",
    ].join("\n");
    const r = await net.client.invoke("zod-jose-marked", {
      path: "/render",
      method: "POST",
      headers: { "content-type": "text/markdown" },
      body: markdown,
    });
    assert.equal(r.status, 200);
    assert.match(r.headers["content-type"] ?? "", /^text\/html/);
    const html = text(r.body);
    assert.equal(html, await marked.parse(markdown, { gfm: true }));
    assert.match(html, /<h1>Report<\/h1>/);
    assert.match(html, /<td align="right">2<\/td>/);
    assert.match(html, /const a = 1 &lt; 2;/);
  });
});
