/**
 * A price oracle: a contract (contracts/triggers/PriceFeedConsumer.sol, built on AgentConsumer)
 * asks for a symbol's price; a worker runs `onChainRequest` here and the answer goes back on
 * chain, signed by this agent's own key. The price comes from an HTTP API speaking Coinbase's
 * spot-price shape ({ data: { amount } }); set PRICE_API_URL as a secret to point elsewhere,
 * and allow its host in the agent's egress limits.
 */

type OnChainRequest = {
  id: string;
  agentId: string;
  consumer: string;
  payload: string;
  deadlineBlock: string;
};
type Env = { PRICE_API_URL?: string };

const hexToBytes = (hex: string): Uint8Array =>
  Uint8Array.from((hex.slice(2).match(/../g) ?? []).map((b) => Number.parseInt(b, 16)));
const word = (n: bigint): string => n.toString(16).padStart(64, "0");

/** abi.decode(payload, (string)). */
function decodeString(payload: string): string {
  const bytes = hexToBytes(payload);
  const offset = Number(BigInt(`0x${payload.slice(2, 66)}`));
  const length = Number(BigInt(`0x${payload.slice(2 + offset * 2, 2 + offset * 2 + 64)}`));
  return new TextDecoder().decode(bytes.slice(offset + 32, offset + 32 + length));
}

/** "1234.5678" → 123456780000 (1e-8 units), without floating point. */
function toUnits(amount: string): bigint {
  if (!/^\d+(\.\d+)?$/.test(amount)) throw new Error(`not a price: ${amount}`);
  const [whole, frac = ""] = amount.split(".");
  return BigInt(whole ?? "0") * 100_000_000n + BigInt(frac.padEnd(8, "0").slice(0, 8));
}

export default {
  async onChainRequest(request: OnChainRequest, env: Env): Promise<string> {
    const symbol = decodeString(request.payload);
    if (!/^[A-Z0-9]{1,10}$/.test(symbol)) throw new Error(`bad symbol: ${symbol}`);
    const base = env.PRICE_API_URL ?? "https://api.coinbase.com/v2/prices";
    const res = await fetch(`${base}/${symbol}-USD/spot`);
    if (!res.ok) throw new Error(`price API answered ${res.status}`);
    const body = (await res.json()) as { data?: { amount?: string } };
    const price = toUnits(String(body.data?.amount));
    const at = BigInt(Math.floor(Date.now() / 1000));
    // abi.encode(uint256 price, uint64 at)
    return `0x${word(price)}${word(at)}`;
  },

  /** Also answers over HTTP: GET /?symbol=ETH. */
  async fetch(request: Request, env: Env): Promise<Response> {
    const symbol = new URL(request.url).searchParams.get("symbol") ?? "ETH";
    const base = env.PRICE_API_URL ?? "https://api.coinbase.com/v2/prices";
    const res = await fetch(`${base}/${symbol}-USD/spot`);
    return new Response(await res.text(), {
      status: res.status,
      headers: { "content-type": "application/json" },
    });
  },
};
