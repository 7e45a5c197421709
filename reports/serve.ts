// `faultline serve`: the store over HTTP, read-only. `/` is the index (rendered fresh on each
// request), every run's files are served as they are, and a run without report.html gets one
// rendered in memory; so are a sweep's page and its runs (sweeps/<test>/<stamp>/runs/<seed>/…). Loopback only unless told otherwise. Paths are resolved strictly inside
// the store (after decoding and after following symlinks), and only faultline's own pages are
// served as HTML: anything a target wrote (its data directory, its logs) is plain text in a
// sandbox, so a node cannot plant a page that runs script on this origin.
import { createReadStream } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, relative, sep } from "node:path";
import { html } from "./escape.js";
import { renderReport } from "./html-report.js";
import { loadRun, MESSAGES_AT_PARAM, RUN_FILES } from "./load-run.js";
import { SWEEP_FILES, SWEEPS_FOLDER } from "./store-files.js";
import { listRuns, renderStoreIndex } from "./store-index.js";
import { listSweeps } from "./sweep-index.js";

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = "127.0.0.1";
/** Entries a directory listing shows at most. */
export const MAX_LISTING_ENTRIES = 1_000;

export interface StoreServer {
  url: string;
  close(): Promise<void>;
}

/** Types for the files a run holds; everything else is served as an opaque download. */
const TEXT_TYPES: Record<string, string> = {
  ".json": "application/json; charset=utf-8",
  ".jsonl": "text/plain; charset=utf-8",
  ".log": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".xml": "text/plain; charset=utf-8",
  ".html": "text/plain; charset=utf-8", // only faultline's own pages are served as HTML
  ".png": "image/png",
};

const COMMON_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};
/** For faultline's pages: they carry their own hash-based policy as well. */
const PAGE_POLICY =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; form-action 'none'";
/** For everything else: no script, no plugins, an opaque origin. */
const FILE_POLICY = "sandbox; default-src 'none'";

export async function serveStore(options: {
  store: string;
  host?: string;
  port?: number;
}): Promise<StoreServer> {
  const root = await realpath(options.store).catch(() => {
    throw new Error(`the store ${options.store} does not exist (run \`faultline test\` first)`);
  });
  const server = createServer((req, res) => {
    handle(root, req, res).catch((err: unknown) => {
      if (!res.headersSent)
        send(res, 500, "text/plain; charset=utf-8", `internal error: ${(err as Error).message}\n`);
      else res.destroy();
    });
  });
  const host = options.host ?? DEFAULT_HOST;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? DEFAULT_PORT, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("Allow", "GET, HEAD");
    return send(res, 405, "text/plain; charset=utf-8", "read-only: GET and HEAD only\n");
  }
  const segments = pathSegments(req.url ?? "/");
  if (!segments) return send(res, 400, "text/plain; charset=utf-8", "bad path\n");
  if (segments.length === 0 || (segments.length === 1 && segments[0] === "index.html")) {
    const { runs, total } = await listRuns(root);
    const sweeps = await listSweeps(root);
    const page = renderStoreIndex(runs, total, { liveReports: true, sweeps });
    return send(res, 200, "text/html; charset=utf-8", page, PAGE_POLICY, req.method === "HEAD");
  }
  const target = join(root, ...segments);
  // A run's report, rendered on the fly when the run predates reports or is still going, or
  // when ?messages_at=S asks for the message diagram around S seconds.
  const reportOf = reportRunSegments(segments);
  if (reportOf) {
    const runDir = await inside(root, join(root, ...reportOf));
    if (!runDir) return notFound(res);
    const existing = await inside(root, target);
    const messages_at_s = messagesAt(req.url ?? "");
    if (!existing || messages_at_s !== undefined) {
      const files = new Set(await readdir(runDir).catch(() => []));
      if (!files.has(RUN_FILES.results) && !files.has(RUN_FILES.test)) return notFound(res);
      const page = renderReport(await loadRun(runDir, { messages_at_s }));
      return send(res, 200, "text/html; charset=utf-8", page, PAGE_POLICY, req.method === "HEAD");
    }
  }
  const real = await inside(root, target);
  if (!real) return notFound(res);
  const info = await stat(real);
  if (info.isDirectory()) {
    if (!req.url?.split("?")[0]?.endsWith("/")) {
      res.writeHead(301, { ...COMMON_HEADERS, Location: `${req.url?.split("?")[0]}/` });
      return void res.end();
    }
    const page = await listing(real, segments);
    return send(res, 200, "text/html; charset=utf-8", page, FILE_POLICY, req.method === "HEAD");
  }
  if (!info.isFile()) return notFound(res);
  const isPage =
    reportOf !== undefined ||
    (segments.length === 4 && segments[0] === SWEEPS_FOLDER && segments[3] === SWEEP_FILES.page) ||
    (segments.length === 1 && segments[0] === "index.html");
  const type = isPage
    ? "text/html; charset=utf-8"
    : (TEXT_TYPES[extname(real).toLowerCase()] ?? "application/octet-stream");
  res.writeHead(200, {
    ...COMMON_HEADERS,
    "Content-Type": type,
    "Content-Length": info.size,
    "Content-Security-Policy": isPage ? PAGE_POLICY : FILE_POLICY,
  });
  if (req.method === "HEAD") return void res.end();
  await new Promise<void>((resolve, reject) => {
    const stream = createReadStream(real);
    stream.on("error", reject);
    res.on("close", () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(res);
  });
}

