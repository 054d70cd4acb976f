import { readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { endianness } from "node:os";

/** What the kernel knows of one TCP connection that the process cannot see from its socket. */
export type TcpState = {
  /** Bytes written and not yet acknowledged by the peer's kernel (sent or still queued). */
  unacknowledged: number;
  /** Retransmission time-outs in a row since the peer last acknowledged anything (0: none). */
  retransmits: number;
};

/** The two ends of a connection, as `net.Socket` names them. */
export type TcpEnds = {
  localAddress?: string | undefined;
  localPort?: number | undefined;
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
};

/**
 * The kernel's view of a TCP connection (Linux: its row in `/proc/net/tcp` or `tcp6`), or
 * undefined when it is not there to read (another OS, a Unix socket, a connection already gone).
 *
 * It tells a peer whose host is gone from one whose process is only busy: a host cut off
 * acknowledges nothing, so what the gateway writes stays unacknowledged and the kernel
 * retransmits it after its time-out (200 ms at least on Linux); a busy process's kernel
 * acknowledges at once, whatever its event loop is doing.
 *
 * @example
 * const state = tcpState(socket);
 * if (state && state.retransmits > 0) console.log("the peer's host acknowledges nothing");
 */
export function tcpState(ends: TcpEnds): TcpState | undefined {
  const { localAddress, localPort, remoteAddress, remotePort } = ends;
  if (!localAddress || !remoteAddress || !localPort || !remotePort) return undefined;
  const v4 = isIPv4(localAddress) && isIPv4(remoteAddress);
  const local = `${hexAddress(localAddress, v4)}:${hexPort(localPort)}`;
  const remote = `${hexAddress(remoteAddress, v4)}:${hexPort(remotePort)}`;
  if (local.startsWith(":") || remote.startsWith(":")) return undefined;
  let table: string;
  try {
    table = readFileSync(v4 ? "/proc/net/tcp" : "/proc/net/tcp6", "latin1");
  } catch {
    return undefined;
  }
  // "  sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt ..."
  const at = table.indexOf(` ${local} ${remote} `);
  if (at < 0) return undefined;
  const fields = table.slice(at, table.indexOf("\n", at)).trim().split(/\s+/);
  const queues = fields[3]?.split(":");
  if (!queues || fields[5] === undefined) return undefined;
  return { unacknowledged: Number.parseInt(queues[0]!, 16), retransmits: Number.parseInt(fields[5], 16) };
}

const LITTLE_ENDIAN = endianness() === "LE";

/** An address as the kernel prints it: each 32-bit word of it in the machine's byte order. */
function hexAddress(address: string, v4: boolean): string {
  const bytes = v4 ? v4Bytes(address) : v6Bytes(address);
  if (!bytes) return "";
  let out = "";
  for (let i = 0; i < bytes.length; i += 4) {
    const word = LITTLE_ENDIAN ? bytes.readUInt32LE(i) : bytes.readUInt32BE(i);
    out += word.toString(16).toUpperCase().padStart(8, "0");
  }
  return out;
}

function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, "0");
}

function v4Bytes(address: string): Buffer {
  return Buffer.from(address.split(".").map(Number));
}

/** An IPv6 address's 16 bytes (`::`, and a trailing dotted IPv4 part as in `::ffff:10.0.0.1`). */
function v6Bytes(address: string): Buffer | undefined {
  let text = address.split("%")[0]!;
  const dotted = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const b = v4Bytes(dotted[1]!);
    text = `${text.slice(0, dotted.index)}:${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  if (groups.length !== 8) return undefined;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => {
    out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return out;
}
