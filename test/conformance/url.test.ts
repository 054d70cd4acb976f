// URL conformance in the sandbox. No npm package publishes WPT's urltestdata.json, setters_tests.json
// or toascii.json, so the inputs here are written after their coverage (special and opaque schemes,
// file URLs, IPv4's number forms, IPv6, IDNA, percent-encoding sets, white space and control
// characters, credentials, ports, dot segments, relative resolution against bases, failures), and
// what each must give is the host's WHATWG URL parser's answer (Node's, which passes WPT's URL
// suite), computed at test time: the sandbox is held to it as Blob and FormData are to undici's.
import { type Case, conformance, type SandboxFn } from "./harness.ts";

const PARTS = [
  "href",
  "origin",
  "protocol",
  "username",
  "password",
  "host",
  "hostname",
  "port",
  "pathname",
  "search",
  "hash",
] as const;

const fns: Record<string, SandboxFn> = {
  parse({ input, base }: { input: string; base?: string }) {
    const u = base === undefined ? new URL(input) : new URL(input, base);
    return [
      u.href,
      u.origin,
      u.protocol,
      u.username,
      u.password,
      u.host,
      u.hostname,
      u.port,
      u.pathname,
      u.search,
      u.hash,
    ];
  },
  canParse({ input, base }: { input: string; base?: string }) {
    return URL.canParse(input, base);
  },
  set({ href, part, value }: { href: string; part: string; value: string }) {
    const u = new URL(href);
    (u as unknown as Record<string, string>)[part] = value;
    return u.href;
  },
  params({ init, ops }: { init: string; ops: [string, ...string[]][] }) {
    const p = new URLSearchParams(init);
    const seen: unknown[] = [];
    for (const [op, ...args] of ops) {
      const m = (p as unknown as Record<string, (...a: string[]) => unknown>)[op]!;
      const r = m.apply(p, args);
      if (r !== undefined) seen.push(r);
    }
    return { string: p.toString(), entries: [...p], size: p.size, seen };
  },
  paramsFrom(kind: string) {
    const from: Record<string, () => URLSearchParams> = {
      record: () => new URLSearchParams({ a: "1", "b c": "2&3" }),
      pairs: () =>
        new URLSearchParams([
          ["a", "1"],
          ["a", "2"],
          ["=", "?"],
        ]),
      leadingQuestionMark: () => new URLSearchParams("?x=1&y"),
      iterable: () => new URLSearchParams(new Map([["m", "n"]])),
      urlBound: () => {
        const u = new URL("https://h/p?z=1&a=2#f");
        u.searchParams.sort();
        u.searchParams.append("sp ace", "é");
        return new URLSearchParams(u.search);
      },
    };
    return [...from[kind]!()];
  },
  searchParamsLive() {
    const u = new URL("https://h/?a=1");
    const sp = u.searchParams;
    u.search = "?b=2";
    const afterSearch = sp.get("b");
    sp.append("c", "3 4");
    const href = u.href;
    sp.delete("b");
    sp.delete("c");
    return { afterSearch, href, emptied: u.href, same: u.searchParams === sp };
  },
  misc() {
    const u = new URL("https://user:pw@example.com:8080/a/b?c=d#e");
    return {
      json: u.toJSON(),
      string: String(u),
      stringifiedJson: JSON.stringify({ u }),
      keys: Object.keys(u),
    };
  },
};

