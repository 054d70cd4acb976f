import {
  type BrowserInvocation,
  type CheckedReceipt,
  type ConnectedNetwork,
  devAccountSigner,
  formatVeil,
  invokeAgent,
  parseVeil,
  type ReceiptCarrier,
  type SecretSigner,
  unlockedDevAccounts,
  VeilError,
  walletSigner,
} from "../src/sdk/browser.ts";
import { byId, h, renderError } from "./render.ts";

// The playground (`#/playground/NAME`): invoke an agent through the gateway from this page,
// plain or sealed here to the agent's certified key, anonymous or signed (as an allowlisted or
// paying caller), show the answer as it arrives, then check its receipt here and say what it
// proves. Who signs: the browser's wallet when there is one; else, DEV ONLY, an account the
// development chain's node holds unlocked (as for secrets and staking).

type Shown = { code?: string; message: string; hint?: string };

const field = <T extends HTMLElement>(id: string) => byId(id) as T;

/** The agents to pick from, kept in step with the chain; the one the address names is picked. */
export function renderAgentChoice(names: string[], wanted: string | undefined): void {
  const select = field<HTMLSelectElement>("pg-agent");
  const current = [...select.options].map((o) => o.value);
  if (current.join("\n") !== names.join("\n")) {
    const picked = select.value;
    select.replaceChildren(...names.map((name) => h("option", { value: name }, name)));
    if (names.includes(picked)) select.value = picked;
  }
  if (wanted && names.includes(wanted) && select.dataset.wanted !== wanted) {
    select.value = wanted;
    select.dataset.wanted = wanted;
  }
}

type Injected = Parameters<typeof walletSigner>[0];

const injected = (): Injected | undefined => (window as { ethereum?: Injected }).ethereum;

/** The signers the page offers: nobody, the browser's wallet, or the dev chain's unlocked accounts. */
export async function renderCallerChoice(connected: ConnectedNetwork): Promise<void> {
  const select = field<HTMLSelectElement>("pg-signer");
  const wallet = injected();
  const accounts = wallet ? [] : await unlockedDevAccounts(connected.chain);
  const options: [string, string][] = [
    ["", "nobody: an anonymous call"],
    ...(wallet ? [["wallet", "your browser wallet (it will ask)"] as [string, string]] : []),
    ...accounts.map((a): [string, string] => [a, `${a} (DEV ONLY development account)`]),
  ];
  if ([...select.options].map((o) => o.value).join() !== options.map(([v]) => v).join()) {
    const was = select.value;
    select.replaceChildren(...options.map(([value, label]) => h("option", { value }, label)));
    if (options.some(([v]) => v === was)) select.value = was;
  }
  sayWhoSigns();
}

/** The note under the signer's choice: DEV ONLY in red when a development account signs. */
function sayWhoSigns(): void {
  const select = field<HTMLSelectElement>("pg-signer");
  const note = byId("pg-signer-note");
  const dev = select.value !== "" && select.value !== "wallet";
  note.className = dev ? "insecure" : "muted";
  note.textContent = dev
    ? "DEV ONLY: signed by the development chain's own unlocked account, whose key is public. Never on a network that holds anything of value."
    : "A signed call says who calls (allowlists, quotas, prices); a priced agent is paid from the signer's escrow (`veil escrow deposit`), with a voucher signed here after the worker's quote checks out on chain.";
}

/** The signer picked on the page, or undefined for an anonymous call. */
async function pickedSigner(network: ConnectedNetwork): Promise<SecretSigner | undefined> {
  const picked = field<HTMLSelectElement>("pg-signer").value;
  if (!picked) return undefined;
  const wallet = injected();
  if (picked === "wallet" && wallet) return walletSigner(wallet);
  const dev = /^0x[0-9a-fA-F]{40}$/.test(picked)
    ? await devAccountSigner(network.chain, picked as `0x${string}`)
    : undefined;
  if (!dev) {
    throw new VeilError("NO_SIGNER", `Nothing in this browser can sign as ${picked}`, {
      hint: "Pick another signer, use a browser wallet, or `veil invoke --as` from the CLI.",
    });
  }
  return dev;
}

/** The most a call may cost (`#pg-max-price`, in VEIL); undefined when empty: the price on chain. */
function maxPrice(): bigint | undefined {
  const value = field<HTMLInputElement>("pg-max-price").value.trim();
  if (!value) return undefined;
  try {
    const max = parseVeil(value);
    if (max >= 0n) return max;
  } catch {}
  throw new VeilError("BAD_ARGUMENT", `"${value}" is not an amount of VEIL`, {
    hint: "Give the most a call may cost in VEIL, e.g. 0.5, or leave it empty to accept the price on chain.",
  });
}

/** Who signed and what was paid, said beside the answer. */
function renderSigned(invocation: BrowserInvocation, signer: SecretSigner | undefined): void {
  const signed = byId("pg-signed");
  const paid = byId("pg-paid");
  signed.textContent = signer
    ? `Signed as ${invocation.caller ?? signer.address} by ${signer.kind === "dev-account" ? "the DEV ONLY development account (its key is public)" : "your wallet"}: the agent sees it as ctx.caller.`
    : "Anonymous: not signed.";
  signed.className = signer?.kind === "dev-account" ? "insecure" : "muted";
  const p = invocation.payment;
  paid.textContent = p
    ? `Paid ${formatVeil(BigInt(p.quote.price))} VEIL from ${p.quote.payer}'s escrow to worker ${p.quote.worker}: voucher for call ${p.quote.calls} of this channel, ${formatVeil(BigInt(p.quote.amount))} VEIL in all (checked against the chain, then signed here).`
    : "";
}

