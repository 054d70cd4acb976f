// A Veil agent: a web-standard fetch handler, run in a TEE-backed sandbox on Veil workers.
// Invoke it with: npx veil invoke NAME --path /greet --data '{"name":"Ada"}'

type Greeting = { name?: unknown };

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/greet") {
      let name = url.searchParams.get("name") ?? "world";
      if (request.method === "POST") {
        let body: Greeting;
        try {
          body = (await request.json()) as Greeting;
        } catch {
          return Response.json({ error: 'send a JSON body like {"name": "Ada"}' }, { status: 400 });
        }
        if (typeof body.name === "string" && body.name.length > 0) name = body.name;
      }
      return Response.json({ message: `Hello, ${name}!` });
    }
    if (url.pathname === "/") return new Response("hello-agent is running. Try /greet\n");
    return Response.json({ error: `no route ${url.pathname}` }, { status: 404 });
  },
};
