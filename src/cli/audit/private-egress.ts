import { type AuditCheck, broken, held } from "./types.ts";

// Issue 18: an agent owner listed `127.0.0.1:PORT` and 169.254.169.254 in its egress list and
// read the gatekeeper's loopback API and would have read cloud metadata. A private destination
// now needs the worker's operator's allowance too (`veil worker --allow-private-egress`), which
// no agent owner has; the probe lists them and tries.

type Attempt = { target: string; reached: boolean; status?: number; code?: string; message?: string };

export const privateEgress: AuditCheck = {
  id: "private-egress",
  title: "an agent fetching the gatekeeper's loopback API and cloud metadata",
  async run(ctx) {
    const probe = await ctx.probe();
    const answer = await ctx.client.invoke(probe.name, {
      path: "/egress",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(probe.egressTargets),
    });
    if (answer.status !== 200) throw new Error(`the probe's /egress answered HTTP ${answer.status}`);
    const attempts = JSON.parse(Buffer.from(answer.body).toString("utf8")) as Attempt[];
    const refused = attempts.filter((a) => !a.reached && a.code === "EGRESS_PRIVATE_ADDRESS");
    const reached = attempts.filter((a) => a.reached);
    // A time-out or a failed connection means the worker's host tried to connect: only nothing
    // listening (or answering in time) stopped it.
    const tried = attempts.filter((a) => !a.reached && a.code !== "EGRESS_PRIVATE_ADDRESS");
    const worker = answer.worker ? ` on worker ${answer.worker}` : "";
    if (reached.length > 0 || tried.some((a) => a.code !== "EGRESS_HOST_NOT_ALLOWED")) {
      const what = [
        ...reached.map((a) => `${a.target} answered HTTP ${a.status}`),
        ...tried
          .filter((a) => a.code !== "EGRESS_HOST_NOT_ALLOWED")
          .map((a) => `${a.target} was tried (${a.code})`),
      ];
      return broken(
        `the agent's egress list named private destinations and the worker's host went for them${worker}: ${what.join("; ")} (only an operator's --allow-private-egress should open one)`,
      );
    }
    return held(
      `the agent listed ${attempts.map((a) => a.target).join(", ")} in its egress list and fetched them${worker}: ${refused.length} refused with EGRESS_PRIVATE_ADDRESS${tried.length ? `, ${tried.length} with EGRESS_HOST_NOT_ALLOWED` : ""}, none reached`,
    );
  },
};