/** Inputs parsed without a base, after urltestdata's coverage. */
const absolute = [
  // special schemes, host and path normalisation
  "http://example.com/",
  "HTTP://EXAMPLE.COM/A/B",
  "https://example.com:443/",
  "http://example.com:80/",
  "http://example.com:0080/",
  "http://example.com:65535/",
  "http://example.com:65536/",
  "http://example.com:-1/",
  "http://example.com:8a/",
  "http://example.com:/",
  "ws://example.com:80/",
  "wss://example.com:443/chat",
  "ftp://example.com:21/file",
  "http://example.com",
  "http://example.com?",
  "http://example.com#",
  "http://example.com/?#",
  "http:\\\\example.com\\a\\b",
  "http:/example.com/",
  "http:example.com/",
  "http:///example.com/",
  "  http://example.com/  ",
  "\t\nhttp://ex\tample.com/pa\nth\r",
  "\u0000http://example.com/\u001f",
  "http://example.com/a/./b/../c",
  "http://example.com/a/%2e/b/%2E%2e/c",
  "http://example.com/a/..",
  "http://example.com/../../..",
  "http://example.com/a/b/.",
  "http://example.com/a//b",
  "http://example.com/a b",
  'http://example.com/a"b<c>d`e{f}g',
  'http://example.com/a?b c"d<e>f`g{h}',
  'http://example.com/a#b c"d<e>f`g{h}',
  "http://example.com/?'",
  "ws://example.com/?'",
  "foo://example.com/?'",
  "http://example.com/é?é#é",
  "http://example.com/%zz%2",
  "http://example.com/\ud83d\ude00",
  "http://example.com/\ud800",
  "http://example.com/a;b?c;d",
  "http://example.com/foo%2Fbar",
  // credentials
  "http://user:pass@example.com/",
  "http://user@example.com/",
  "http://:pass@example.com/",
  "http://@example.com/",
  "http://:@example.com/",
  "http://us er:pa ss@example.com/",
  "http://u@s@er:p:a@ss@example.com/",
  "http://user:p%41ss@example.com/",
  "http://user:pass@/",
  "https://user@",
  // hosts: IPv4 number forms
  "http://192.168.0.1/",
  "http://0xc0.0250.0.1/",
  "http://3232235521/",
  "http://0xC0A80001/",
  "http://192.168.1/",
  "http://192.11010305/",
  "http://0x7f.1/",
  "http://1.2.3.4.5/",
  "http://1.2.3.4./",
  "http://256.0.0.1/",
  "http://4294967295/",
  "http://4294967296/",
  "http://09.0.0.1/",
  "http://0x/",
  "http://1.2.3.09/",
  "http://example.0x1/",
  "http://foo.09/",
  "http://foo.1.2.3.4/",
  "http://0..0x300/",
  "non-special://0x7f.1/",
  // IPv6
  "http://[::1]/",
  "http://[0:0:0:0:0:0:0:1]/",
  "http://[1:0:0:2::3:0]/",
  "http://[1:0::]/",
  "http://[::ffff:192.168.0.1]/",
  "http://[::127.0.0.1.]/",
  "http://[2001:DB8::1]:8080/",
  "http://[::1/",
  "http://[1::2::3]/",
  "http://[1:2:3:4:5:6:7:8:9]/",
  "http://[::1]x/",
  "http://[0x::1]/",
  "http://[::1%25eth0]/",
  "http://[1:2:3:4:5:6:7::]/",
  "http://[::256.0.0.1]/",
  // IDNA and forbidden host code points
  "http://EXAMPLE.com./",
  "http://ex%41mple.com/",
  "http://münchen.de/",
  "http://xn--mnchen-3ya.de/",
  "http://Ｅｘａｍｐｌｅ.com/",
  "http://ex\u00adample.com/",
  "http://faß.de/",
  "http://xn--/",
  "http://a.b.c.xn--pokxncvks/",
  "http://\u0661.com/",
  "http://ex ample.com/",
  "http://ex<ample.com/",
  "http://ex%20ample.com/",
  "http://ex^ample.com/",
  "http://ex%00ample.com/",
  "http://%zz/",
  "http://exa|mple.com/",
  "http://ex%7Cample.com/",
  "http://%F0%9F%98%80.com/",
  "http://%ef%bc%85%ef%bc%94%ef%bc%91.com/",
  "http://a..b/",
  "http://./",
  "http://../",
  "http:// /",
  "http://",
  "http:",
  "https://x:@/",
  // file URLs
  "file:///C:/Windows/",
  "file://localhost/etc/passwd",
  "file://LOCALHOST/x",
  "file://example.com/share/x",
  "file:c:\\foo\\bar",
  "file:/C|/foo",
  "file://C:/x/../..",
  "file:///x/../../..",
  "file://host:8080/",
  "file://user@host/",
  "file:",
  "file:?q#h",
  "FILE://HOST/Ä",
  "file:///%2e%2e/x",
  "file://[::1]/",
  // opaque and non-special
  "mailto:someone@example.com",
  "javascript:alert(1)",
  "data:text/plain,hello world",
  "urn:isbn:0451450523",
  "about:blank",
  "blob:https://example.com/uuid",
  "sc:space at end ",
  "sc:space before query ?q",
  "sc:\u0000\u00e9\u007f",
  "sc://host/path",
  "sc://host:1234/",
  "sc://HOST/",
  "sc://ho st/",
  "sc://h%41st/",
  "sc://[::1]/",
  "sc://ñ/",
  "sc://@/",
  "sc:///path",
  "sc://",
  "sc:/a/../b",
  "sc:/.//p",
  "sc://h/a/..//b",
  "sc:\\x",
  "git+ssh://git@github.com/x.git",
  "a1+-.://x",
  "1a://x",
  "://x",
  "",
  "x",
  "/path",
  "//host/path",
  "http://example.com/\u2028",
  "https://example.com/?a=b&c=%zz&é",
  "https://example.com/#%00 \u0007",
];

