// @ts-check
// The store index's filter: by verdict and by any text in a row. Rows are filtered by toggling
// a class; no page content is built from data here.
(() => {
  const verdict = /** @type {HTMLSelectElement | null} */ (
    document.getElementById("verdict-filter")
  );
  const text = /** @type {HTMLInputElement | null} */ (document.getElementById("text-filter"));
  const shown = document.getElementById("shown-count");
  const rows = /** @type {HTMLTableRowElement[]} */ ([...document.querySelectorAll("tr.run")]);
  const haystacks = rows.map((row) => (row.textContent ?? "").toLowerCase());

  function apply() {
    const want = verdict?.value ?? "";
    const words = (text?.value ?? "").toLowerCase().split(/\s+/).filter(Boolean);
    let count = 0;
    rows.forEach((row, i) => {
      const hay = haystacks[i] ?? "";
      const visible =
        (want === "" || row.getAttribute("data-verdict") === want) &&
        words.every((w) => hay.includes(w));
      row.classList.toggle("hidden", !visible);
      if (visible) count++;
    });
    if (shown) shown.textContent = count === rows.length ? "" : `${count} of ${rows.length} shown`;
  }
  verdict?.addEventListener("change", apply);
  text?.addEventListener("input", apply);
  apply();
})();