/**
 * When a request names a run's report.html, the run directory's segments: `<test>/<stamp>` in
 * the store, or `sweeps/<test>/<stamp>/runs/<seed>/<test>/<stamp>` in a sweep. Only these paths
 * are faultline's pages; a report.html anywhere else (a target's data directory) is plain text.
 */
function reportRunSegments(segments: readonly string[]): string[] | undefined {
  if (segments.at(-1) !== RUN_FILES.report) return undefined;
  const inSweep =
    segments.length === 8 && segments[0] === SWEEPS_FOLDER && segments[3] === SWEEP_FILES.runs;
  return segments.length === 3 || inSweep ? segments.slice(0, -1) : undefined;
}

/** The `messages_at` query parameter (seconds, ≥ 0), if the URL has a valid one. */
function messagesAt(url: string): number | undefined {
  const text = new URL(url, "http://localhost").searchParams.get(MESSAGES_AT_PARAM);
  const s = text === null || text.trim() === "" ? Number.NaN : Number(text);
  return Number.isFinite(s) && s >= 0 ? s : undefined;
}

/**
 * The decoded path segments of a request, or undefined when one is unsafe: `.`/`..`, an
 * encoded slash or backslash, a NUL, or bad percent-encoding.
 */
export function pathSegments(url: string): string[] | undefined {
  const path = url.split(/[?#]/)[0] ?? "/";
  const out: string[] = [];
  for (const raw of path.split("/")) {
    if (raw === "") continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (segment === "." || segment === ".." || /[/\\\0]/.test(segment)) return undefined;
    out.push(segment);
  }
  return out;
}

/** The real path of `path` if it exists and lies inside `root` (symlinks followed). */
async function inside(root: string, path: string): Promise<string | undefined> {
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return undefined;
  }
  const rel = relative(root, real);
  if (rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !rel.startsWith(sep)))
    return real;
  return undefined;
}

async function listing(dir: string, segments: readonly string[]): Promise<string> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
  const shown = entries.slice(0, MAX_LISTING_ENTRIES);
  const title = `/${segments.join("/")}/`;
  return html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1>${title}</h1><ul>
<li><a href="../">../</a></li>
${shown.map((e) => {
  const name = e.isDirectory() ? `${e.name}/` : e.name;
  return html`<li><a href="${encodeURIComponent(e.name)}${e.isDirectory() ? "/" : ""}">${name}</a></li>`;
})}</ul>${entries.length > shown.length ? html`<p>${entries.length - shown.length} more not listed.</p>` : undefined}
<p><a href="/">all runs</a></p></body></html>`.text;
}

function notFound(res: ServerResponse): void {
  send(res, 404, "text/plain; charset=utf-8", "not found\n");
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  policy = FILE_POLICY,
  headOnly = false,
): void {
  res.writeHead(status, {
    ...COMMON_HEADERS,
    "Content-Type": type,
    "Content-Length": Buffer.byteLength(body),
    "Content-Security-Policy": policy,
  });
  res.end(headOnly ? undefined : body);
}

/** Whether a listen address only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}
