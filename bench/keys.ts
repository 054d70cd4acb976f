// Keys and rotation speed (issue 4), on a real embedded chain, real crypto, real SQLite and a
// real isolate sandbox; only the TEE is simulated:
//   (1) key provisioning of a new worker: its registration, then request → cluster key grant;
//   (2) a rotation with N agents (default 1,000) holding 10 MB of state: the gatekeepers' key
//       exchange on chain, then the worker's part (re-wrap every root on chain, re-seal secrets
//       on chain, re-encrypt all state in SQLite) — and the state re-encryption alone;
//   (3) the extra p50 latency of an end-to-end encrypted invocation over a plain one, at the
//       worker/sandbox level, side by side in this process.
//
//   node --import tsx bench/keys.ts [agents=1000] [stateMB=10] [secretEvery=10] [invocations=2000]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { bytesToHex, createWalletClient, type Hex, hexToBytes, http, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { deployContracts } from "../src/chain/deploy.ts";
import { startEmbeddedChain } from "../src/chain/embedded.ts";
import { type ChainConfig, devAccounts, RotationClient, TeeType, VeilChain } from "../src/chain/index.ts";
import {
  generateX25519,
  openRequest,
  openResponse,
  randomBytes,
  sealAgentSecret,
  sealRequest,
  sealResponse,
  x25519PublicKey,
} from "../src/crypto/index.ts";
import { NodeIdentity } from "../src/daemon/identity.ts";
import {
  createGatekeeperServer,
  GatekeeperService,
  MasterKeyStore,
  masterPublicKeyHex,
  masterSigningAccount,
  requestClusterKey,
  takePartInRotation,
} from "../src/gatekeeper/index.ts";
import { IsolateSandbox } from "../src/sandbox/isolate.ts";
import { verifyAgentIdentity } from "../src/sdk/identity.ts";
import { EncryptedAgentState, reencryptAgentState } from "../src/storage/agent-state.ts";
import { SqliteStateStore } from "../src/storage/state-store.ts";
import { evidenceHash, SimulatedEnclave } from "../src/tee/index.ts";
import { AgentKeyring } from "../src/worker/keyring.ts";

const agentCount = Number(process.argv[2] ?? 1000);
const stateMB = Number(process.argv[3] ?? 10);
const secretEvery = Number(process.argv[4] ?? 10);
const invocations = Number(process.argv[5] ?? 2000);
const work = mkdtempSync(join(tmpdir(), "veil-bench-keys-"));
const dir = (name: string) => mkdtempSync(join(work, `${name}-`));
const ms = (t0: number) => performance.now() - t0;
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ── a chain, one gatekeeper on epoch 1, one registered worker ────────────────────────────────
const embedded = await startEmbeddedChain({ port: 0 });
const accounts = devAccounts(10);
const contracts = await deployContracts({
  rpcUrl: embedded.url,
  chainId: embedded.chainId,
  deployerKey: accounts[0]!.privateKey,
});
const config: ChainConfig = { rpcUrl: embedded.url, chainId: embedded.chainId, contracts };
const as = (i: number) => new VeilChain(config, { account: accounts[i]!.privateKey, pollingIntervalMs: 20 });
const reader = new VeilChain(config, { pollingIntervalMs: 20 });
const rpc = (method: string, params: unknown[] = []) =>
  fetch(embedded.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  }).then((r) => r.json());

const gkEnclave = new SimulatedEnclave({ dataDir: dir("gk"), component: "bench" });
const gkIdentity = await NodeIdentity.loadOrCreate(gkEnclave, dir("gk-id"));
const wallet = createWalletClient({
  transport: http(embedded.url),
  account: privateKeyToAccount(accounts[0]!.privateKey),
});
await reader.public.waitForTransactionReceipt({
  hash: await wallet.sendTransaction({ to: gkIdentity.address, value: parseEther("10"), chain: null }),
});
await as(0).addGatekeeper(gkIdentity.address, gkIdentity.encryptionKeyHex, "http://placeholder");
await as(0).setSimulatedAllowed(true); // a local dev chain (ADR 0020)
await as(0).allowMeasurement(TeeType.simulated, await gkEnclave.measurement());
const gkChain = new VeilChain(config, { account: gkIdentity.account, pollingIntervalMs: 20 });
const gkStore = new MasterKeyStore(gkEnclave, dir("gk-store"));
const master1 = await gkStore.create(1n);
await gkChain.publishMasterPublicKey(masterPublicKeyHex(master1), masterSigningAccount(master1).address);
const service = new GatekeeperService({ chain: gkChain, identity: gkIdentity, clusterId: "default" });
service.setMasterKey(1n, master1, masterPublicKeyHex(master1));
const server = createGatekeeperServer(service, () => ({}));
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const gkUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

