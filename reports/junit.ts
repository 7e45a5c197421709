// junit.xml: one testsuite per run, one testcase per checker. An invalid checker is a
// <failure> whose message is its summary; an unknown one is an <error> (the run could not
// decide, which CI must not mistake for a pass). Everything is escaped with escapeXml.
import { escapeXml, truncate } from "./escape.js";
import type { RunFacts } from "./stored.js";

/** JUnit messages are shown on one line by most CI tools; longer text goes in the body. */
export const MESSAGE_MAX_CHARS = 1_000;

export function renderJunit(facts: RunFacts, runName: string, reportPath: string): string {
  const a = (text: string) => escapeXml(text, true);
  const t = (text: string) => escapeXml(text);
  const suite = `faultline ${facts.workload} on ${facts.target}`;
  const classname = `faultline.${facts.workload}.${facts.target}`.replace(/[^A-Za-z0-9_.-]/g, "_");
  const time = (facts.duration_s ?? 0).toFixed(3);
  const cases = facts.checkers.map((c) => {
    const elapsed = typeof c.check.elapsed_ms === "number" ? c.check.elapsed_ms / 1000 : 0;
    const open = `    <testcase classname="${a(classname)}" name="${a(c.name)}" time="${elapsed.toFixed(3)}"`;
    const body = [
      c.summary,
      "",
      `repeat: ${facts.command ?? "(unknown)"}`,
      `report: ${reportPath}`,
    ].join("\n");
    const message = a(truncate(c.summary || "(no summary)", MESSAGE_MAX_CHARS));
    if (c.valid === true) return `${open}/>`;
    const tag = c.valid === false ? "failure" : "error";
    const type = c.valid === false ? "invalid" : "unknown";
    return `${open}>\n      <${tag} message="${message}" type="${type}">${t(body)}</${tag}>\n    </testcase>`;
  });
  if (cases.length === 0) {
    // No checker ran (the run was interrupted or left no results): say so as an error.
    cases.push(
      `    <testcase classname="${a(classname)}" name="results" time="0">\n      <error message="${a(truncate(facts.reason, MESSAGE_MAX_CHARS))}" type="unknown">${t(facts.reason)}</error>\n    </testcase>`,
    );
  }
  const failures = facts.checkers.filter((c) => c.valid === false).length;
  const errors = cases.length - failures - facts.checkers.filter((c) => c.valid === true).length;
  const properties: Array<readonly [string, string]> = [
    ["run", runName],
    ["verdict", String(facts.valid)],
    ["seed", facts.seed === undefined ? "" : String(facts.seed)],
    ["command", facts.command ?? ""],
    ["report", reportPath],
    ...(facts.reference
      ? ([
          ["reference", facts.reference.system],
          ["reference-verdict", String(facts.reference.valid)],
          ["reference-summary", truncate(facts.reference.summary, MESSAGE_MAX_CHARS)],
        ] as const)
      : []),
  ];
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="faultline" tests="${cases.length}" failures="${failures}" errors="${errors}" time="${time}">
  <testsuite name="${a(suite)}" tests="${cases.length}" failures="${failures}" errors="${errors}" skipped="0" time="${time}"${
    facts.started_ms !== undefined
      ? ` timestamp="${new Date(facts.started_ms).toISOString().replace(/\.\d+Z$/, "")}"`
      : ""
  }>
${junitProperties(properties)}
${cases.join("\n")}
    <system-out>${t(`${facts.reason}\nrepeat: ${facts.command ?? "(unknown)"}\nreport: ${reportPath}`)}</system-out>
  </testsuite>
</testsuites>
`;
}

/** A testsuite's <properties> block (indented for it), every name and value escaped. */
export function junitProperties(pairs: ReadonlyArray<readonly [string, string]>): string {
  const a = (text: string) => escapeXml(text, true);
  const lines = pairs.map(
    ([name, value]) => `      <property name="${a(name)}" value="${a(value)}"/>`,
  );
  return `    <properties>\n${lines.join("\n")}\n    </properties>`;
}
