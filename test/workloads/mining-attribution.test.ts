// A client's bitcoin Request and Result are attributed to the job by the LSP connection they
// travel on, not by the client's frontend (issue 24 item 6): a client killed mid-job leaves its
// connection open at the server until the server notices, and that connection's Result (or a
// late retransmission of its Request) must not time the next job of the same worker.
import { describe, expect, it } from "vitest";
import { requestMessage, resultMessage } from "../../protocols/bitcoin/message.js";
import { type ClientMessage, JobAttribution } from "../../workloads/mining/attribution.js";

const request = (conn: number, data: string, ms: number): ClientMessage => ({
  peer: "c0",
  direction: "to-server",
  conn,
  message: requestMessage(data, 0n, 99n),
  time_ns: ms * 1e6,
});
const result = (conn: number, ms: number): ClientMessage => ({
  peer: "c0",
  direction: "from-server",
  conn,
  message: resultMessage(7n, 3n),
  time_ns: ms * 1e6,
});

describe("JobAttribution", () => {
  it("times a job by its own Request and the Result on the same connection", () => {
    const a = new JobAttribution();
    a.begin("c0", "job-1");
    expect(a.arrived("c0")).toBe(false);
    a.observe(request(4, "job-1", 10));
    a.observe(request(4, "job-1", 12)); // a retransmission
    expect(a.arrived("c0")).toBe(true);
    a.observe(result(4, 50));
    a.observe(result(4, 55));
    expect(a.timing("c0")).toEqual({ request_ns: 10e6, result_ns: 50e6 });
  });

  it("a stale connection's Result does not complete the next job of the worker", () => {
    const a = new JobAttribution();
    a.begin("c0", "job-1");
    a.observe(request(4, "job-1", 10));
    // job-1's client is killed; job-2's client connects anew (connection 5).
    a.begin("c0", "job-2");
    a.observe(result(4, 30)); // the server finishes job-1 on the dead client's connection
    a.observe(request(5, "job-2", 40));
    a.observe(result(4, 45)); // … and retransmits it
    expect(a.timing("c0")).toEqual({ request_ns: 40e6 });
    a.observe(result(5, 90));
    expect(a.timing("c0")).toEqual({ request_ns: 40e6, result_ns: 90e6 });
  });

  it("a late Request of the previous job is not the new job arriving", () => {
    const a = new JobAttribution();
    a.begin("c0", "job-1");
    a.observe(request(4, "job-1", 10));
    a.begin("c0", "job-2");
    a.observe(request(4, "job-1", 20)); // held by the network, delivered late
    expect(a.arrived("c0")).toBe(false);
    a.observe(request(5, "job-2", 40));
    expect(a.arrived("c0")).toBe(true);
    expect(a.timing("c0")).toEqual({ request_ns: 40e6 });
  });

  it("a client that reconnects is timed on the connection its answer comes back on", () => {
    const a = new JobAttribution();
    a.begin("c0", "job-1");
    a.observe(request(4, "job-1", 10));
    a.observe(request(6, "job-1", 300)); // the client gave up on connection 4 and asked again
    a.observe(result(4, 310)); // the first connection's answer, to no one
    expect(a.timing("c0")).toEqual({ request_ns: 300e6 });
    a.observe(result(6, 350));
    expect(a.timing("c0")).toEqual({ request_ns: 300e6, result_ns: 350e6 });
  });

  it("keeps workers apart", () => {
    const a = new JobAttribution();
    a.begin("c0", "job-1");
    a.begin("c1", "job-2");
    a.observe({ ...request(4, "job-2", 10), peer: "c1" });
    expect(a.arrived("c0")).toBe(false);
    expect(a.arrived("c1")).toBe(true);
  });
});
