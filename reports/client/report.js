// @ts-check
// The drawings of a faultline run report: timeline, latency and throughput plots (canvas, so
// 100,000 ops draw in milliseconds), the Porcupine-style linearizability view and the Lamport
// message diagram (SVG). Everything comes from the JSON in the page's "run-data" block; text from
// the run is only ever put on the page with textContent or canvas fillText, never as markup.
// Inlined into report.html by reports/html-report.ts; type-checked with `tsc -p reports/client`.
(() => {
  const OP_COLOURS = ["#6db6fe", "#feb5da", "#ffaa26", "#ffaa26"]; // ok, fail, info, pending
  const OP_EDGES = ["#3a8ad6", "#d67aa8", "#cc7d00", "#cc7d00"];
  const TYPE_WORDS = ["ok", "failed", "unknown (indeterminate)", "no completion"];
  const MARK_COLOUR = "#d1241b";
  const AXIS_H = 22;
  const SVG_NS = "http://www.w3.org/2000/svg";

  /** @type {any} */
  const data = JSON.parse(byId("run-data")?.textContent ?? "{}");
  const T = data.timeline;
  /** @type {Array<{kind: string, start: number, stop: number, label: string}>} */
  const faults = data.faults ?? [];

  /** @param {string} id */
  function byId(id) {
    return document.getElementById(id);
  }

  /** @param {string} kind */
  function faultColour(kind) {
    return data.fault_colours?.[kind] ?? data.other_fault_colour ?? "#d0d0d0";
  }

  /**
   * An SVG element with attributes; text goes in with textContent.
   * @param {string} tag @param {Record<string, string | number>} attrs @param {string} [text]
   */
  function svg(tag, attrs, text) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  /** @param {Element} parent @param {string} text */
  function addTitle(parent, text) {
    parent.appendChild(svg("title", {}, text));
  }

  /** Seconds with a precision that suits the visible span. @param {number} s @param {number} span */
  function formatSeconds(s, span) {
    const digits = span < 0.05 ? 4 : span < 0.5 ? 3 : span < 5 ? 2 : span < 50 ? 1 : 0;
    return `${s.toFixed(digits)} s`;
  }

  /** @param {number} ms */
  function formatMs(ms) {
    if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
    if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
    return `${(ms / 1000).toFixed(2)} s`;
  }

  /** A round step for about `count` ticks over `span`. @param {number} span @param {number} count */
  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const power = 10 ** Math.floor(Math.log10(raw));
    const m = raw / power;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * power;
  }

  /**
   * Sizes a canvas for its CSS width and the device pixel ratio; returns a context in CSS px.
   * @param {HTMLCanvasElement} canvas @param {number} height
   */
  function setup(canvas, height) {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(300, canvas.clientWidth || canvas.parentElement?.clientWidth || 800);
    canvas.style.height = `${height}px`;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    return { ctx, width, height };
  }

  /**
   * A layer of opaque pixels for many small shapes. Canvas paths with 100,000 sub-paths take
   * seconds to fill without a GPU (and a minute for triangles); writing pixels takes
   * milliseconds. Coordinates are CSS px; the layer is at device resolution.
   */
  class PixelLayer {
    /** @param {HTMLCanvasElement} canvas */
    constructor(canvas) {
      this.ratio = window.devicePixelRatio || 1;
      this.w = canvas.width;
      this.h = canvas.height;
      this.image = new ImageData(this.w, this.h);
      this.px = new Uint32Array(this.image.data.buffer);
      /** Clip rectangle in device px. */
      this.clip = [0, 0, this.w, this.h];
    }

    /** ImageData is RGBA in memory: a little-endian uint32 reads ABGR. @param {string} hex */
    static colour(hex) {
      const n = Number.parseInt(hex.slice(1), 16);
      return (0xff000000 | ((n & 0xff) << 16) | (n & 0xff00) | ((n >> 16) & 0xff)) >>> 0;
    }

    /** @param {number} x @param {number} y @param {number} w @param {number} h */
    setClip(x, y, w, h) {
      const r = this.ratio;
      this.clip = [
        Math.round(x * r),
        Math.round(y * r),
        Math.round((x + w) * r),
        Math.round((y + h) * r),
      ];
    }

    /** A rectangle at least one device pixel wide and high. @param {number} x @param {number} y @param {number} w @param {number} h @param {number} c */
    rect(x, y, w, h, c) {
      const r = this.ratio;
      const [cx0, cy0, cx1, cy1] = /** @type {number[]} */ (this.clip);
      const x0 = Math.max(cx0, Math.round(x * r));
      const y0 = Math.max(cy0, Math.round(y * r));
      const x1 = Math.min(cx1, Math.max(Math.round(x * r) + 1, Math.round((x + w) * r)));
      const y1 = Math.min(cy1, Math.max(Math.round(y * r) + 1, Math.round((y + h) * r)));
      const px = this.px;
      if (x1 - x0 <= 6) {
        // Narrow (most ops when zoomed out): plain stores beat a fill() call per row.
        for (let yy = y0, row = y0 * this.w; yy < y1; yy++, row += this.w) {
          for (let xx = x0; xx < x1; xx++) px[row + xx] = c;
        }
      } else {
        for (let yy = y0; yy < y1; yy++) px.fill(c, yy * this.w + x0, yy * this.w + x1);
      }
    }

    /**
     * A marker centred at (x, y): filled square, plus, hollow square or cross, by `shape`.
     * @param {number} shape @param {number} x @param {number} y @param {number} c
     */
    marker(shape, x, y, c) {
      const d = 1 / this.ratio; // one device pixel, in CSS px
      const r = 2.5;
      switch (shape % 4) {
        case 0:
          this.rect(x - r, y - r, 2 * r, 2 * r, c);
          break;
        case 1:
          this.rect(x - r - 0.5, y - d, 2 * r + 1, 2 * d, c);
          this.rect(x - d, y - r - 0.5, 2 * d, 2 * r + 1, c);
          break;
        case 2:
          this.rect(x - r, y - r, 2 * r, 2 * d, c);
          this.rect(x - r, y + r - 2 * d, 2 * r, 2 * d, c);
          this.rect(x - r, y - r, 2 * d, 2 * r, c);
          this.rect(x + r - 2 * d, y - r, 2 * d, 2 * r, c);
          break;
        default:
          for (let k = -r; k <= r; k += d) {
            this.rect(x + k - d, y + k - d, 2 * d, 2 * d, c);
            this.rect(x + k - d, y - k - d, 2 * d, 2 * d, c);
          }
      }
    }

    /** Composites the layer over what the context already drew. @param {CanvasRenderingContext2D} ctx */
    drawOn(ctx) {
      const scratch = document.createElement("canvas");
      scratch.width = this.w;
      scratch.height = this.h;
      /** @type {CanvasRenderingContext2D} */ (scratch.getContext("2d")).putImageData(
        this.image,
        0,
        0,
      );
      ctx.save();
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.drawImage(scratch, 0, 0);
      ctx.restore();
    }
  }

  // ---------------------------------------------------------------------------------------
  // The ops, decoded once into typed arrays.

  /** @type {null | {n: number, start: Float64Array, end: Float64Array, inv: Float64Array, perRow: number[][], fullEnd: number, toSeconds: number}} */
  let ops = null;
  if (T) {
    const n = T.start.length;
    const start = new Float64Array(n);
    const end = new Float64Array(n);
    const inv = new Float64Array(n);
    /** @type {number[][]} */
    const perRow = T.rows.map(() => []);
    let s = 0;
    let i0 = 0;
    for (let i = 0; i < n; i++) {
      s += T.start[i];
      i0 += T.inv[i];
      start[i] = s;
      inv[i] = i0;
      end[i] = T.dur[i] >= 0 ? s + T.dur[i] : T.end;
      perRow[T.row[i]]?.push(i);
    }
    let fullEnd = T.end;
    for (const f of faults) fullEnd = Math.max(fullEnd, f.stop >= 0 ? f.stop : f.start);
    ops = { n, start, end, inv, perRow, fullEnd: Math.max(1, fullEnd), toSeconds: T.unit_ns / 1e9 };
  }

  // The shared view (time units), followed by the timeline and both plots.
  const view = { t0: 0, t1: ops ? ops.fullEnd * 1.01 : 1 };
  /** @type {number} */
  let focused = -1;
  /** @type {Set<number>} */
  const marked = new Set();
  if (T) for (let i = 0; i < T.marks.length; i += 2) marked.add(T.marks[i]);

  /** @param {number} t0 @param {number} t1 */
  function setView(t0, t1) {
    if (!ops) return;
    const full = ops.fullEnd * 1.01;
    const minSpan = 10; // 100 µs
    let span = Math.max(minSpan, Math.min(full * 1.5, t1 - t0));
    let a = t0;
    if (span >= full) {
      span = full;
      a = 0;
    }
    a = Math.max(-full * 0.02, Math.min(a, full - span * 0.98));
    view.t0 = a;
    view.t1 = a + span;
    scheduleDraw();
  }

  let drawPending = false;
  function scheduleDraw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      drawAll();
    });
  }

  function drawAll() {
    drawTimeline();
    drawLatency();
    drawRate();
    const range = byId("timeline-range");
    if (range && ops) {
      const span = (view.t1 - view.t0) * ops.toSeconds;
      range.textContent = `showing ${formatSeconds(Math.max(0, view.t0 * ops.toSeconds), span)} – ${formatSeconds(view.t1 * ops.toSeconds, span)}`;
    }
  }

  /**
   * Fault bands across a plot area.
   * @param {CanvasRenderingContext2D} ctx @param {(t: number) => number} X @param {number} y0 @param {number} y1 @param {number} left @param {number} right @param {number} [alpha]
   */
  function drawFaults(ctx, X, y0, y1, left, right, alpha = 0.45) {
    ctx.save();
    ctx.globalAlpha = alpha;
    for (const f of faults) {
      const a = Math.max(left, X(f.start));
      const b = Math.min(right, X(f.stop >= 0 ? f.stop : ops ? ops.fullEnd : f.start));
      if (b <= a) continue;
      ctx.fillStyle = faultColour(f.kind);
      ctx.fillRect(a, y0, Math.max(1, b - a), y1 - y0);
    }
    ctx.restore();
  }

  /**
   * The time axis along the top of a plot area.
   * @param {CanvasRenderingContext2D} ctx @param {(t: number) => number} X @param {number} left @param {number} right @param {number} y @param {number} bottom
   */
  function drawTimeAxis(ctx, X, left, right, y, bottom) {
    if (!ops) return;
    const span = (view.t1 - view.t0) * ops.toSeconds;
    const step = niceStep(span, Math.max(2, (right - left) / 110));
    ctx.save();
    ctx.fillStyle = "#636b7a";
    ctx.strokeStyle = "#eceef2";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    const first = Math.ceil((view.t0 * ops.toSeconds) / step) * step;
    for (let s = first; s <= view.t1 * ops.toSeconds; s += step) {
      const x = X(s / ops.toSeconds);
      if (x < left || x > right) continue;
      ctx.beginPath();
      ctx.moveTo(x + 0.5, y + 8);
      ctx.lineTo(x + 0.5, bottom);
      ctx.stroke();
      ctx.fillText(formatSeconds(s, span), x, y);
    }
    ctx.restore();
  }

  // ---------------------------------------------------------------------------------------
  // Timeline.

  const timelineCanvas = /** @type {HTMLCanvasElement | null} */ (byId("timeline-canvas"));
  const tooltip = byId("tooltip");
  const layout = {
    left: 0,
    right: 0,
    top: AXIS_H,
    rowH: 10,
    rows: 0,
    X: (/** @type {number} */ t) => t,
  };
  /** Fault kinds in the run, each with a lane of its own above the rows (faults overlap). */
  const laneKinds = [...new Set(faults.map((f) => f.kind))];
  const LANE_H = 11;
  /** @type {Array<{node: string, t: number, text: string}>} */
  const crashes = data.crashes ?? [];

  function drawTimeline() {
    if (!timelineCanvas || !ops || !T) return;
    const rows = T.rows.length;
    const rowH = Math.max(3, Math.min(22, Math.floor(560 / Math.max(1, rows))));
    const top = AXIS_H + (laneKinds.length > 0 ? laneKinds.length * LANE_H + 4 : 0);
    const { ctx, width, height } = setup(timelineCanvas, top + rows * rowH + 6);
    const left = 78;
    const right = width - 8;
    const X = (/** @type {number} */ t) =>
      left + ((t - view.t0) / (view.t1 - view.t0)) * (right - left);
    Object.assign(layout, { left, right, top, rowH, rows, X });

    drawFaults(ctx, X, top, height, left, right, 0.35);
    drawTimeAxis(ctx, X, left, right, 10, height);
    // Fault lanes: one strip per kind, so overlapping faults stay apart.
    ctx.font = "10px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    laneKinds.forEach((kind, k) => {
      const y = AXIS_H + k * LANE_H;
      ctx.fillStyle = "#636b7a";
      ctx.textAlign = "right";
      ctx.fillText(kind, left - 6, y + LANE_H / 2);
      ctx.fillStyle = faultColour(kind);
      for (const f of faults) {
        if (f.kind !== kind) continue;
        const a = Math.max(left, X(f.start));
        const b = Math.min(right, X(f.stop >= 0 ? f.stop : /** @type {any} */ (ops).fullEnd));
        if (b > a) ctx.fillRect(a, y + 1, Math.max(2, b - a), LANE_H - 2);
      }
    });
    // Row stripes and labels.
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    for (let r = 0; r < rows; r++) {
      const y = top + r * rowH;
      if (r % 2 === 1) {
        ctx.fillStyle = "rgba(0,0,0,0.025)";
        ctx.fillRect(left, y, right - left, rowH);
      }
      if (rowH >= 9) {
        ctx.fillStyle = "#636b7a";
        ctx.textAlign = "right";
        ctx.fillText(String(T.rows[r]).slice(0, 12), left - 6, y + rowH / 2);
      }
    }
    // Ops: as pixels when there are many (fast at any count), as outlined paths when few.
    const pad = rowH >= 8 ? 2 : rowH >= 5 ? 1 : 0;
    let first = -1;
    let visible = 0;
    for (let i = 0; i < ops.n && ops.start[i] <= view.t1; i++) {
      if (ops.end[i] < view.t0) continue;
      if (first < 0) first = i;
      visible++;
    }
    const vector = visible <= 3000;
    const paths = [new Path2D(), new Path2D(), new Path2D(), new Path2D()];
    const layer = vector ? null : new PixelLayer(timelineCanvas);
    layer?.setClip(left, top, right - left, height - top);
    const colours = OP_COLOURS.map(PixelLayer.colour);
    for (let i = Math.max(0, first); first >= 0 && i < ops.n && ops.start[i] <= view.t1; i++) {
      if (ops.end[i] < view.t0) continue;
      const x = Math.max(left - 2, X(ops.start[i]));
      const w = Math.max(1, Math.min(right + 2, X(ops.end[i])) - x);
      const y = top + T.row[i] * rowH + pad;
      const h = rowH - 2 * pad;
      if (layer) layer.rect(x, y, w, h, colours[T.type[i]] ?? 0);
      else paths[T.type[i]]?.rect(x, y, w, h);
    }
    layer?.drawOn(ctx);
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top, right - left, height - top);
    ctx.clip();
    if (vector) {
      paths.forEach((p, type) => {
        ctx.fillStyle = /** @type {string} */ (OP_COLOURS[type]);
        ctx.fill(p);
        if (rowH >= 6) {
          ctx.strokeStyle = /** @type {string} */ (OP_EDGES[type]);
          ctx.lineWidth = 1;
          ctx.stroke(p);
        }
      });
    }
    // Ops a failing checker named, then the op a link focused.
    ctx.strokeStyle = MARK_COLOUR;
    ctx.lineWidth = 2;
    for (const i of marked) outlineOp(ctx, i, X, rowH);
    if (focused >= 0) {
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 3;
      outlineOp(ctx, focused, X, rowH);
    }
    ctx.restore();
    drawCrashes(ctx, X, AXIS_H, height, left, right);
  }

  /**
   * Nodes that exited on their own: a red line at the moment, across a plot area.
   * @param {CanvasRenderingContext2D} ctx @param {(t: number) => number} X @param {number} y0 @param {number} y1 @param {number} left @param {number} right
   */
  function drawCrashes(ctx, X, y0, y1, left, right) {
    ctx.save();
    ctx.strokeStyle = MARK_COLOUR;
    ctx.fillStyle = MARK_COLOUR;
    ctx.lineWidth = 1.5;
    ctx.setLineDash([4, 3]);
    ctx.font = "bold 11px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    for (const c of crashes) {
      const x = X(c.t);
      if (x < left || x > right) continue;
      ctx.beginPath();
      ctx.moveTo(x, y0);
      ctx.lineTo(x, y1);
      ctx.stroke();
      ctx.fillText(`✕ ${c.node}`, x + 3, y0 + 1);
    }
    ctx.restore();
  }

  /** @param {CanvasRenderingContext2D} ctx @param {number} i @param {(t: number) => number} X @param {number} rowH */
  function outlineOp(ctx, i, X, rowH) {
    if (!ops || !T) return;
    if (ops.start[i] > view.t1 || ops.end[i] < view.t0) return;
    const x0 = X(ops.start[i]);
    const x1 = Math.max(x0 + 2, X(ops.end[i]));
    ctx.strokeRect(x0 - 1, layout.top + T.row[i] * rowH, x1 - x0 + 2, rowH);
  }

  /** The op under (x, y) on the timeline, or -1. @param {number} x @param {number} y */
  function opAt(x, y) {
    if (!ops || !T) return -1;
    if (y < layout.top) return -1;
    const row = Math.floor((y - layout.top) / layout.rowH);
    const list = ops.perRow[row];
    if (!list || x < layout.left || x > layout.right) return -1;
    const t = view.t0 + ((x - layout.left) / (layout.right - layout.left)) * (view.t1 - view.t0);
    const slack = (3 / (layout.right - layout.left)) * (view.t1 - view.t0); // 3 px
    // The last op in this row invoked at or before t (+slack), then a few before it.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ops.start[/** @type {number} */ (list[mid])] <= t + slack) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo - 1; k >= 0 && k >= lo - 64; k--) {
      const i = /** @type {number} */ (list[k]);
      if (ops.end[i] >= t - slack) return i;
    }
    return -1;
  }

  /** The fault intervals at time t. @param {number} t */
  function faultsAt(t) {
    return faults.filter((f) => f.start <= t && (f.stop < 0 || f.stop >= t));
  }

  /** @param {number} i */
  function opLines(i) {
    if (!ops || !T) return [];
    const text = (/** @type {number} */ id) =>
      id === -1
        ? "—"
        : id === -2
          ? "(left out of the page; see history.jsonl)"
          : String(T.strings[id]);
    const row = T.row[i];
    const process = T.row_proc[row] + T.proc[i];
    const node = T.node[i] >= 0 ? ` → ${T.nodes[T.node[i]]}` : "";
    const startS = ops.start[i] * ops.toSeconds;
    const lines = [
      [`${T.fs[T.f[i]]} · ${TYPE_WORDS[T.type[i]]}`, "t-head"],
      [`process ${process}${node} · history index ${ops.inv[i]}`, "t-dim"],
      [`value: ${text(T.v[i])}`, ""],
    ];
    if (T.type[i] === 0) lines.push([`result: ${text(T.r[i])}`, ""]);
    else if (T.type[i] !== 3) lines.push([`error: ${text(T.r[i])}`, ""]);
    const latency =
      T.dur[i] >= 0 ? `, took ${formatMs(T.dur[i] * ops.toSeconds * 1000)}` : ", never completed";
    lines.push([`invoked at ${startS.toFixed(3)} s${latency}`, "t-dim"]);
    return lines;
  }

  /** @param {string[][]} lines @param {MouseEvent} event */
  function showTooltip(lines, event) {
    if (!tooltip) return;
    tooltip.replaceChildren(
      ...lines.map(([text, cls]) => {
        const div = document.createElement("div");
        if (cls) div.className = cls;
        div.textContent = text ?? "";
        return div;
      }),
    );
    tooltip.hidden = false;
    const w = tooltip.offsetWidth;
    const h = tooltip.offsetHeight;
    let x = event.clientX + 14;
    let y = event.clientY + 14;
    if (x + w > window.innerWidth - 8) x = event.clientX - w - 14;
    if (y + h > window.innerHeight - 8) y = event.clientY - h - 14;
    tooltip.style.left = `${Math.max(4, x)}px`;
    tooltip.style.top = `${Math.max(4, y)}px`;
  }

  function hideTooltip() {
    if (tooltip) tooltip.hidden = true;
  }

  if (timelineCanvas && ops) {
    const o = ops;
    /** @type {null | {x: number, t0: number, t1: number, moved: boolean}} */
    let drag = null;
    const local = (/** @type {MouseEvent} */ e) => {
      const r = timelineCanvas.getBoundingClientRect();
      return { x: e.clientX - r.left, y: e.clientY - r.top };
    };
    const timeAt = (/** @type {number} */ x) =>
      view.t0 + ((x - layout.left) / (layout.right - layout.left)) * (view.t1 - view.t0);
    /** @param {number} factor @param {number} x */
    const zoomAt = (factor, x) => {
      const t = timeAt(x);
      setView(t - (t - view.t0) * factor, t + (view.t1 - t) * factor);
    };
    timelineCanvas.addEventListener("mousedown", (e) => {
      drag = { x: local(e).x, t0: view.t0, t1: view.t1, moved: false };
      timelineCanvas.classList.add("dragging");
      e.preventDefault();
    });
    window.addEventListener("mouseup", () => {
      drag = null;
      timelineCanvas.classList.remove("dragging");
    });
    window.addEventListener("mousemove", (e) => {
      if (!drag) return;
      const dx = local(e).x - drag.x;
      if (Math.abs(dx) > 2) drag.moved = true;
      const dt = (dx / (layout.right - layout.left)) * (drag.t1 - drag.t0);
      setView(drag.t0 - dt, drag.t1 - dt);
    });
    timelineCanvas.addEventListener("mousemove", (e) => {
      if (drag?.moved) return hideTooltip();
      const { x, y } = local(e);
      const i = opAt(x, y);
      if (i >= 0) return showTooltip(opLines(i), e);
      const t = timeAt(x);
      const px = (view.t1 - view.t0) / (layout.right - layout.left);
      const crash = crashes.find((c) => Math.abs(c.t - t) <= 4 * px);
      if (crash && x >= layout.left) {
        return showTooltip(
          [
            [crash.text, "t-head"],
            [`at ${(crash.t * o.toSeconds).toFixed(3)} s`, "t-dim"],
          ],
          e,
        );
      }
      const lane = Math.floor((y - AXIS_H) / LANE_H);
      const inLanes = y >= AXIS_H && lane < laneKinds.length;
      const here =
        y > AXIS_H && x >= layout.left
          ? faultsAt(t).filter((f) => !inLanes || f.kind === laneKinds[lane])
          : [];
      if (here.length > 0) {
        return showTooltip(
          here.map((f) => [
            `${f.label} (${formatSeconds(f.start * o.toSeconds, 10)} – ${f.stop >= 0 ? formatSeconds(f.stop * o.toSeconds, 10) : "end"})`,
            "",
          ]),
          e,
        );
      }
      hideTooltip();
    });
    timelineCanvas.addEventListener("mouseleave", hideTooltip);
    // Ctrl/⌘ + wheel, or a trackpad pinch (which browsers report as ctrl + wheel), zooms; a
    // plain wheel keeps scrolling the page.
    timelineCanvas.addEventListener(
      "wheel",
      (e) => {
        if (!e.ctrlKey && !e.metaKey) return;
        e.preventDefault();
        zoomAt(e.deltaY > 0 ? 1.25 : 0.8, local(e).x);
      },
      { passive: false },
    );
    timelineCanvas.addEventListener("dblclick", (e) => zoomAt(e.shiftKey ? 2 : 0.5, local(e).x));
    for (const button of document.querySelectorAll("[data-zoom]")) {
      button.addEventListener("click", () => {
        const what = button.getAttribute("data-zoom");
        const mid = (layout.left + layout.right) / 2;
        if (what === "in") zoomAt(0.5, mid);
        else if (what === "out") zoomAt(2, mid);
        else setView(0, o.fullEnd * 1.01);
      });
    }
  }

  /** Focuses the timeline on the op with this history index (invoke or completion). */
  /** @type {Map<number, number> | null} */
  let positionOf = null;
  /** @param {number} index */
  function focusOp(index) {
    if (!ops || !T) return;
    if (!positionOf) {
      positionOf = new Map();
      for (let i = 0; i < ops.n; i++) {
        positionOf.set(ops.inv[i], i);
        if (T.cmp[i] >= 0) positionOf.set(ops.inv[i] + T.cmp[i], i);
      }
    }
    const i = positionOf.get(index);
    if (i === undefined) return;
    focused = i;
    const span = Math.max(ops.end[i] - ops.start[i], 1);
    const width = Math.max(span * 12, ops.fullEnd / 50);
    const mid = (ops.start[i] + ops.end[i]) / 2;
    setView(mid - width / 2, mid + width / 2);
    byId("timeline")?.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  for (const link of document.querySelectorAll("a.opref[data-op]")) {
    link.addEventListener("click", (e) => {
      if (!ops) return; // no timeline: let the link just jump to the section
      e.preventDefault();
      focusOp(Number(link.getAttribute("data-op")));
    });
  }

  // ---------------------------------------------------------------------------------------
  // Latency (per op, by invocation time, log scale) and throughput (completions per second).

  const latencyCanvas = /** @type {HTMLCanvasElement | null} */ (byId("latency-canvas"));
  const rateCanvas = /** @type {HTMLCanvasElement | null} */ (byId("rate-canvas"));
  const PLOT_LEFT = 62;

  function drawLatency() {
    if (!latencyCanvas || !ops || !T) return;
    const { ctx, width, height } = setup(latencyCanvas, 280);
    const left = PLOT_LEFT;
    const right = width - 120;
    const top = AXIS_H;
    const bottom = height - 10;
    const X = (/** @type {number} */ t) =>
      left + ((t - view.t0) / (view.t1 - view.t0)) * (right - left);
    const toMs = ops.toSeconds * 1000;
    // The y range over all completed ops (fixed while zooming, so shapes compare).
    let lo = Number.POSITIVE_INFINITY;
    let hi = 0;
    for (let i = 0; i < ops.n; i++) {
      if (T.dur[i] < 0) continue;
      const ms = Math.max(T.dur[i], 1) * toMs;
      if (ms < lo) lo = ms;
      if (ms > hi) hi = ms;
    }
    drawFaults(ctx, X, top, bottom, left, right);
    drawTimeAxis(ctx, X, left, right, 10, bottom);
    if (!(hi > 0)) {
      ctx.fillStyle = "#636b7a";
      ctx.fillText("no completed operations", left + 10, top + 20);
      return;
    }
    const l0 = Math.log10(lo) - 0.1;
    const l1 = Math.log10(hi) + 0.1;
    const Y = (/** @type {number} */ ms) =>
      bottom - ((Math.log10(ms) - l0) / (l1 - l0)) * (bottom - top - 6);
    // Decade grid lines.
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let d = Math.ceil(l0); d <= l1; d++) {
      const y = Y(10 ** d);
      ctx.strokeStyle = "#eceef2";
      ctx.beginPath();
      ctx.moveTo(left, y + 0.5);
      ctx.lineTo(right, y + 0.5);
      ctx.stroke();
      ctx.fillStyle = "#636b7a";
      ctx.fillText(formatMs(10 ** d), left - 6, y);
    }
    // Points as pixel markers: colour = outcome (the darker edge shade, for contrast on
    // white), shape = f.
    const layer = new PixelLayer(latencyCanvas);
    layer.setClip(left, top, right - left, bottom - top);
    const colours = OP_EDGES.map(PixelLayer.colour);
    for (let i = 0; i < ops.n; i++) {
      const s = ops.start[i];
      if (s > view.t1) break;
      if (s < view.t0 || T.dur[i] < 0) continue;
      layer.marker(
        T.f[i],
        X(s),
        Y(Math.max(T.dur[i], 1) * toMs),
        /** @type {number} */ (colours[T.type[i]]),
      );
    }
    layer.drawOn(ctx);
    // Legend: shapes by f on the right.
    const legend = new PixelLayer(latencyCanvas);
    ctx.textAlign = "left";
    T.fs.slice(0, 12).forEach((/** @type {string} */ f, /** @type {number} */ k) => {
      const y = top + 8 + k * 16;
      legend.marker(k, right + 16, y, PixelLayer.colour("#636b7a"));
      ctx.fillStyle = "#1d2330";
      ctx.fillText(String(f).slice(0, 14), right + 26, y);
    });
    legend.drawOn(ctx);
    drawCrashes(ctx, X, top, bottom, left, right);
    ctx.fillStyle = "#636b7a";
    ctx.save();
    ctx.translate(12, (top + bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText("latency", 0, 0);
    ctx.restore();
  }

  function drawRate() {
    if (!rateCanvas || !ops || !T) return;
    const { ctx, width, height } = setup(rateCanvas, 190);
    const left = PLOT_LEFT;
    const right = width - 120;
    const top = AXIS_H;
    const bottom = height - 10;
    const X = (/** @type {number} */ t) =>
      left + ((t - view.t0) / (view.t1 - view.t0)) * (right - left);
    // About four completions per bucket on average, so a rate is a rate and not a spike.
    let visible = 0;
    for (let i = 0; i < ops.n; i++) {
      if (ops.start[i] > view.t1) break;
      if (T.dur[i] >= 0 && ops.end[i] >= view.t0 && ops.end[i] <= view.t1) visible++;
    }
    const buckets = Math.max(
      5,
      Math.min(Math.floor((right - left) / 4), 300, Math.round(visible / 4)),
    );
    const size = (view.t1 - view.t0) / buckets;
    const counts = [
      new Float64Array(buckets),
      new Float64Array(buckets),
      new Float64Array(buckets),
    ];
    for (let i = 0; i < ops.n; i++) {
      if (ops.start[i] > view.t1) break;
      if (T.dur[i] < 0) continue;
      const b = Math.floor((ops.end[i] - view.t0) / size);
      if (b < 0 || b >= buckets) continue;
      /** @type {Float64Array} */ (counts[Math.min(2, T.type[i])])[b]++;
    }
    const perSecond = 1 / (size * ops.toSeconds);
    let max = 1;
    for (let b = 0; b < buckets; b++) {
      const total = (counts[0]?.[b] ?? 0) + (counts[1]?.[b] ?? 0) + (counts[2]?.[b] ?? 0);
      max = Math.max(max, total * perSecond);
    }
    const step = niceStep(max, 4);
    const yMax = Math.ceil(max / step) * step;
    const Y = (/** @type {number} */ rate) => bottom - (rate / yMax) * (bottom - top - 4);
    drawFaults(ctx, X, top, bottom, left, right);
    drawTimeAxis(ctx, X, left, right, 10, bottom);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let r = 0; r <= yMax; r += step) {
      ctx.strokeStyle = "#eceef2";
      ctx.beginPath();
      ctx.moveTo(left, Y(r) + 0.5);
      ctx.lineTo(right, Y(r) + 0.5);
      ctx.stroke();
      ctx.fillStyle = "#636b7a";
      ctx.fillText(`${r}/s`, left - 6, Y(r));
    }
    const w = (right - left) / buckets;
    for (let b = 0; b < buckets; b++) {
      let base = 0;
      for (let type = 0; type < 3; type++) {
        const rate = (counts[type]?.[b] ?? 0) * perSecond;
        if (rate === 0) continue;
        ctx.fillStyle = /** @type {string} */ (OP_COLOURS[type]);
        ctx.fillRect(left + b * w, Y(base + rate), Math.max(1, w - 1), Y(base) - Y(base + rate));
        base += rate;
      }
    }
    ctx.textAlign = "left";
    ["ok", "failed", "unknown"].forEach((label, type) => {
      const y = top + 8 + type * 16;
      ctx.fillStyle = /** @type {string} */ (OP_COLOURS[type]);
      ctx.fillRect(right + 12, y - 5, 10, 10);
      ctx.fillStyle = "#1d2330";
      ctx.fillText(label, right + 26, y);
    });
    drawCrashes(ctx, X, top, bottom, left, right);
    ctx.fillStyle = "#636b7a";
    ctx.save();
    ctx.translate(12, (top + bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText("completions", 0, 0);
    ctx.restore();
  }

  // ---------------------------------------------------------------------------------------
  // Linearizability views (Porcupine-style), one SVG per failing key.

  for (const holder of document.querySelectorAll(".linview-drawing")) {
    const views = data.lin?.[holder.getAttribute("data-checker") ?? ""];
    const v = views?.[Number(holder.getAttribute("data-view"))];
    if (v) drawLinView(holder, v);
  }

  /** @param {Element} holder @param {any} v */
  function drawLinView(holder, v) {
    /** @type {number[]} */
    const processes = [...new Set(v.ops.map((/** @type {any} */ o) => o.process))].sort(
      (/** @type {number} */ a, /** @type {number} */ b) => a - b,
    );
    const rowOf = new Map(processes.map((p, i) => [p, i]));
    const left = 64;
    const rankW = Math.max(
      26,
      Math.min(70, ((holder.clientWidth || 900) - left - 40) / (v.ranks + 1)),
    );
    const width = left + (v.ranks + 1) * rankW + 30;
    const rowH = 52;
    const top = 8;
    const height = top + processes.length * rowH + 10;
    const X = (/** @type {number} */ r) => left + r * rankW + rankW / 2;
    const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}` });
    processes.forEach((p, i) => {
      const y = top + i * rowH;
      if (i % 2 === 1)
        root.appendChild(svg("rect", { x: 0, y, width, height: rowH, fill: "#f7f8fa" }));
      root.appendChild(
        svg("text", { x: 8, y: y + rowH / 2 + 4, "font-size": 12, fill: "#636b7a" }, `p${p}`),
      );
    });
    // The linearization: a line through the points in order (behind the bars), points last.
    const centres = v.points.map((/** @type {any[]} */ [pos, , x]) => {
      const o = v.ops[pos];
      return [X(x), top + (rowOf.get(o.process) ?? 0) * rowH + 10];
    });
    if (centres.length > 1) {
      root.appendChild(
        svg("polyline", {
          points: centres.map((/** @type {number[]} */ c) => c.join(",")).join(" "),
          fill: "none",
          stroke: "#1a5fb4",
          "stroke-width": 1.5,
          "stroke-dasharray": "3 3",
        }),
      );
    }
    // Bars: label clipped to the bar by a nested <svg>.
    v.ops.forEach((/** @type {any} */ o) => {
      const y = top + (rowOf.get(o.process) ?? 0) * rowH + 10;
      const x0 = X(o.call) - rankW / 2 + 3;
      const open = o.ret >= v.ranks;
      const x1 = open ? width - 8 : X(o.ret) + rankW / 2 - 3;
      const h = rowH - 18;
      const g = svg("g", {});
      g.appendChild(
        svg("rect", {
          x: x0,
          y,
          width: Math.max(6, x1 - x0),
          height: h,
          rx: 3,
          fill: o.blocked ? "#fde0de" : (OP_COLOURS[o.type] ?? "#ddd"),
          stroke: o.blocked ? MARK_COLOUR : (OP_EDGES[o.type] ?? "#999"),
          "stroke-width": o.blocked ? 3 : 1,
          "stroke-dasharray": open ? "6 3" : "none",
        }),
      );
      const clip = svg("svg", { x: x0 + 4, y, width: Math.max(0, x1 - x0 - 8), height: h });
      clip.appendChild(svg("text", { x: 0, y: h - 8, "font-size": 12, fill: "#1d2330" }, o.text));
      g.appendChild(clip);
      if (o.blocked) {
        g.appendChild(
          svg("circle", {
            cx: x0 + 2,
            cy: y,
            r: 9,
            fill: MARK_COLOUR,
            stroke: "#fff",
            "stroke-width": 1.5,
          }),
        );
        g.appendChild(
          svg(
            "text",
            {
              x: x0 + 2,
              y: y + 4,
              "font-size": 11,
              "font-weight": 700,
              fill: "#fff",
              "text-anchor": "middle",
            },
            "✗",
          ),
        );
        g.appendChild(
          svg(
            "text",
            { x: x0 + 14, y: y - 1, "font-size": 10, "font-weight": 600, fill: MARK_COLOUR },
            "cannot be placed",
          ),
        );
      }
      addTitle(
        g,
        `op ${o.index} (process ${o.process}): ${o.text}${o.blocked ? " — cannot be linearized" : o.step ? ` — step ${o.step}` : " — not in the longest linearizable prefix"}${open ? " (never returned: may take effect any time after its call)" : ""}`,
      );
      root.appendChild(g);
    });
    v.points.forEach((/** @type {any[]} */ [pos, step, , state], /** @type {number} */ k) => {
      const [cx, cy] = /** @type {number[]} */ (centres[k]);
      const g = svg("g", {});
      g.appendChild(
        svg("circle", { cx, cy, r: 9, fill: "#1a5fb4", stroke: "#fff", "stroke-width": 1.5 }),
      );
      g.appendChild(
        svg(
          "text",
          {
            x: cx,
            y: cy + 4,
            "font-size": 11,
            "font-weight": 700,
            fill: "#fff",
            "text-anchor": "middle",
          },
          String(step),
        ),
      );
      g.appendChild(
        svg(
          "text",
          { x: cx + 12, y: cy - 1, "font-size": 10, "font-weight": 600, fill: "#1a5fb4" },
          `= ${String(state).slice(0, 12)}`,
        ),
      );
      addTitle(g, `step ${step}: op ${v.ops[pos].index} ${v.ops[pos].text}; state after: ${state}`);
      root.appendChild(g);
    });
    holder.appendChild(root);
  }

  // ---------------------------------------------------------------------------------------
  // Lamport diagram.

  // The links to other windows of the diagram need `faultline serve` to render them.
  if (location.protocol.startsWith("http")) {
    for (const moves of document.querySelectorAll("span.window-moves"))
      moves.removeAttribute("hidden");
  }
  const lamportHolder = byId("lamport");
  if (lamportHolder && data.lamport) drawLamport(lamportHolder, data.lamport);

  /** @param {HTMLElement} holder @param {any} L */
  function drawLamport(holder, L) {
    const colW = Math.max(
      70,
      Math.min(
        140,
        ((holder.parentElement?.clientWidth || 900) - 80) / Math.max(1, L.participants.length),
      ),
    );
    const rowH = 12;
    const headH = 28;
    const top = 8;
    const left = 70;
    // Notes are written out whole right of the last column, clear of the arrows' labels; the
    // diagram widens for them.
    const columnsRight = left + L.participants.length * colW;
    const noteChars = Math.max(0, ...L.notes.map((/** @type {any[]} */ n) => n[2].length));
    const width = columnsRight + (noteChars > 0 ? 8 + noteChars * 6 : 0);
    const height = top + L.rows * rowH + 20;
    const X = (/** @type {number} */ c) => left + c * colW + colW / 2;
    const Y = (/** @type {number} */ r) => top + r * rowH + rowH / 2;
    const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}` });
    const defs = svg("defs", {});
    for (const [id, colour] of [
      ["a-server", "#333"],
      ["a-client", "#5b9bd5"],
      ["a-error", "#d1241b"],
    ]) {
      const m = svg("marker", {
        id: /** @type {string} */ (id),
        viewBox: "0 0 10 10",
        refX: 10,
        refY: 5,
        markerWidth: 7,
        markerHeight: 7,
        orient: "auto-start-reverse",
      });
      m.appendChild(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: /** @type {string} */ (colour) }));
      defs.appendChild(m);
    }
    root.appendChild(defs);
    for (const [kind, first, last, label] of L.faults) {
      const band = svg("rect", {
        x: left,
        y: top + first * rowH,
        width: width - left,
        height: Math.max(2, (last - first) * rowH),
        fill: faultColour(kind),
        opacity: 0.55,
      });
      addTitle(band, label);
      root.appendChild(band);
    }
    for (const [row, seconds] of L.ticks) {
      root.appendChild(
        svg(
          "text",
          { x: 6, y: Y(row) + 4, "font-size": 10, fill: "#636b7a" },
          `${seconds.toFixed(3)} s`,
        ),
      );
    }
    // The names stay on top while the diagram scrolls (it opens scrolled to its focus).
    const head = svg("svg", { width, height: headH, viewBox: `0 0 ${width} ${headH}` });
    L.participants.forEach((/** @type {string} */ name, /** @type {number} */ c) => {
      root.appendChild(
        svg("line", {
          x1: X(c),
          y1: top - 4,
          x2: X(c),
          y2: height - 8,
          stroke: "#9aa3b2",
          "stroke-width": 1,
        }),
      );
      head.appendChild(
        svg(
          "text",
          {
            x: X(c),
            y: 20,
            "font-size": 13,
            "font-weight": 700,
            "text-anchor": "middle",
            fill: "#1d2330",
          },
          name,
        ),
      );
    });
    const STYLE = [
      ["#333", "a-server"],
      ["#5b9bd5", "a-client"],
      ["#d1241b", "a-error"],
    ];
    // Arrows on the same path (gRPC calls whose bytes shared a chunk) stack their labels.
    /** @type {Map<string, number>} */
    const samePath = new Map();
    for (let k = 0; k < L.arrows.length / 5; k++) {
      const [from, to, y0, y1, style] = L.arrows.slice(k * 5, k * 5 + 5);
      const path = `${from} ${to} ${y0} ${y1}`;
      const stacked = samePath.get(path) ?? 0;
      samePath.set(path, stacked + 1);
      const dropped = (style & 4) !== 0;
      const [colour, markerId] = /** @type {string[]} */ (STYLE[style & 3]);
      const xa = X(from);
      const ya = Y(y0);
      let xb = X(to);
      let yb = Y(y1);
      if (dropped) {
        // A dropped message stops part of the way, where the drop happened.
        xb = xa + (xb - xa) * 0.45;
        yb = ya + (yb - ya) * 0.45 + 2;
      }
      const g = svg("g", {});
      g.appendChild(
        svg("line", {
          x1: xa,
          y1: ya,
          x2: xb,
          y2: yb,
          stroke: /** @type {string} */ (colour),
          "stroke-width": 1.2,
          "stroke-dasharray": dropped ? "4 3" : "none",
          "marker-end": dropped ? "none" : `url(#${markerId})`,
        }),
      );
      if (dropped)
        g.appendChild(
          svg(
            "text",
            { x: xb, y: yb + 4, "font-size": 12, fill: "#d1241b", "text-anchor": "middle" },
            "✕",
          ),
        );
      const label = svg(
        "text",
        {
          x: (xa + xb) / 2,
          y: (ya + yb) / 2 - 3 - stacked * 10,
          "font-size": 9,
          fill: colour,
          "text-anchor": "middle",
        },
        L.labels[k],
      );
      g.appendChild(label);
      addTitle(g, L.titles[k]);
      root.appendChild(g);
    }
    if (L.focus) {
      // What the window is centred on (a lost value's broadcast, the op no linearization
      // places): a marked row, scrolled into view.
      const y = Y(L.focus.row) - rowH / 2;
      const g = svg("g", { class: "lamport-focus" });
      g.appendChild(
        svg("line", {
          x1: left,
          y1: y,
          x2: width,
          y2: y,
          stroke: "#d1241b",
          "stroke-width": 2,
          "stroke-dasharray": "6 3",
        }),
      );
      g.appendChild(
        svg(
          "text",
          { x: left + 4, y: y - 4, "font-size": 11, "font-weight": 700, fill: "#d1241b" },
          `▼ ${L.focus.text}`,
        ),
      );
      root.appendChild(g);
    }
    for (const [c, row, text] of L.errors) {
      const g = svg("g", {});
      g.appendChild(svg("circle", { cx: X(c), cy: Y(row), r: 5, fill: "#d1241b" }));
      g.appendChild(
        svg(
          "text",
          { x: X(c) + 8, y: Y(row) + 4, "font-size": 10, fill: "#d1241b" },
          text.slice(0, 60),
        ),
      );
      addTitle(g, text);
      root.appendChild(g);
    }
    // Marks that are not errors (an HTTP/2 connection drawn as bytes from here on): a square on
    // the participant's line, dotted to the text.
    for (const [c, row, text] of L.notes) {
      const g = svg("g", { class: "lamport-note" });
      g.appendChild(
        svg("rect", { x: X(c) - 4, y: Y(row) - 4, width: 8, height: 8, fill: "#b86e00" }),
      );
      g.appendChild(
        svg("line", {
          x1: X(c) + 4,
          y1: Y(row),
          x2: columnsRight + 4,
          y2: Y(row),
          stroke: "#b86e00",
          "stroke-dasharray": "1 3",
        }),
      );
      g.appendChild(
        svg("text", { x: columnsRight + 8, y: Y(row) + 4, "font-size": 10, fill: "#b86e00" }, text),
      );
      addTitle(g, text);
      root.appendChild(g);
    }
    const headBox = document.createElement("div");
    headBox.className = "lamport-head";
    headBox.appendChild(head);
    holder.appendChild(headBox);
    holder.appendChild(root);
    const wrap = holder.parentElement;
    if (L.focus && wrap)
      wrap.scrollTop = Math.max(0, headH + Y(L.focus.row) - wrap.clientHeight / 3);
  }

  // ---------------------------------------------------------------------------------------
  // Copy buttons.

  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", () => {
      const text = byId(button.getAttribute("data-copy") ?? "")?.textContent ?? "";
      const done = () => {
        button.textContent = "copied";
        setTimeout(() => {
          button.textContent = "copy";
        }, 1500);
      };
      // The clipboard API can be unavailable (file:// in some browsers): select the text instead.
      const select = () => {
        const el = byId(button.getAttribute("data-copy") ?? "");
        const selection = window.getSelection();
        if (!el || !selection) return;
        const range = document.createRange();
        range.selectNodeContents(el);
        selection.removeAllRanges();
        selection.addRange(range);
      };
      if (navigator.clipboard?.writeText) navigator.clipboard.writeText(text).then(done, select);
      else select();
    });
  }

  drawAll();
  let resizeQueued = false;
  window.addEventListener("resize", () => {
    if (resizeQueued) return;
    resizeQueued = true;
    requestAnimationFrame(() => {
      resizeQueued = false;
      drawAll();
    });
  });
})();