/** [input, base] pairs, after urltestdata's relative cases. */
const relative: [string, string][] = [
  ["", "http://example.com/a/b?c#d"],
  ["#frag", "http://example.com/a/b?c#d"],
  ["?q", "http://example.com/a/b?c#d"],
  ["x", "http://example.com/a/b?c#d"],
  ["./x", "http://example.com/a/b"],
  ["../x", "http://example.com/a/b/c"],
  ["../../../../x", "http://example.com/a/b"],
  ["/x", "http://example.com/a/b"],
  ["//other.com/x", "http://example.com/a/b"],
  ["\\\\other.com\\x", "http://example.com/a/b"],
  ["\\x", "http://example.com/a/b"],
  ["http:x", "http://example.com/a/b"],
  ["http:/x", "http://example.com/a/b"],
  ["https:x", "http://example.com/a/b"],
  ["HTTP:x", "http://example.com/a/b"],
  [" \t x \n", "http://example.com/a/"],
  ["..", "http://example.com/a/b/"],
  ["%2e%2E", "http://example.com/a/b/"],
  [".", "http://example.com/a/b"],
  ["a:b", "http://example.com/"],
  ["mailto:x", "http://example.com/"],
  ["x", "mailto:a@b"],
  ["#f", "mailto:a@b"],
  ["?q", "data:text/plain,x"],
  ["x", "sc://host/a/b"],
  ["../x", "sc://host/a/b/c"],
  ["//h2/p", "sc://host/a"],
  ["x", "sc:/a/b"],
  ["/x", "sc:/a/b"],
  ["x", "sc:opaque"],
  ["", "sc:opaque?q#f"],
  ["C|/x", "file:///a/b"],
  ["/C:/x", "file:///D:/a/b"],
  ["..", "file:///C:/"],
  ["x", "file://host/a/b"],
  ["//h2", "file://host/a"],
  ["file:x", "file:///a/b"],
  ["file:", "file:///a/b?q"],
  ["?x", "file:///a/b?q#h"],
  ["\\\\server\\share\\f", "file:///a"],
  ["http://[::1]:99/x", "about:blank"],
  ["x", "about:blank"],
  ["x", "not a url"],
  ["", ""],
  ["https://ok/", "not a url"],
  ["//", "https://example.com/"],
  ["///x", "https://example.com/"],
  ["/\\\\x", "https://example.com/"],
  ["x", "https://user:pw@example.com:81/a/b?c#d"],
  ["//u@h2", "https://user:pw@example.com/"],
];

/** [href, part, value]: the setters, after setters_tests.json's coverage. */
const setters: [string, string, string][] = [
  ["https://example.com/", "protocol", "http"],
  ["https://example.com/", "protocol", "HTTP:"],
  ["https://example.com/", "protocol", "ftp:foo"],
  ["https://example.com/", "protocol", "sc"],
  ["sc://x/", "protocol", "https"],
  ["http://example.com:8080/", "protocol", "https"],
  ["http://example.com:443/", "protocol", "https"],
  ["file:///x", "protocol", "http"],
  ["http://user@example.com/", "protocol", "file"],
  ["https://example.com/", "protocol", "1http"],
  ["https://example.com/", "username", "me"],
  ["https://example.com/", "username", "m e@:/"],
  ["https://me@example.com/", "username", ""],
  ["file:///x", "username", "me"],
  ["mailto:x", "username", "me"],
  ["https://example.com/", "password", "secret"],
  ["https://example.com/", "password", "s:e@c"],
  ["https://:secret@example.com/", "password", ""],
  ["https://example.com/", "host", "other.org:81"],
  ["https://example.com/", "host", "other.org:443"],
  ["https://example.com/", "host", "other.org:99999"],
  ["https://example.com/", "host", "oth er.org"],
  ["https://example.com/", "host", ""],
  ["https://example.com/", "host", "a/b"],
  ["https://example.com/", "host", "0x7f.1"],
  ["https://example.com/", "host", "[::1]:82"],
  ["https://example.com/", "host", "münchen.de"],
  ["sc://h/", "host", ""],
  ["sc:opaque", "host", "h"],
  ["https://example.com:81/", "hostname", "other.org:99"],
  ["https://example.com/", "hostname", "a?b"],
  ["https://example.com/", "hostname", "[::2]"],
  ["file://h/x", "hostname", "localhost"],
  ["https://example.com/", "port", "8080"],
  ["https://example.com:81/", "port", ""],
  ["https://example.com/", "port", "443"],
  ["https://example.com/", "port", "80abc"],
  ["https://example.com/", "port", "65536"],
  ["https://example.com/", "port", "-1"],
  ["file:///x", "port", "81"],
  ["https://example.com/", "pathname", "a b/c"],
  ["https://example.com/", "pathname", "/../x"],
  ["https://example.com/", "pathname", "\\x\\y"],
  ["https://example.com/", "pathname", "?#"],
  ["sc://h/a", "pathname", "\\x"],
  ["mailto:x", "pathname", "y"],
  ["https://example.com/", "pathname", ""],
  ["https://example.com/", "search", "a=b c"],
  ["https://example.com/?x", "search", ""],
  ["https://example.com/", "search", "??a#b"],
  ["https://example.com/", "search", "'"],
  ["https://example.com/", "hash", "x y"],
  ["https://example.com/#x", "hash", ""],
  ["https://example.com/", "hash", "##a"],
  ["https://example.com/", "href", "http://other/"],
  ["https://example.com/a", "hash", "\u0000"],
];

