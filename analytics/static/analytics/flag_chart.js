/* A flag's evaluations per variant per hour, for the flag's admin page: every element
   .flag-analytics with data-series (JSON {environment: dashboard API URL}) gets an environment
   picker and a uPlot chart (static/vendor/uplot). */
(function () {
  "use strict";
  const COLORS = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6"];

  async function draw(box, url) {
    const response = await fetch(url, {credentials: "same-origin"});
    box.replaceChildren();
    if (!response.ok) { box.textContent = "no analytics (HTTP " + response.status + ")"; return; }
    const body = await response.json();
    const variants = Object.keys(body.variants);
    if (!variants.length) { box.textContent = "Not evaluated in the last 7 days."; return; }
    const xs = [...new Set(variants.flatMap(v => body.variants[v].map(p => Date.parse(p.time) / 1000)))].sort((a, b) => a - b);
    const data = [xs, ...variants.map(v => {
      const at = new Map(body.variants[v].map(p => [Date.parse(p.time) / 1000, p.evaluations]));
      return xs.map(t => at.get(t) || 0);
    })];
    box.dataset.evaluations = Object.values(body.totals).reduce((a, b) => a + b, 0);
    new uPlot({width: Math.min(Math.max(box.clientWidth, 320), 720), height: 200,
               series: [{}, ...variants.map((v, i) => ({label: v, stroke: COLORS[i % COLORS.length], width: 2}))]},
              data, box);
    const note = document.createElement("p");
    note.textContent = "Evaluations per hour, last 7 days: " +
      variants.map(v => v + " " + body.totals[v]).join(", ") +
      (body.changes.length ? "; " + body.changes.length + " change(s) in that time" : "");
    box.append(note);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".flag-analytics").forEach(root => {
      const urls = JSON.parse(root.dataset.series);
      const picker = document.createElement("select");
      Object.keys(urls).forEach(env => picker.append(new Option(env, env)));
      const box = document.createElement("div");
      box.className = "flag-analytics-chart";
      root.append(picker, box);
      picker.addEventListener("change", () => draw(box, urls[picker.value]));
      if (picker.options.length) draw(box, urls[picker.value]);
    });
  });
})();
