/* Chat room client.
 *
 * - One WebSocket to /ws/chat/<room>/, reconnected with exponential backoff.
 * - Every outgoing message gets a client_id and stays in `pending` until the
 *   server acks it; after a reconnect everything still pending is resent (the
 *   server stores a (room, user, client_id) once, so a resend never duplicates).
 * - Messages are rendered once per id, in id order, whether they arrive as a
 *   broadcast, an ack or a catch-up.
 * - Every time the socket opens (the first time too: the page's history was
 *   read before the socket joined the room), the client fetches every message
 *   above `watermark`, the highest id its history reads returned (the page's
 *   history, then each catch-up). The socket joined the room's group before it
 *   opened, so a message saved before that is in the catch-up and one saved
 *   after it is broadcast to the socket. That broadcast is only as reliable as
 *   the channel layer: Channels' layers deliver at most once (a full channel
 *   or a Redis outage drops it), and such a message shows at the next
 *   catch-up, when the socket reopens, not before.
 *   Ids seen only live never move the watermark: a resent message's broadcast
 *   can come after higher ids, and may have come while the socket was down.
 */
(function () {
  "use strict";

  var configElement = document.getElementById("chat-config");
  if (!configElement) return;
  var config = JSON.parse(configElement.textContent);

  var messagesEl = document.getElementById("messages");
  var outboxEl = document.getElementById("outbox");
  var statusEl = document.getElementById("status");
  var presenceEl = document.getElementById("presence");
  var formEl = document.getElementById("message-form");
  var inputEl = document.getElementById("message-input");
  var uploadForm = document.getElementById("upload-form");
  var uploadClientId = document.getElementById("upload-client-id");

  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 10000;
  var PING_INTERVAL_MS = 25000;

  var socket = null;
  var backoffMs = BACKOFF_MIN_MS;
  var pingTimer = null;
  var pending = new Map(); // client_id -> {client_id, text}
  var watermark = 0; // every message of the room up to this id came in a history read
  var CATCH_UP_RETRY_MS = 2000;

  function newClientId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // randomUUID exists only in secure contexts (https, localhost).
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    return Array.prototype.map
      .call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); })
      .join("");
  }

  function setStatus(connected) {
    statusEl.textContent = connected ? "connected" : "disconnected";
    statusEl.className = "status " + (connected ? "connected" : "disconnected");
  }

  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.offsetHeight - 80;
  }

  function formatTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }

  function renderMessage(msg) {
    var li = document.createElement("li");
    li.className = "message" + (config.user && msg.user === config.user ? " mine" : "");
    li.setAttribute("data-id", String(msg.id));

    var meta = document.createElement("span");
    meta.className = "meta";
    var user = document.createElement("span");
    user.className = "user";
    user.textContent = msg.user || "[deleted]";
    var time = document.createElement("time");
    time.setAttribute("datetime", msg.created);
    time.textContent = formatTime(msg.created);
    meta.appendChild(user);
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(time);
    li.appendChild(meta);

    if (msg.text) {
      var text = document.createElement("span");
      text.className = "text";
      text.textContent = msg.text;
      li.appendChild(text);
    }
    if (msg.attachment) {
      var link = document.createElement("a");
      link.className = "attachment";
      link.href = msg.attachment;
      var img = document.createElement("img");
      img.src = msg.attachment;
      img.alt = "attachment";
      link.appendChild(img);
      li.appendChild(link);
    }
    return li;
  }

  /* Insert a message once, keeping the list ordered by id. */
  function addMessage(msg) {
    if (!msg || typeof msg.id !== "number") return;
    if (messagesEl.querySelector('.message[data-id="' + msg.id + '"]')) return;
    var stick = nearBottom();
    var li = renderMessage(msg);
    var children = messagesEl.children;
    var before = null;
    for (var i = children.length - 1; i >= 0; i--) {
      var id = Number(children[i].getAttribute("data-id"));
      if (id < msg.id) break;
      before = children[i];
    }
    messagesEl.insertBefore(li, before);
    if (stick) window.scrollTo(0, document.body.scrollHeight);
  }

  function renderOutbox() {
    outboxEl.textContent = "";
    pending.forEach(function (item) {
      var li = document.createElement("li");
      li.className = "pending";
      li.setAttribute("data-client-id", item.client_id);
      li.textContent = item.text;
      outboxEl.appendChild(li);
    });
  }

  function showError(text) {
    var li = document.createElement("li");
    li.className = "notice error";
    li.textContent = text;
    outboxEl.appendChild(li);
    setTimeout(function () { li.remove(); }, 5000);
  }

  function sendFrame(obj) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  function sendPending(item) {
    sendFrame({ type: "message", text: item.text, client_id: item.client_id });
  }

  Array.prototype.forEach.call(messagesEl.children, function (li) {
    var id = Number(li.getAttribute("data-id"));
    if (id > watermark) watermark = id;
  });

  /* Once the socket is open: everything above the watermark, page by page. A failed fetch is retried
     while this socket stays open (the next socket starts its own catch-up). */
  function catchUp(ws) {
    if (!config.messagesApi || !window.fetch) return;
    var url = config.messagesApi + "?since=" + encodeURIComponent(String(watermark));
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (!r.ok) throw new Error("catch-up answered " + r.status);
        return r.json();
      })
      .then(function (page) {
        // A server from before `since` (during a rolling deploy) answers with its recent history, a list:
        // shown, but it may have gaps, so it does not move the watermark.
        if (Array.isArray(page)) {
          page.forEach(addMessage);
          return;
        }
        page.messages.forEach(function (msg) {
          addMessage(msg);
          if (msg.id > watermark) watermark = msg.id;
        });
        if (page.more && socket === ws) catchUp(ws);
      })
      .catch(function () {
        setTimeout(function () { if (socket === ws) catchUp(ws); }, CATCH_UP_RETRY_MS);
      });
  }

  function handle(data) {
    switch (data.type) {
      case "message":
        addMessage(data);
        break;
      case "ack":
        if (data.message) addMessage(data.message);
        pending.delete(data.client_id);
        renderOutbox();
        break;
      case "presence":
        presenceEl.textContent = String(data.count);
        break;
      case "error":
        if (data.client_id) {
          pending.delete(data.client_id);
          renderOutbox();
        }
        showError(data.error);
        break;
      case "pong":
        break;
    }
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + window.location.host + config.wsPath);
    socket = ws;

    ws.addEventListener("open", function () {
      backoffMs = BACKOFF_MIN_MS;
      setStatus(true);
      catchUp(ws);
      pending.forEach(sendPending);
      clearInterval(pingTimer);
      pingTimer = setInterval(function () { sendFrame({ type: "ping" }); }, PING_INTERVAL_MS);
    });

    ws.addEventListener("message", function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      handle(data);
    });

    ws.addEventListener("close", function () {
      if (socket !== ws) return;
      socket = null;
      clearInterval(pingTimer);
      setStatus(false);
      // Jitter keeps many clients from reconnecting in lockstep after a restart.
      var delay = Math.round(backoffMs / 2 + Math.random() * backoffMs / 2);
      backoffMs = Math.min(backoffMs * 2, BACKOFF_MAX_MS);
      setTimeout(connect, delay);
    });
  }

  if (formEl && inputEl && config.user) {
    formEl.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = inputEl.value;
      if (!text.trim()) return;
      if (text.length > config.maxLength) {
        showError("message too long");
        return;
      }
      var item = { client_id: newClientId(), text: text };
      pending.set(item.client_id, item);
      renderOutbox();
      sendPending(item); // if the socket is down, the reconnect resends it
      inputEl.value = "";
      inputEl.focus();
    });
  } else if (formEl) {
    formEl.addEventListener("submit", function (event) { event.preventDefault(); });
  }

  if (uploadForm && uploadClientId) {
    uploadForm.addEventListener("submit", function () {
      uploadClientId.value = newClientId();
    });
  }

  setStatus(false);
  connect();
})();