// ── (1) provisioning of a new worker ─────────────────────────────────────────────────────────
const wEnclave = new SimulatedEnclave({ dataDir: dir("w"), component: "bench" });
const wIdentity = await NodeIdentity.loadOrCreate(wEnclave, dir("w-id"));
const evidence = await wEnclave.attest(wIdentity.reportData());
let t0 = performance.now();
const reg = {
  worker: wIdentity.address,
  encryptionKey: wIdentity.encryptionKeyHex,
  teeType: TeeType.simulated,
  measurement: await wEnclave.measurement(),
  evidenceHash: evidenceHash(evidence),
  confidence: 1,
  endpoint: "http://127.0.0.1:1",
};
const digest = await reader.workerRegistrationDigest({ operator: as(2).account, ...reg });
await as(2).registerWorker({
  ...reg,
  signature: await wIdentity.account.sign({ hash: digest }),
});
const registerMs = ms(t0);
t0 = performance.now();
let grant1 = await requestClusterKey({ url: gkUrl, chain: reader, identity: wIdentity, evidence });
const firstGrantMs = ms(t0);
const grantTimes: number[] = [];
for (let i = 0; i < 20; i++) {
  t0 = performance.now();
  grant1 = await requestClusterKey({ url: gkUrl, chain: reader, identity: wIdentity, evidence });
  grantTimes.push(ms(t0));
}
console.log("(1) key provisioning of a new worker (simulated TEE, real chain and crypto)");
console.log(`    worker registration on chain (signed, one tx):        ${fmt(registerMs)} ms`);
console.log(`    first provisioning request → cluster key grant:       ${fmt(firstGrantMs)} ms`);
console.log(`    provisioning request → grant, p50 of 20:              ${fmt(median(grantTimes))} ms`);
console.log(`    new worker in all (registration + first grant):       ${fmt(registerMs + firstGrantMs)} ms`);

// ── (2) rotation with N agents and the state (agents=0 skips it) ───────────────────────────
if (agentCount > 0) await rotationBench();
server.close();

