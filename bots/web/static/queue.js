// The live queue: refreshed every two seconds from /console/api/queue.
(function () {
  const rows = document.getElementById("rows");
  function cell(text) { const td = document.createElement("td"); td.textContent = text; return td; }
  async function refresh() {
    try {
      const r = await fetch("/console/api/queue", { credentials: "same-origin" });
      if (!r.ok) return;
      const data = await r.json();
      rows.innerHTML = "";
      if (!data.dialogs.length) { const tr = document.createElement("tr"); tr.appendChild(cell("Очередь пуста")); tr.firstChild.colSpan = 7; rows.appendChild(tr); }
      data.dialogs.forEach(d => {
        const tr = document.createElement("tr");
        tr.dataset.dialog = d.id;
        if (d.complaint) tr.className = "complaint";  // complaints come first, marked
        const a = document.createElement("a"); a.href = "/console/dialogs/" + d.id; a.textContent = "#" + d.id;
        const first = document.createElement("td"); first.appendChild(a); tr.appendChild(first);
        [d.channel, d.reason, d.waiting, d.status_label, d.assigned || "—", d.last].forEach(t => tr.appendChild(cell(t)));
        rows.appendChild(tr);
      });
    } catch (e) { /* keep the last list on a network hiccup */ }
  }
  refresh();
  setInterval(refresh, 2000);
})();
