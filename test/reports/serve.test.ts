// `faultline serve` and `faultline report`: the store over HTTP on loopback, read-only, never
// outside the store, and only faultline's own pages served as HTML.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type StoreServer, serveStore } from "../../reports/serve.js";
import { copyFixtureStore, SCENARIOS, writeLateLossRun } from "./fixtures.js";

const ENTRY = resolve(import.meta.dirname, "cli-entry.mjs");
let fixture: ReturnType<typeof copyFixtureStore>;
let lateLoss: string;
let server: StoreServer;

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw request: the path is sent exactly as given (fetch would normalise `..`). */
function get(base: string, path: string, method = "GET"): Promise<Reply> {
  const url = new URL(base);
  return new Promise((done, fail) => {
    const req = request({ host: url.hostname, port: url.port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", fail);
    req.end();
  });
}

beforeAll(async () => {
  fixture = copyFixtureStore();
  // Things a target could leave in its run directory, and a way out of the store.
  const data = join(fixture.runs.escaping as string, "data", "n0");
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, "planted.html"), "<script>alert(1)</script>");
  symlinkSync("/etc", join(fixture.store, "outside"));
  lateLoss = writeLateLossRun(fixture.store);
  server = await serveStore({ store: fixture.store, port: 0 });
});

afterAll(async () => {
  await server?.close();
  fixture?.remove();
});

describe("serve", () => {
  it("listens on loopback and lists every run on the index", async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const index = await get(server.url, "/");
    expect(index.status).toBe(200);
    expect(index.headers["content-type"]).toBe("text/html; charset=utf-8");
    for (const scenario of SCENARIOS) expect(index.body).toContain(`href="${scenario}/`);
  });

  it("serves a run's files, and renders a missing report on the fly without writing it", async () => {
    const run = fixture.runs["invalid-linearizable"] as string;
    const path = run.slice(fixture.store.length);
    const results = await get(server.url, `${path}/results.json`);
    expect(results.status).toBe(200);
    expect(JSON.parse(results.body).valid).toBe(false);
    const report = await get(server.url, `${path}/report.html`);
    expect(report.status).toBe(200);
    expect(report.body).toContain("INVALID — a checker found a violation");
    expect(existsSync(join(run, "report.html"))).toBe(false); // read-only
    const log = await get(server.url, `${path}/node-logs/n0.log`);
    expect(log.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(log.headers["x-content-type-options"]).toBe("nosniff");
    expect(log.headers["content-security-policy"]).toContain("sandbox");
    const listing = await get(server.url, `${path}/node-logs/`);
    expect(listing.body).toContain('href="n0.log"');
  });

  it("renders the message diagram around ?messages_at=S, with links to the windows beside it", async () => {
    const path = lateLoss.slice(fixture.store.length);
    const window = (body: string) =>
      body.match(/message events, (\d+\.\d) s–(\d+\.\d) s, around ([^;]*);/)?.slice(1);
    const at25 = await get(server.url, `${path}/report.html?messages_at=25`);
    expect(at25.status).toBe(200);
    const [from, to, around] = window(at25.body) ?? [];
    expect(around).toBe("25 s, as asked");
    expect(Number(from)).toBeLessThan(25);
    expect(Number(to)).toBeGreaterThan(25);
    const link = (text: string) =>
      at25.body.match(new RegExp(`<a href="\\?messages_at=([\\d.]+)">${text}</a>`))?.[1];
    const earlier = await get(server.url, `${path}/report.html?messages_at=${link("← earlier")}`);
    expect(Number(window(earlier.body)?.[1])).toBeLessThanOrEqual(Number(from) + 1);
    // Near the end the window cannot move a whole width: it ends with the journal.
    const later = await get(server.url, `${path}/report.html?messages_at=${link("later →")}`);
    expect(Number(window(later.body)?.[1])).toBeGreaterThan(Number(to));
    // Without a valid time the run's own focus is used: the late lost value.
    const plain = await get(server.url, `${path}/report.html?messages_at=soon`);
    expect(window(plain.body)?.[2]).toBe("the lost value 117");
    expect(existsSync(join(lateLoss, "report.html"))).toBe(false); // read-only
  });

  it("serves a page a target planted as inert text, not HTML", async () => {
    const path = (fixture.runs.escaping as string).slice(fixture.store.length);
    const planted = await get(server.url, `${path}/data/n0/planted.html`);
    expect(planted.status).toBe(200);
    expect(planted.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(planted.headers["content-security-policy"]).toContain("sandbox");
  });

  it("refuses every path outside the store", async () => {
    for (const path of [
      "/../package.json",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/valid-broadcast/..%2f..%2f..%2fetc%2fpasswd",
      "/valid-broadcast/%00",
      "/%E0%A4%A",
    ]) {
      expect((await get(server.url, path)).status, path).toBe(400);
    }
    // A symlink inside the store that points out of it.
    expect((await get(server.url, "/outside/hostname")).status).toBe(404);
    expect((await get(server.url, "/no-such-run/x/report.html")).status).toBe(404);
  });

  it("is read-only", async () => {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const reply = await get(server.url, "/", method);
      expect(reply.status).toBe(405);
      expect(reply.headers.allow).toBe("GET, HEAD");
    }
  });
});

/** Runs the compiled commands in a subprocess; resolves with its output when it exits. */
function command(args: string[], onLine?: (line: string, kill: () => void) => void) {
  const child = spawn(process.execPath, [ENTRY, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    for (const line of chunk.split("\n")) if (line) onLine?.(line, () => child.kill("SIGTERM"));
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    child.on("exit", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

describe("the commands", () => {
  it("`serve` prints its loopback URL, answers there, and stops cleanly on SIGTERM", async () => {
    let listed = "";
    const result = await command(["serve", fixture.store, "--port", "0"], (line, kill) => {
      const url = line.match(/(http:\/\/127\.0\.0\.1:\d+\/)/)?.[1];
      if (!url) return;
      get(url, "/").then((reply) => {
        listed = reply.body;
        kill();
      }, kill);
    });
    expect(result.stdout).toMatch(/faultline: serving .* at http:\/\/127\.0\.0\.1:\d+\//);
    expect(listed).toContain('href="node-crash/');
    expect(result.code).toBe(0);
  });

  it("`report DIR` re-renders a run through the store's latest-style symlink", async () => {
    const run = fixture.runs["node-crash"] as string;
    const link = join(fixture.store, "latest");
    rmSync(link, { force: true });
    symlinkSync(run.slice(fixture.store.length + 1), link);
    const result = await command(["report", link]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^report: .*node-crash\/2026-11-21T082155\/report\.html\n$/);
    for (const file of ["report.html", "junit.xml", "summary.md"]) {
      expect(existsSync(join(run, file)), file).toBe(true);
    }
    expect(existsSync(join(fixture.store, "index.html"))).toBe(true);
  });

  it("`report` on something that is not a run says so", async () => {
    const result = await command(["report", fixture.store]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain("is not a run directory");
  });
});