/** URLSearchParams: [init, operations], after url/urlsearchparams-*.any.js. */
const params: [string, [string, ...string[]][]][] = [
  [
    "a=1&b=2&a=3",
    [
      ["getAll", "a"],
      ["get", "b"],
      ["get", "z"],
      ["has", "a"],
      ["has", "a", "3"],
      ["has", "a", "9"],
    ],
  ],
  ["a=1&b=2&a=3", [["delete", "a"]]],
  ["a=1&b=2&a=3", [["delete", "a", "3"]]],
  ["a=1&b=2&a=3", [["set", "a", "x"]]],
  ["c=1&a=2&b=3&a=1", [["sort"]]],
  ["z=1&\ud83d\ude00=2&\uff41=3&a=4", [["sort"]]],
  [
    "",
    [
      ["append", "a b", "c&d=e"],
      ["append", "é", "+"],
    ],
  ],
  [
    "a+b=c+d&e%20f=g%2Bh",
    [
      ["get", "a b"],
      ["get", "e f"],
    ],
  ],
  [
    "a=%zz&b=%e9&c=%C3%A9",
    [
      ["get", "a"],
      ["get", "b"],
      ["get", "c"],
    ],
  ],
  ["&&a&=b&c=&==", []],
  ["a=1;b=2", []],
  ["?a=1", []],
  ["??a=1", []],
  ["a=b=c", [["get", "a"]]],
  [
    "",
    [
      ["append", "*-._", "~!'()"],
      ["append", "\u0000", "\n\r"],
    ],
  ],
  ["a=1", [["append", "\ud800", "\udc00"]]],
];

const paramsFrom = ["record", "pairs", "leadingQuestionMark", "iterable", "urlBound"];

/** What the host's parser gives; a refusal is a TypeError. */
function expected(run: () => unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(run()));
  } catch (e) {
    if (e instanceof TypeError) return { throws: "TypeError" };
    throw e;
  }
}

function cases(): Case[] {
  const out: Case[] = [];
  const parse = (input: string, base?: string) => {
    const u = base === undefined ? new URL(input) : new URL(input, base);
    return PARTS.map((p) => u[p]);
  };
  const seen = new Set<string>();
  const add = (c: Case) => {
    if (seen.has(c.name)) return;
    seen.add(c.name);
    out.push(c);
  };
  for (const input of absolute) {
    add({
      name: `parse ${JSON.stringify(input)}`,
      fn: "parse",
      input: { input },
      expect: expected(() => parse(input)),
    });
    add({
      name: `canParse ${JSON.stringify(input)}`,
      fn: "canParse",
      input: { input },
      expect: URL.canParse(input),
    });
  }
  for (const [input, base] of relative)
    add({
      name: `parse ${JSON.stringify(input)} against ${JSON.stringify(base)}`,
      fn: "parse",
      input: { input, base },
      expect: expected(() => parse(input, base)),
    });
  for (const [href, part, value] of setters)
    add({
      name: `set ${part} of ${JSON.stringify(href)} to ${JSON.stringify(value)}`,
      fn: "set",
      input: { href, part, value },
      expect: expected(() => {
        const u = new URL(href);
        (u as unknown as Record<string, string>)[part] = value;
        return u.href;
      }),
    });
  for (const [i, [init, ops]] of params.entries())
    add({
      name: `URLSearchParams ${i}: ${JSON.stringify(init)} then ${JSON.stringify(ops)}`,
      fn: "params",
      input: { init, ops },
      expect: expected(() => fns.params!({ init, ops })),
    });
  for (const kind of paramsFrom)
    add({
      name: `URLSearchParams from ${kind}`,
      fn: "paramsFrom",
      input: kind,
      expect: expected(() => fns.paramsFrom!(kind)),
    });
  add({
    name: "searchParams is live: the URL's search and the object agree both ways",
    fn: "searchParamsLive",
    expect: expected(() => fns.searchParamsLive!(undefined)),
  });
  add({
    name: "toJSON, toString, and no own enumerable keys",
    fn: "misc",
    expect: expected(() => fns.misc!(undefined)),
  });
  return out;
}

conformance("url", fns, cases);
