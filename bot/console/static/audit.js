// Draws the audit page's charts with Chart.js (served by hearthbot from the npm package).
"use strict";

const specs = JSON.parse(document.getElementById("chart-data").textContent);
const area = document.getElementById("charts");

if (typeof Chart === "undefined") {
  const note = document.createElement("p");
  note.className = "error";
  note.textContent = "Charts need Chart.js: run `npm ci` in hearthbot's checkout. The table below has every decision.";
  area.append(note);
} else {
  for (const spec of specs) {
    const box = document.createElement("figure");
    box.className = "chart";
    const canvas = document.createElement("canvas");
    canvas.id = "chart-" + spec.id;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", spec.title);
    box.append(canvas);
    if (spec.empty) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "No data in this period";
      box.append(empty);
    }
    area.append(box);
    const axis = (title, stacked, max) => ({
      stacked, beginAtZero: true, max, title: { display: true, text: title },
    });
    new Chart(canvas, {
      type: spec.kind,
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map((d) => ({
          label: d.label, data: d.data, backgroundColor: d.color, borderColor: d.color, spanGaps: true,
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        plugins: {
          title: { display: true, text: spec.title, font: { size: 15 } },
          legend: { display: spec.datasets.length > 1 },
        },
        scales: {
          x: axis(spec.x, Boolean(spec.stacked), spec.horizontal ? spec.y_max : undefined),
          y: axis(spec.y, Boolean(spec.stacked), spec.horizontal ? undefined : spec.y_max),
        },
      },
    });
    canvas.dataset.drawn = "true";
  }
}