const CARRIED: Record<ReceiptCarrier, string> = {
  sealed: "sealed with the answer to this page's one-time key (end-to-end encrypted)",
  header: "as the answer's x-veil-receipt header",
  pickup:
    "picked up from the gateway by the request's nonce after the body ended (GET /v1/receipts/NONCE: browsers cannot read the HTTP trailers that carry a streamed answer's receipt)",
};

const ms = (us: number) => `${(us / 1000).toFixed(1)} ms`;

/** What a valid receipt proves, one line each. */
function explain(r: CheckedReceipt, bytes: number): HTMLElement[] {
  const line = (name: string, text: string) => h("li", { class: "ok", "data-check": name }, text);
  const u = r.usage;
  return [
    line(
      "signature",
      `Signature valid: one EIP-712 signature by the agent's key ${r.identity.address}, certified by cluster ${r.identity.clusterSigner} ← master ${r.identity.masterSigner} (key epoch ${r.identity.epoch}, on chain).`,
    ),
    line(
      "request",
      `It answers this request: the hash of method, path and body, and the nonce ${r.receipt.nonce}, are the ones this page sent.`,
    ),
    line(
      "answer",
      `It covers this answer: status ${r.receipt.status} and the sha256 of the ${bytes} bytes read here (${r.receipt.outputHash}).`,
    ),
    line("code", `Code ${r.codeHash}, a version of the agent on chain.`),
    line("worker", `Served by worker ${r.worker}, which has standing on chain now.`),
    line(
      "usage",
      `Used there: CPU ${ms(u.cpuUs)}, wall ${ms(u.wallUs)}, heap ${u.heapBytes} bytes, egress ${u.egressBytes} bytes, state ${u.stateBytes} bytes, LLM tokens ${u.llmPromptTokens} in / ${u.llmCompletionTokens} out${r.llmReceipts.length ? ` (${r.llmReceipts.length} LLM call receipts, each checked)` : ""}.`,
    ),
    line("carrier", `It came ${CARRIED[r.carrier]}.`),
  ];
}

/** Wires the form: each submit invokes the agent and shows the answer and its receipt. */
export function setUpPlayground(
  connected: () => ConnectedNetwork | undefined,
  shown: (err: unknown) => Shown,
): void {
  const form = field<HTMLFormElement>("pg-form");
  field<HTMLSelectElement>("pg-signer").addEventListener("change", sayWhoSigns);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const network = connected();
    if (!network) return;
    void send(network, shown);
  });
}

async function send(network: ConnectedNetwork, shown: (err: unknown) => Shown): Promise<void> {
  const button = field<HTMLButtonElement>("pg-send");
  const status = byId("pg-status");
  const answer = byId("pg-answer");
  const verdict = byId("pg-receipt-verdict");
  const explained = byId("pg-receipt");
  const name = field<HTMLSelectElement>("pg-agent").value;
  const method = field<HTMLSelectElement>("pg-method").value;
  const encrypt = field<HTMLInputElement>("pg-encrypt").checked;
  const bodyText = field<HTMLTextAreaElement>("pg-body").value;
  button.disabled = true;
  byId("pg-signed").textContent = "";
  byId("pg-paid").textContent = "";
  answer.replaceChildren();
  answer.dataset.pieces = "0";
  verdict.replaceChildren();
  explained.replaceChildren();
  renderError(undefined, "pg-error");
  status.textContent = `Sending ${method} to ${name}${encrypt ? ", sealed in this browser" : ""}…`;
  try {
    const signer = await pickedSigner(network);
    const max = maxPrice();
    const invocation = await invokeAgent(
      network,
      name,
      {
        method,
        path: field<HTMLInputElement>("pg-path").value || "/",
        ...(method === "GET" || method === "HEAD" ? {} : { body: bodyText }),
        encrypt,
      },
      signer ? { as: signer, ...(max === undefined ? {} : { maxPrice: max }) } : {},
    );
    renderSigned(invocation, signer);
    const how = `${invocation.encrypted ? "end-to-end encrypted" : "plain"}, ${invocation.streamed ? "streamed" : "whole"}`;
    status.textContent = `${invocation.status}: arriving (${how})…`;
    const decoder = new TextDecoder();
    let bytes = 0;
    let pieces = 0;
    for await (const chunk of invocation.body) {
      bytes += chunk.length;
      pieces++;
      answer.append(decoder.decode(chunk, { stream: true }));
      answer.dataset.pieces = String(pieces);
    }
    answer.append(decoder.decode());
    status.textContent = `${invocation.status}, ${bytes} bytes in ${pieces} piece${pieces === 1 ? "" : "s"} (${how}). Checking the receipt…`;
    const receipt = await invocation.done();
    verdict.textContent = "Receipt valid";
    verdict.className = "badge-ok";
    explained.replaceChildren(...explain(receipt, bytes));
    status.textContent = `${invocation.status}, ${bytes} bytes in ${pieces} piece${pieces === 1 ? "" : "s"} (${how}).`;
  } catch (err) {
    const s = shown(err);
    renderError(s, "pg-error");
    status.textContent = "Failed.";
    if (s.code?.includes("RECEIPT")) {
      verdict.textContent = `Receipt INVALID (${s.code})`;
      verdict.className = "badge-bad";
    }
  } finally {
    button.disabled = false;
  }
}