async function rotationBench(): Promise<void> {
  const stateStore = new SqliteStateStore(join(dir("state"), "state.sqlite"));
  const keyring = new AgentKeyring({ chain: reader, operator: as(2), grant: grant1, stateStore });
  const ids: bigint[] = [];
  const owner = as(1);
  const entryBytes = 1024;
  const entriesPerAgent = Math.max(1, Math.round((stateMB * 1024 * 1024) / entryBytes / agentCount));
  t0 = performance.now();
  for (let i = 0; i < agentCount; i++) {
    const { id } = await owner.registerAgent(
      `bench-${i}`,
      `0x${(i + 1).toString(16).padStart(64, "0")}` as Hex,
    );
    ids.push(id);
    const me = await keyring.identity(id); // records its keys on chain (one tx)
    const state = new EncryptedAgentState(stateStore, id, keyring.stateKeys(id, me));
    for (let e = 0; e < entriesPerAgent; e++) await state.put(`k${e}`, randomBytes(entryBytes));
    if (secretEvery > 0 && i % secretEvery === 0) {
      const who = await verifyAgentIdentity(reader, id);
      const sealed = sealAgentSecret(
        {
          agentEncryptionKey: hexToBytes(who.encryptionKey),
          clusterSigningPublicKey: hexToBytes(who.clusterSigningPublicKey),
          epoch: who.epoch,
        },
        id,
        "API_KEY",
        "value",
      );
      await owner.setSecret(id, "API_KEY", bytesToHex(sealed));
    }
  }
  const setupMs = ms(t0);
  let totalState = 0;
  for (const id of ids) totalState += (await stateStore.usage(id.toString())).bytes;
  console.log(
    `\n(2) rotation: ${agentCount} agents, ${entriesPerAgent} × ${entryBytes} B state entries each ` +
      `(${(totalState / 1024 / 1024).toFixed(1)} MB sealed), a secret on every ${secretEvery}th agent ` +
      `(setup ${fmt(setupMs / 1000)} s)`,
  );
  const miner = setInterval(() => void rpc("evm_mine"), 50);
  t0 = performance.now();
  await new RotationClient(as(0)).open([gkIdentity.address]);
  const epoch2 = await takePartInRotation({
    chain: gkChain,
    identity: gkIdentity,
    store: gkStore,
    service,
    pollMs: 20,
  });
  const exchangeMs = ms(t0);
  clearInterval(miner);
  if (epoch2 !== 2n) throw new Error(`the rotation did not complete (${epoch2})`);
  t0 = performance.now();
  const grant2 = await requestClusterKey({ url: gkUrl, chain: reader, identity: wIdentity, evidence });
  const regrantMs = ms(t0);
  t0 = performance.now();
  const moved = await keyring.rotate(grant2, ids);
  const workerMs = ms(t0);
  console.log(`    gatekeeper: open, contribute, confirm, resume, destroy:  ${fmt(exchangeMs)} ms`);
  console.log(`    worker: epoch-2 cluster key grant:                       ${fmt(regrantMs)} ms`);
  console.log(
    `    worker: re-wrap ${moved.rewrapped} roots + re-seal ${moved.resealed} secrets (on chain) + ` +
      `re-encrypt ${moved.reencrypted} entries: ${fmt(workerMs / 1000)} s ` +
      `(${fmt(workerMs / agentCount)} ms per agent)`,
  );
  // The state pass alone (what the worker does in SQLite once the chain part is done): the same
  // bytes again, epoch 2 → a further epoch, with keys of the same shape.
  const passKeys: { id: bigint; from: { epoch: bigint; key: Uint8Array } }[] = [];
  for (const id of ids)
    passKeys.push({ id, from: keyring.stateKeys(id, await keyring.identity(id)).current() });
  t0 = performance.now();
  let reBytes = 0;
  for (const { id, from } of passKeys) {
    reBytes += (await reencryptAgentState(stateStore, id, from, { epoch: 3n, key: randomBytes(32) })).bytes;
  }
  const reMs = ms(t0);
  console.log(
    `    state re-encryption alone (${(reBytes / 1024 / 1024).toFixed(1)} MB, SQLite, one transaction per agent): ` +
      `${fmt(reMs)} ms = ${fmt(reBytes / 1024 / 1024 / (reMs / 1000))} MB/s`,
  );
  const rotationTotal = exchangeMs + regrantMs + workerMs;
  console.log(`    rotation end to end (one gatekeeper, one worker):        ${fmt(rotationTotal / 1000)} s`);
  stateStore.close();
}

// ── (3) encrypted vs plain invocation ────────────────────────────────────────────────────────
const HANDLER = `export default { async fetch(req) { const { name } = await req.json(); return Response.json({ message: "Hello, " + name + "!" }); } };`;
const sandbox = await IsolateSandbox.create({
  code: HANDLER,
  meta: { id: "1", name: "hello", codeHash: "0x" },
});
const agentPriv = randomBytes(32);
const agentPub = x25519PublicKey(agentPriv);
const body = new TextEncoder().encode(JSON.stringify({ name: "Ada" }));
const plainRequest = (caller?: null) => ({
  method: "POST",
  url: "https://hello.agents.veil/greet",
  headers: [["content-type", "application/json"]] as [string, string][],
  body,
  ...(caller === null ? { caller: null } : {}),
});
/**
 * Client seals (as the SDK does: a fresh reply key), worker opens, sandbox runs, worker seals
 * the response, client opens it. The worker's part and the client's are timed apart.
 */
