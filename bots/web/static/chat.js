// Web chat client: JSON over WebSocket, messages resent with the same id until acknowledged.
(function () {
  const log = document.getElementById("log");
  const quick = document.getElementById("quick");
  const status = document.getElementById("status");
  const form = document.getElementById("form");
  const input = document.getElementById("text");
  const unacked = new Map();
  const AUTHORS = { agent: "Помощник", manager: "Менеджер", system: "Банк", customer: "Вы" };
  let socket = null;
  let retry = 500;
  let typingTimer = null;

  function newId() {
    return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).slice(0, 64);
  }

  function bubble(m) {
    const div = document.createElement("div");
    div.className = "bubble " + (m.author || "agent");
    div.dataset.author = m.author || "agent";
    if (m.author && m.author !== "customer") {
      const who = document.createElement("div");
      who.className = "who";
      who.textContent = AUTHORS[m.author] || "";
      div.appendChild(who);
    }
    const body = document.createElement("div");
    body.className = "text";
    body.textContent = m.text;
    div.appendChild(body);
    if (m.sources && m.sources.length) {
      const src = document.createElement("div");
      src.className = "sources";
      src.textContent = "Источник: " + m.sources.map(s => s.heading ? s.source + " — " + s.heading : s.source).join("; ");
      div.appendChild(src);
    }
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  }

  function showQuick(options) {
    quick.innerHTML = "";
    (options || []).forEach(text => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = text;
      b.onclick = () => sendText(text);
      quick.appendChild(b);
    });
  }

  function setStatus(text) { status.textContent = text || ""; }

  function handle(frame) {
    if (frame.type === "history") {
      log.innerHTML = "";
      frame.messages.forEach(bubble);
      const last = frame.messages[frame.messages.length - 1];
      // A dialog carried over from another channel opens on a question with buttons.
      if (last && last.quick_replies && last.quick_replies.length) showQuick(last.quick_replies);
    } else if (frame.type === "message") {
      clearTimeout(typingTimer);
      setStatus(frame.handoff ? "Диалог передан менеджеру — он ответит здесь." : "");
      bubble(frame);
      showQuick(frame.quick_replies);
    } else if (frame.type === "typing") {
      setStatus("Помощник печатает…");
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => setStatus(""), 8000);
    } else if (frame.type === "ack") {
      unacked.delete(frame.id);
    } else if (frame.type === "error") {
      if (frame.id) unacked.delete(frame.id);  // refused, not lost: the customer sees why
      setStatus(frame.text);
    }
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(proto + location.host + "/ws/chat");
    socket.onopen = () => {
      retry = 500;
      setStatus("");
      unacked.forEach((text, id) => socket.send(JSON.stringify({ type: "message", id, text })));
    };
    socket.onmessage = ev => { try { handle(JSON.parse(ev.data)); } catch (e) { /* ignore a bad frame */ } };
    socket.onclose = () => {
      setStatus("Нет связи, переподключаюсь…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
  }

  function sendText(text) {
    text = text.trim();
    if (!text) return;
    const id = newId();
    unacked.set(id, text);
    bubble({ author: "customer", text });
    showQuick([]);
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "message", id, text }));
    }
  }

  form.addEventListener("submit", ev => {
    ev.preventDefault();
    sendText(input.value);
    input.value = "";
    input.focus();
  });
  connect();
})();
