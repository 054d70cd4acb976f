// URLPattern (WHATWG URL Pattern standard) from urlpattern-polyfill, the implementation the
// standard's authors maintain and test against the web-platform-tests' urlpatterntestdata.json
// (ADR 0023). Loaded on first use, as the streams are: most agents never match a pattern, and a
// fresh realm would otherwise pay for defining it. It canonicalizes through the global URL,
// which is the host's parser.
declare const require: (id: string) => unknown;

let loaded: (new (...args: unknown[]) => object) | undefined;

export function urlPattern(): new (...args: unknown[]) => object {
  if (!loaded) {
    loaded = (require("urlpattern-polyfill/urlpattern") as { URLPattern: new (...args: unknown[]) => object })
      .URLPattern;
    Object.freeze(loaded.prototype);
  }
  return loaded;
}
