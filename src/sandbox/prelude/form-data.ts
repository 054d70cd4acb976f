// FormData (XHR Standard) and its two body encodings: multipart/form-data (HTML's "multipart/
// form-data encoding algorithm", as undici writes it) and application/x-www-form-urlencoded.
// Held to Node's own FormData, Request and Response by test/sandbox/form-data.test.ts.
import { Blob, blobBytes, File } from "./blob.ts";
import { TextDecoder, TextEncoder } from "./encoding.ts";
import { URLSearchParams } from "./url.ts";

type Entry = [string, string | File];

const ENTRIES = new WeakMap<FormData, Entry[]>();
const entriesOf = (f: FormData): Entry[] => ENTRIES.get(f) ?? [];

/** A Blob becomes a File named `filename`, else its own name, else "blob" (XHR, "create an entry"). */
function entry(name: string, value: unknown, filename?: string): Entry {
  if (value instanceof Blob) {
    const fileName = filename !== undefined ? String(filename) : value instanceof File ? value.name : "blob";
    const file =
      value instanceof File && filename === undefined
        ? value
        : new File([value], fileName, {
            type: value.type,
            ...(value instanceof File ? { lastModified: value.lastModified } : {}),
          });
    return [String(name), file];
  }
  return [String(name), String(value)];
}

export class FormData {
  constructor(form?: unknown) {
    if (form !== undefined) throw new TypeError("FormData: there are no HTML forms in an agent");
    ENTRIES.set(this, []);
  }
  append(name: string, value: string | Blob, filename?: string): void {
    entriesOf(this).push(entry(name, value, filename));
  }
  set(name: string, value: string | Blob, filename?: string): void {
    const e = entry(name, value, filename);
    const list = entriesOf(this);
    const at = list.findIndex(([k]) => k === e[0]);
    if (at < 0) list.push(e);
    else {
      list[at] = e;
      ENTRIES.set(
        this,
        list.filter(([k], i) => i <= at || k !== e[0]),
      );
    }
  }
  get(name: string): string | File | null {
    return entriesOf(this).find(([k]) => k === String(name))?.[1] ?? null;
  }
  getAll(name: string): (string | File)[] {
    return entriesOf(this)
      .filter(([k]) => k === String(name))
      .map(([, v]) => v);
  }
  has(name: string): boolean {
    return entriesOf(this).some(([k]) => k === String(name));
  }
  delete(name: string): void {
    ENTRIES.set(
      this,
      entriesOf(this).filter(([k]) => k !== String(name)),
    );
  }
  forEach(cb: (value: string | File, name: string, form: FormData) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this);
  }
  *entries(): IterableIterator<[string, string | File]> {
    for (const [k, v] of [...entriesOf(this)]) yield [k, v];
  }
  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }
  *values(): IterableIterator<string | File> {
    for (const [, v] of this.entries()) yield v;
  }
  [Symbol.iterator](): IterableIterator<[string, string | File]> {
    return this.entries();
  }
  get [Symbol.toStringTag](): string {
    return "FormData";
  }
}

const escapeName = (s: string) => s.replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");
const crlf = (s: string) => s.replace(/\r?\n|\r/g, "\r\n");

/** A FormData as a multipart/form-data body and its content type. */
export function encodeMultipart(form: FormData): { bytes: Uint8Array; type: string } {
  let boundary = "----formdata-veil-";
  for (let i = 0; i < 4; i++) boundary += Math.random().toString(16).slice(2, 12).padStart(10, "0");
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const [name, value] of entriesOf(form)) {
    const disposition = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(crlf(name))}"`;
    if (typeof value === "string") {
      parts.push(enc.encode(`${disposition}\r\n\r\n${crlf(value)}\r\n`));
    } else {
      parts.push(
        enc.encode(
          `${disposition}; filename="${escapeName(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`,
        ),
        blobBytes(value),
        enc.encode("\r\n"),
      );
    }
  }
  parts.push(enc.encode(`--${boundary}--\r\n`));
  return { bytes: blobBytes(new Blob(parts)), type: `multipart/form-data; boundary=${boundary}` };
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** A parameter of a header value: `name="va\"lue"` or `name=value`. */
function param(header: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, "i").exec(header);
  if (!m) return undefined;
  return m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2];
}

/** A body as FormData, by its content type (multipart or urlencoded); else a TypeError. */
export function parseFormData(bytes: Uint8Array, contentType: string | null): FormData {
  const type = (contentType ?? "").toLowerCase();
  const form = new FormData();
  if (type.startsWith("application/x-www-form-urlencoded")) {
    for (const [k, v] of new URLSearchParams(new TextDecoder().decode(bytes))) form.append(k, v);
    return form;
  }
  if (!type.startsWith("multipart/form-data"))
    throw new TypeError(`formData(): the body is ${contentType ?? "untyped"}, not a form`);
  const boundary = param(contentType ?? "", "boundary");
  if (!boundary) throw new TypeError("formData(): a multipart body without a boundary");
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const delimiter = enc.encode(`--${boundary}`);
  let at = indexOf(bytes, delimiter, 0);
  if (at < 0) throw new TypeError("formData(): the multipart body has no parts");
  for (;;) {
    at += delimiter.length;
    if (bytes[at] === 0x2d && bytes[at + 1] === 0x2d) return form; // the closing "--"
    if (bytes[at] !== 0x0d || bytes[at + 1] !== 0x0a)
      throw new TypeError("formData(): a malformed multipart body");
    const headEnd = indexOf(bytes, enc.encode("\r\n\r\n"), at + 2);
    if (headEnd < 0) throw new TypeError("formData(): a multipart part without an end to its headers");
    const headers = dec.decode(bytes.subarray(at + 2, headEnd)).split("\r\n");
    const next = indexOf(bytes, enc.encode(`\r\n--${boundary}`), headEnd + 4);
    if (next < 0) throw new TypeError("formData(): a multipart part without an end");
    const data = bytes.subarray(headEnd + 4, next);
    const header = (n: string) =>
      headers
        .find((h) => h.toLowerCase().startsWith(`${n}:`))
        ?.slice(n.length + 1)
        .trim();
    const disposition = header("content-disposition") ?? "";
    const rawName = param(disposition, "name");
    if (rawName === undefined) throw new TypeError("formData(): a multipart part without a name");
    // What the encoder escaped comes back (as undici's parser does).
    const unescapeName = (v: string) => v.replace(/%0A/gi, "\n").replace(/%0D/gi, "\r").replace(/%22/g, '"');
    const name = unescapeName(rawName);
    const rawFilename = param(disposition, "filename");
    const filename = rawFilename === undefined ? undefined : unescapeName(rawFilename);
    if (filename === undefined) form.append(name, dec.decode(data));
    else form.append(name, new File([data], filename, { type: header("content-type") ?? "text/plain" }));
    at = next + 2;
  }
}
