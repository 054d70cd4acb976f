// FileAPI (Blob, File) conformance in the sandbox, written after WPT's FileAPI/blob and
// FileAPI/file coverage: no npm package publishes those as data.
import { conformance, written } from "./harness.ts";

const { fns, cases } = written({
  "Blob: parts of every kind joined, size and text": [
    async () => {
      const b = new Blob([
        "a",
        new Uint8Array([98]),
        new Uint16Array([0x6463]).buffer,
        new Blob(["e"]),
        new DataView(new Uint8Array([102]).buffer),
      ]);
      return [b.size, await b.text()];
    },
    [6, "abcdef"],
  ],
  "Blob: a string part is UTF-8, lone surrogates become U+FFFD": [
    async () => {
      const b = new Blob(["é\ud800"]);
      return [b.size, [...new Uint8Array(await b.arrayBuffer())]];
    },
    [5, [0xc3, 0xa9, 0xef, 0xbf, 0xbd]],
  ],
  "Blob: type is lowercased; a non-ASCII type is the empty string": [
    () => [new Blob([], { type: "Text/HTML" }).type, new Blob([], { type: "é" }).type, new Blob([]).type],
    ["text/html", "", ""],
  ],
  "Blob: endings 'native' turns line breaks into \\n; 'transparent' keeps them": [
    async () => [
      await new Blob(["a\r\nb\rc"], { endings: "native" }).text(),
      await new Blob(["a\r\nb"], { endings: "transparent" }).text(),
    ],
    ["a\nb\nc", "a\r\nb"],
  ],
  "Blob: slice with negative, out of range and reversed bounds": [
    async () => {
      const b = new Blob(["0123456789"]);
      return Promise.all([
        b.slice(2, 5).text(),
        b.slice(-3).text(),
        b.slice(-100, 2).text(),
        b.slice(8, 100).text(),
        b.slice(5, 2).text(),
        b.slice().text(),
      ]);
    },
    ["234", "789", "01", "89", "", "0123456789"],
  ],
  "Blob: slice sets the given content type, else the empty string": [
    () => {
      const b = new Blob(["x"], { type: "a/b" });
      return [b.slice(0, 1).type, b.slice(0, 1, "C/D").type];
    },
    ["", "c/d"],
  ],
  "Blob: slicing a slice of several parts": [
    async () => new Blob(["abc", "def", "ghi"]).slice(2, 8).slice(1, 4).text(),
    "def",
  ],
  "Blob: stream() yields Uint8Array chunks of its bytes": [
    async () => {
      const r = new Blob(["str", "eam"]).stream().getReader();
      const out: number[] = [];
      let kinds = "";
      for (;;) {
        const { done, value } = await r.read();
        if (done) break;
        kinds = value.constructor.name;
        out.push(...value);
      }
      return [kinds, new TextDecoder().decode(new Uint8Array(out))];
    },
    ["Uint8Array", "stream"],
  ],
  "Blob: bytes() answers a Uint8Array": [
    async () => {
      const b = await new Blob(["hi"]).bytes();
      return [b.constructor.name, [...b]];
    },
    ["Uint8Array", [104, 105]],
  ],
  "Blob: a later change to a part's buffer does not change the blob": [
    async () => {
      const u = new Uint8Array([97]);
      const b = new Blob([u]);
      u[0] = 98;
      return b.text();
    },
    "a",
  ],
  "Blob: toStringTag, and parts that are neither sequences nor iterables refused": [
    () => {
      let refused = "";
      try {
        new Blob("abc" as never);
      } catch (e) {
        refused = (e as Error).name;
      }
      return [Object.prototype.toString.call(new Blob([])), refused];
    },
    ["[object Blob]", "TypeError"],
  ],
  "File: name, type, lastModified, and a Blob": [
    () => {
      const f = new File(["abc"], "a/b.txt", { type: "TEXT/plain", lastModified: 42 });
      return [f.name, f.type, f.lastModified, f.size, f instanceof Blob, Object.prototype.toString.call(f)];
    },
    ["a/b.txt", "text/plain", 42, 3, true, "[object File]"],
  ],
  "File: lastModified defaults to now": [
    () => {
      const before = Date.now();
      const f = new File([], "x");
      return f.lastModified >= before && f.lastModified <= Date.now();
    },
    true,
  ],
  "File: without a name is a TypeError": [
    () => {
      try {
        new (File as unknown as new (p: string[]) => File)(["x"]);
        return "made";
      } catch (e) {
        return (e as Error).name;
      }
    },
    "TypeError",
  ],
  "File: a slice is a Blob, not a File": [
    () => {
      const s = new File(["abc"], "f").slice(1);
      return [s instanceof File, s instanceof Blob, s.size];
    },
    [false, true, 2],
  ],
});

conformance("file-api", fns, () => cases);
