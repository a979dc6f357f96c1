/* policykg web page: which articles of a regulation held in full have implementing measures. A grid of
   articles (rows, grouped by chapter) × years (columns) shaded by the number of measures whose links name
   the article; a cell opens its measures and quotes in the side panel; uncovered articles are marked. */
"use strict";

(function () {
  const P = window.policykg;
  const { h, api, setStatus } = P;

  /** The coverage section of a regulation page: filters, a summary line and the grid. */
  P.coverage = (reg) => {
    const status = h("p", { class: "status" });
    const grid = h("div", { class: "cov-wrap" });
    const issuer = h("input", { list: "issuers", placeholder: "发文单位", "aria-label": "发文单位", class: "cov-issuer" });
    const from = h("input", { type: "number", min: 1900, max: 2200, placeholder: "起始年", "aria-label": "起始年", class: "cov-year" });
    const to = h("input", { type: "number", min: 1900, max: 2200, placeholder: "截止年", "aria-label": "截止年", class: "cov-year" });
    const load = async () => {
      grid.textContent = "";
      setStatus(status, "计算条款覆盖…");
      try {
        const cov = await api(`/regulations/${encodeURIComponent(reg.id)}/coverage`, { issuer: issuer.value.trim(), from: from.value, to: to.value });
        render(reg, cov, status, grid);
      } catch (e) {
        setStatus(status, e.message, true);
      }
    };
    const form = h("form", { class: "filters cov-filters", onsubmit: (e) => { e.preventDefault(); load(); } },
      issuer, from, to, h("button", { type: "submit" }, "统计"));
    load();
    return h("section", { id: "coverage", class: "coverage" },
      h("h3", null, "条款覆盖"),
      h("p", { class: "muted" }, "每格为当年有多少项措施的关联证据指明该条款；无措施的条款标为“未覆盖”。"),
      form, status, grid);
  };

  function measuresOf(a, year) {
    return year == null ? a.measures : a.measures.filter((m) => m.year === year);
  }

  function openCell(reg, a, year) {
    const ms = measuresOf(a, year);
    P.openSide(`${reg.name} ${a.label}`, `${year != null ? year + " 年 · " : ""}${ms.length} 项措施`,
      ms.map((m) => P.renderQuoted(m, [m])));
  }

  function render(reg, cov, status, grid) {
    const s = cov.summary;
    setStatus(status, `${s.covered} / ${s.articles} 条有落实措施 · ${s.uncovered} 条未覆盖 · ${s.measures} 项措施指明条款` +
      (cov.without_article.length ? ` · 另有 ${s.without_article} 项措施关联本法规但未指明条款` : ""));
    const years = cov.years;
    const max = Math.max(1, ...cov.chapters.flatMap((c) => c.articles.flatMap((a) => Object.values(a.counts_by_year))));
    const table = h("table", { class: "cov-grid" },
      h("thead", null, h("tr", null, h("th", { class: "cov-art" }, "条款"),
        years.map((y) => h("th", { class: "cov-y", scope: "col" }, String(y).slice(2))), h("th", { class: "cov-total" }, "合计"))),
      cov.chapters.map((c) => h("tbody", null,
        c.title ? h("tr", { class: "cov-chapter" }, h("th", { colspan: years.length + 2, scope: "rowgroup" }, c.title)) : null,
        c.articles.map((a) => h("tr", { class: a.total ? "covered" : "uncovered", dataset: { article: a.label } },
          h("th", { class: "cov-art", scope: "row", title: a.total ? `${a.total} 项措施` : "未覆盖：没有措施指明此条" },
            a.label, a.total ? null : h("span", { class: "cov-none" }, "未覆盖")),
          years.map((y) => {
            const n = a.counts_by_year[y] || 0;
            if (!n) return h("td", { class: "cov-cell" });
            const [bg, fg] = P.heat(n, max);
            const td = h("td", { class: "cov-cell hit", tabindex: "0", dataset: { year: y }, title: `${a.label} · ${y}：${n} 项措施`,
              onclick: () => openCell(reg, a, y), onkeydown: (e) => { if (e.key === "Enter") openCell(reg, a, y); } }, n);
            td.style.backgroundColor = bg;
            td.style.color = fg;
            return td;
          }),
          h("td", { class: "cov-total" }, a.total ? h("button", { type: "button", class: "link", onclick: () => openCell(reg, a, null) }, a.total) : "0"))))));
    grid.append(table);
    if (cov.without_article.length) {
      grid.append(h("p", null, h("button", { type: "button", class: "link", id: "cov-without",
        onclick: () => P.openSide(`${reg.name}`, `关联本法规但未指明条款：${cov.without_article.length} 项措施（不计入任何条款）`,
          cov.without_article.map((m) => P.renderQuoted(m, [m]))) },
      `关联本法规但未指明条款的措施（${cov.without_article.length}）→`)));
    }
  }
})();
