import {
  type CheckedReceipt,
  type ConnectedNetwork,
  invokeAgent,
  type ReceiptCarrier,
} from "../src/sdk/browser.ts";
import { byId, h, renderError } from "./render.ts";

// The playground (`#/playground/NAME`): invoke an agent through the gateway from this page,
// plain or sealed here to the agent's certified key, show the answer as it arrives, then check
// its receipt here and say what it proves.

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
  answer.replaceChildren();
  answer.dataset.pieces = "0";
  verdict.replaceChildren();
  explained.replaceChildren();
  renderError(undefined, "pg-error");
  status.textContent = `Sending ${method} to ${name}${encrypt ? ", sealed in this browser" : ""}…`;
  try {
    const invocation = await invokeAgent(network, name, {
      method,
      path: field<HTMLInputElement>("pg-path").value || "/",
      ...(method === "GET" || method === "HEAD" ? {} : { body: bodyText }),
      encrypt,
    });
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
