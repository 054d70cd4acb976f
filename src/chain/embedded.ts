import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { VeilError } from "../errors/index.ts";

const require = createRequire(import.meta.url);

export type EmbeddedChain = { url: string; chainId: number; close(): Promise<void> };

type JsonRpcServerCtor = new (config: {
  hostname: string;
  port: number;
  provider: unknown;
}) => { listen(): Promise<{ address: string; port: number }>; close(): Promise<void> };

/**
 * Starts the embedded chain: Hardhat 2's EDR network behind its HTTP + WebSocket JSON-RPC
 * server on loopback, so every Veil daemon, each in its own process, talks to one chain.
 * See docs/adr/0001-embedded-chain.md for why this chain.
 */
export async function startEmbeddedChain(options: { port: number; host?: string }): Promise<EmbeddedChain> {
  process.env.HARDHAT_CONFIG = join(dirname(fileURLToPath(import.meta.url)), "hardhat.config.cjs");
  const hre = require("hardhat") as { network: { provider: unknown } };
  const { JsonRpcServer } = require("hardhat/internal/hardhat-network/jsonrpc/server") as {
    JsonRpcServer: JsonRpcServerCtor;
  };
  const host = options.host ?? "127.0.0.1";
  const server = new JsonRpcServer({ hostname: host, port: options.port, provider: hre.network.provider });
  let address: { port: number };
  try {
    address = await server.listen();
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new VeilError(
      "CHAIN_START_FAILED",
      `The embedded chain could not listen on ${host}:${options.port}`,
      {
        cause: err,
        hint:
          code === "EADDRINUSE"
            ? "Another process holds that port (an earlier `veil up`?). Stop it, or pass --base-port."
            : "Check the port and try again.",
      },
    );
  }
  const url = `http://${host}:${address.port}`;
  // The provider starts lazily; touch it so the first real request is not the slow one.
  await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_blockNumber", params: [] }),
  });
  return { url, chainId: 31337, close: () => server.close() };
}
