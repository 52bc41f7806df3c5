// A dialog page: new messages appended every two seconds.
(function () {
  const box = document.getElementById("messages");
  function lastId() { const all = box.querySelectorAll(".msg"); return all.length ? all[all.length - 1].dataset.id : 0; }
  async function refresh() {
    try {
      const r = await fetch("/console/api/dialogs/" + box.dataset.dialog + "/messages?after=" + lastId(), { credentials: "same-origin" });
      if (!r.ok) return;
      const data = await r.json();
      data.messages.forEach(m => {
        const div = document.createElement("div");
        div.className = "msg " + m.author; div.dataset.id = m.id;
        const meta = document.createElement("div"); meta.className = "meta"; meta.textContent = m.author_label + " · " + m.time;
        div.appendChild(meta); div.appendChild(document.createTextNode(m.text));
        box.appendChild(div);
      });
    } catch (e) { /* try again next tick */ }
  }
  setInterval(refresh, 2000);
})();
