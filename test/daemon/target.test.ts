import assert from "node:assert/strict";
import { test } from "node:test";
import { splitTarget } from "../../src/daemon/http.ts";

// Routing reads a request's path and query through splitTarget, which skips the URL parser for
// plain targets: it must give exactly what the URL parser gives, for hostile targets too.
test("a target's path and query are what the URL parser makes of them, whichever way they are read", () => {
  const targets = [
    "/",
    "/agents/hello/",
    "/agents/hello/greet?name=Ada&x=1",
    "/agents/hello?",
    "/agents/hello/?a=%41&b=/c?d",
    "/agents/../v1/health",
    "/agents/./hello",
    "/agents/%2e%2e/v1/health",
    "/agents/hello/.hidden",
    "/agents/hello/a%20b",
    "/agents/hello/a b",
    "/agents/hello/<script>",
    "/agents/hello/?q='quoted'",
    '/agents/hello/?q="x"',
    "/agents/hello/\\..\\v1",
    "/agents/hello/#fragment",
    "/agents/hello/?a#b",
    "//evil.example/path",
    "/agents/hello/ü",
    "/agents/hello/~user;p=1:2@x",
    "http://other.example/agents/hello/",
  ];
  for (const target of targets) {
    const url = new URL(target, "http://gateway.invalid");
    assert.deepEqual(splitTarget(target), { pathname: url.pathname, search: url.search }, target);
  }
});
