import type { Page } from "playwright-core";

// A browser wallet for the console's tests: an EIP-1193 provider (`window.ethereum`) injected
// before the page's own script runs, as a wallet extension injects one. It gives the page one
// account, chosen by the test, and forwards what it signs (`eth_sendTransaction`,
// `eth_signTypedData_v4`) to the development chain, whose node holds that account unlocked: the
// page cannot tell it from a wallet, and the test sees every request the page made of it.

/** One request the page made of the wallet; `from` is the account it asked to sign as, if any. */
export type WalletCall = { method: string; from?: string };

export type InjectedWalletOptions = { rpcUrl: string; chainId: number; account: string };

/**
 * Injects the wallet into `page` (before any of its scripts, on every navigation) and records
 * each request it receives in `calls`.
 */
export async function injectWallet(
  page: Page,
  options: InjectedWalletOptions,
  calls: WalletCall[],
): Promise<void> {
  await page.exposeFunction("__veilWalletCall", (call: WalletCall) => {
    calls.push(call);
  });
  // A string, not a function: tsx's transform names functions with a helper (`__name`) that the
  // page does not have, and a function passed to addInitScript is sent as its source.
  await page.addInitScript(`(() => {
    const o = ${JSON.stringify(options)};
    const signerOf = (method, params) => {
      const first = params && params[0];
      if (method === "eth_sendTransaction" && first && typeof first === "object")
        return String(first.from || "").toLowerCase();
      if (method === "eth_signTypedData_v4" && typeof first === "string") return first.toLowerCase();
      return undefined;
    };
    let id = 0;
    window.ethereum = {
      isVeilTestWallet: true,
      async request({ method, params }) {
        const from = signerOf(method, params);
        await window.__veilWalletCall(from ? { method, from } : { method });
        if (method === "eth_requestAccounts" || method === "eth_accounts") return [o.account];
        if (method === "eth_chainId") return "0x" + o.chainId.toString(16);
        if (from && from !== o.account.toLowerCase())
          throw Object.assign(new Error("this wallet holds " + o.account + ", not " + from), { code: 4100 });
        const res = await fetch(o.rpcUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params: params || [] }),
        });
        const body = await res.json();
        if (body.error) throw Object.assign(new Error(body.error.message), body.error);
        return body.result;
      },
      on() {},
      removeListener() {},
    };
  })();`);
}
