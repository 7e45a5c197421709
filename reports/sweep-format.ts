// How a sweep's figures read in its Markdown, JUnit and HTML (reports/sweep-render.ts,
// reports/sweep-html.ts) and in the store index.

import { formatDuration } from "./stored.js";
import type { Proportion } from "./sweep-stats.js";

/** A signature in a table cell or a JUnit message is cut here (sweep.json keeps it whole). */
export const SIGNATURE_CELL_CHARS = 300;

/** "70% (95% CI 40–89%)", or "—" when no run completed. */
export function formatCatchRate(rate: Proportion | undefined): string {
  if (rate === undefined) return "—";
  const pct = (p: number) => `${Math.round(p * 100)}`;
  return `${pct(rate.point)}% (95% CI ${pct(rate.low)}–${pct(rate.high)}%)`;
}

/** A time to detection, or "—" when the failure names no moment. */
export function formatDetection(seconds: number | undefined): string {
  return seconds === undefined ? "—" : formatDuration(seconds);
}