const clientTimes: number[] = [];
const encrypted = (oneTimeRealm: boolean, times: number[]) => async () => {
  let t = performance.now();
  const reply = generateX25519();
  const nonce = bytesToHex(randomBytes(16));
  const envelope = sealRequest(agentPub, 1n, {
    method: "POST",
    path: "/greet",
    headers: [["content-type", "application/json"]],
    body: Buffer.from(body).toString("base64"),
    replyTo: Buffer.from(reply.publicKey).toString("hex"),
    nonce,
    timestamp: Math.floor(Date.now() / 1000),
  });
  let client = performance.now() - t;
  t = performance.now();
  const opened = openRequest(agentPriv, 1n, envelope);
  const r = await sandbox.invoke({
    ...plainRequest(oneTimeRealm ? null : undefined),
    body: Buffer.from(opened.body, "base64"),
  });
  const answer = sealResponse(Buffer.from(opened.replyTo, "hex"), 1n, opened.nonce, {
    status: r.status,
    headers: r.headers,
    body: Buffer.from(r.body).toString("base64"),
  });
  times.push(performance.now() - t);
  t = performance.now();
  const status = (openResponse(reply.privateKey, 1n, nonce, answer) as { status: number }).status;
  client += performance.now() - t;
  if (!oneTimeRealm) clientTimes.push(client);
  return status;
};
const times: Record<string, number[]> = { plain: [], encrypted: [], oneTime: [], spaced: [] };
const variants: [string, () => Promise<number>][] = [
  [
    "plain",
    async () => {
      const t = performance.now();
      const r = await sandbox.invoke(plainRequest());
      times.plain!.push(performance.now() - t);
      return r.status;
    },
  ],
  ["encrypted", encrypted(false, times.encrypted!)],
  ["oneTime", encrypted(true, times.oneTime!)],
];
for (let i = 0; i < 200; i++) for (const [, f] of variants) await f(); // warm up
for (const xs of [...Object.values(times), clientTimes]) xs.length = 0;
// Plain and encrypted interleaved, so that drift on a shared machine hits both alike; one-time
// realms on their own, since releasing each one leaves GC work to whatever request comes next.
for (let i = 0; i < invocations; i++) {
  for (const [name, f] of variants.slice(0, 2)) if ((await f()) !== 200) throw new Error(`${name} failed`);
}
for (let i = 0; i < invocations; i++)
  if ((await variants[2]![1]()) !== 200) throw new Error("oneTime failed");
// The same with a pause before each request: the sandbox makes the next one-time realm ahead
// of time (a spare), which back to back sits on the critical path and with a pause does not.
const spacedN = Math.min(invocations, 500);
const spaced = encrypted(true, times.spaced!);
for (let i = 0; i < spacedN; i++) {
  await new Promise((r) => setTimeout(r, 5));
  if ((await spaced()) !== 200) throw new Error("spaced failed");
}
const p50 = {
  plain: median(times.plain!),
  encrypted: median(times.encrypted!),
  oneTime: median(times.oneTime!),
};
console.log(`\n(3) invocation at the worker/sandbox level, p50 of ${invocations} each (interleaved)`);
console.log(`    plain (worker → sandbox → worker):                       ${p50.plain.toFixed(3)} ms`);
console.log(
  `    encrypted, worker side (open request, run, seal response): ${p50.encrypted.toFixed(3)} ms  ` +
    `extra ${(p50.encrypted - p50.plain).toFixed(3)} ms (target < 0.2 ms), ×${(p50.encrypted / p50.plain).toFixed(2)}`,
);
console.log(
  `    … and in its own one-time realm, as the worker runs it (ADR 0009): ${p50.oneTime.toFixed(3)} ms  ` +
    `extra ${(p50.oneTime - p50.plain).toFixed(3)} ms`,
);
console.log(
  `    … one-time realm, 5 ms between requests (spare realm ready), p50 of ${spacedN}: ` +
    `${median(times.spaced!).toFixed(3)} ms  extra ${(median(times.spaced!) - p50.plain).toFixed(3)} ms`,
);
console.log(
  `    client side (SDK: seal request + open response), p50:   ${median(clientTimes).toFixed(3)} ms`,
);
sandbox.dispose();
await embedded.close();
rmSync(work, { recursive: true, force: true });
process.exit(0);
