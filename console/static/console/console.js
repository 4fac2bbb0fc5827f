/* Causerie agent console.
 *
 * Everything here goes through the public API: REST under /api/v1/ (the session cookie
 * authenticates, the CSRF token goes with every write) and the realtime websocket
 * /ws/v1/inbox/, opened with a single-use ticket from realtime/tickets/. No build step,
 * no dependency: this file is served as it is.
 */
"use strict";

(() => {
  const CSRF = document.querySelector('meta[name="csrf-token"]').content;
  // Platform names, from the platform filter the page was rendered with.
  const PLATFORMS = Object.fromEntries(
    [...document.querySelectorAll("#f-platform option")].filter((o) => o.value).map((o) => [o.value, o.textContent]),
  );
  const TYPING_IDLE_MS = 4000;
  const TYPING_RESEND_MS = 5000;
  const SILENCE_LIMIT_MS = 50000; // the server pings every 20 s

  const $ = (selector, root = document) => root.querySelector(selector);

  /** An element with attributes and children; text always goes in as text, never HTML. */
  function h(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function when(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    const today = new Date().toDateString() === date.toDateString();
    return today
      ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }

  function timeElement(iso) {
    return iso ? h("time", { datetime: iso, title: new Date(iso).toString() }, when(iso)) : "";
  }

  // --- REST ------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && body.error) || {};
      super(error.message || `The request failed (${status}).`);
      this.status = status;
      this.code = error.code || "error";
      this.details = error.details || {};
    }
  }

  /** One call to the public API; a lost session sends the member back to sign in. */
  async function api(path, { method = "GET", body, query } = {}) {
    let url = path.startsWith("/") || path.startsWith("http") ? path : `/api/v1/${path}`;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== "" && value !== null && value !== undefined) params.set(key, value);
      }
      const text = params.toString();
      if (text) url += (url.includes("?") ? "&" : "?") + text;
    }
    const headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["X-CSRFToken"] = CSRF;
      headers["Content-Type"] = "application/json";
    }
    const response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (response.status === 401) {
      window.location.assign(`/console/login/?next=${encodeURIComponent(location.pathname)}`);
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  /** Every page of a list (``next`` links), up to ``limit`` items. */
  async function apiAll(path, query, limit = 500) {
    const results = [];
    let page = await api(path, { query: { page_size: 100, ...query } });
    results.push(...page.results);
    while (page.next && results.length < limit) {
      page = await api(page.next);
      results.push(...page.results);
    }
    return results;
  }

  // --- the workspace picker --------------------------------------------------------------

  async function workspacesPage() {
    const status = $("#workspaces-status");
    const list = $("#workspace-list");
    try {
      const me = await api("me");
      list.replaceChildren(
        ...me.workspaces.map((w) =>
          h("li", {}, h("a", { href: `/console/${encodeURIComponent(w.slug)}/`, class: "workspace" },
            h("span", { class: "workspace-name" }, w.name),
            h("span", { class: "muted small" }, ` ${w.slug} · ${w.role || ""}`))),
        ),
      );
      status.textContent = me.workspaces.length
        ? `Signed in as ${me.user ? me.user.email : ""}. Choose a workspace.`
        : "You are not a member of any workspace yet.";
    } catch (error) {
      status.textContent = error.message;
    }
  }

  // --- the inbox ---------------------------------------------------------------------------

  const app = $("#app");
  const state = {
    slug: app ? app.dataset.workspace : "",
    me: null, // {user, member}
    members: new Map(),
    teams: [],
    labels: new Map(),
    conversations: new Map(), // id -> conversation, the rows of the list
    next: null,
    current: null, // the open conversation
    messages: new Map(), // id -> message of the open conversation
    parent: null, // the message a reply answers (comment threads)
    missed: new Set(), // conversations changed while the console was offline
    changing: new Map(), // action field -> PATCHes of it still in flight
    presence: new Map(), // conversation id -> Map(member id -> {state, expires})
    socket: null,
    lastSeq: null,
    everSubscribed: false,
    reconnectDelay: 1000,
    reconnectTimer: null,
    lastHeard: 0,
    catchUp: null, // {before: server time of the reconnect, count}
    resynced: false, // reloaded after a resync: the next subscription is not a catch-up
    typing: { sentAt: 0, timer: null },
  };

  const inWorkspace = (path) => `workspaces/${encodeURIComponent(state.slug)}/${path}`;

  function notify(text) {
    const notice = $("#notice");
    notice.textContent = text;
    notice.hidden = !text;
  }

  function memberName(id) {
    const member = id && state.members.get(id);
    return member ? member.name || member.email : "someone";
  }

  function setView(view) {
    app.dataset.view = view;
    $("#show-contact").setAttribute("aria-expanded", String(view === "contact"));
  }

  // --- filters and the list ----------------------------------------------------------------

  function filters() {
    const form = $("#filters");
    return Object.fromEntries(new FormData(form).entries());
  }

  /** Whether a conversation belongs in the list as filtered (search: the server decides). */
  function matches(c) {
    const f = filters();
    if (f.status && c.status !== f.status) return false;
    if (f.assignee === "me" && c.assignee !== (state.me && state.me.member)) return false;
    if (f.assignee === "none" && c.assignee) return false;
    if (f.team && c.team !== f.team) return false;
    if (f.platform && c.platform !== f.platform) return false;
    if (f.label && !c.labels.includes(f.label)) return false;
    if (f.q) return state.conversations.has(c.id);
    return true;
  }

  function compare(a, b) {
    if (filters().sort === "waiting") {
      if (a.waiting_since !== b.waiting_since) {
        if (!a.waiting_since) return 1;
        if (!b.waiting_since) return -1;
        return a.waiting_since < b.waiting_since ? -1 : 1;
      }
      return a.id < b.id ? -1 : 1;
    }
    if (a.last_message_at !== b.last_message_at) return a.last_message_at > b.last_message_at ? -1 : 1;
    return a.id > b.id ? -1 : 1;
  }

  async function loadList() {
    const status = $("#list-status");
    status.textContent = "Loading…";
    try {
      const page = await api(inWorkspace("conversations/"), { query: { ...filters(), page_size: 50 } });
      state.conversations = new Map(page.results.map((c) => [c.id, c]));
      state.next = page.next;
      renderList();
    } catch (error) {
      status.textContent = error.message;
    }
  }

  async function loadMore() {
    if (!state.next) return;
    try {
      const page = await api(state.next);
      for (const c of page.results) state.conversations.set(c.id, c);
      state.next = page.next;
      renderList();
    } catch (error) {
      $("#list-status").textContent = error.message;
    }
  }

  function renderList() {
    const list = $("#conversation-list");
    const rows = [...state.conversations.values()].sort(compare);
    const focused = document.activeElement && document.activeElement.dataset.conversation;
    list.replaceChildren(...rows.map(renderRow));
    if (focused) {
      const again = list.querySelector(`[data-conversation="${focused}"]`);
      if (again) again.focus();
    }
    $("#load-more").hidden = !state.next;
    $("#list-status").textContent = rows.length
      ? `${rows.length} conversation${rows.length === 1 ? "" : "s"}`
      : "No conversations match these filters.";
  }

  function renderRow(c) {
    const name = (c.contact_summary && c.contact_summary.name) || "Unknown contact";
    const open = state.current && state.current.id === c.id;
    const flags = [];
    if (c.unread_count) flags.push(h("span", { class: "badge unread", title: "Unread messages" }, `${c.unread_count} unread`));
    if (state.missed.has(c.id)) flags.push(h("span", { class: "badge missed" }, "while offline"));
    if (c.priority !== "none") flags.push(h("span", { class: `badge priority-${c.priority}` }, c.priority));
    const viewers = [...(state.presence.get(c.id) || new Map()).keys()];
    if (viewers.length) flags.push(h("span", { class: "badge presence" }, `${viewers.map(memberName).join(", ")} here`));
    return h("li", {},
      h("button", {
        type: "button",
        class: `row${open ? " current" : ""}${c.unread_count ? " has-unread" : ""}`,
        dataset: { conversation: c.id },
        "aria-current": open ? "true" : null,
        onclick: () => openConversation(c.id),
      },
      h("span", { class: "row-top" },
        h("span", { class: "row-name" }, name),
        h("span", { class: "row-time" }, timeElement(c.last_message_at))),
      h("span", { class: "row-meta" },
        h("span", { class: `platform platform-${c.platform}` }, PLATFORMS[c.platform] || c.platform),
        ` ${c.status}`,
        c.assignee ? ` · ${memberName(c.assignee)}` : " · unassigned"),
      h("span", { class: "row-preview" }, c.last_message_direction === "outbound" ? "You: " : "", c.last_message_preview || ""),
      flags.length ? h("span", { class: "row-flags" }, flags) : null));
  }

  /** The list's rows follow the conversations' changes as events bring them. */
  function upsertConversation(c) {
    const had = state.conversations.has(c.id);
    if (matches(c) || (had && filters().q)) state.conversations.set(c.id, c);
    else state.conversations.delete(c.id);
    if (state.current && state.current.id === c.id) {
      state.current = c;
      renderConversationHeader();
    }
    if (had || state.conversations.has(c.id)) renderList();
  }

  // --- one conversation -------------------------------------------------------------------

  async function openConversation(id, { focus = true } = {}) {
    const previous = state.current;
    if (previous && previous.id !== id) sendPresence(previous.id, "idle");
    state.missed.delete(id);
    state.parent = null;
    try {
      state.current = await api(inWorkspace(`conversations/${id}/`));
    } catch (error) {
      notify(error.message);
      return;
    }
    if (!previous || previous.id !== id) {
      // Never show the previous conversation's thread or contact under this one's title.
      state.messages = new Map();
      $("#thread").replaceChildren(h("li", { class: "muted" }, "Loading messages…"));
      $("#contact-body").replaceChildren(h("p", { class: "muted" }, "Loading…"));
      $("#identities").replaceChildren();
      $("#timeline").replaceChildren();
    }
    history.replaceState(null, "", `#conversation=${id}`);
    $("#empty-state").hidden = true;
    $("#conversation").hidden = false;
    $("#reply-error").hidden = true;
    $("#action-error").hidden = true;
    renderConversationHeader();
    renderPresence();
    renderList();
    setView("conversation");
    // Focus moves now, not once the thread has loaded: an agent who starts typing a reply
    // meanwhile keeps the composer, and every keystroke.
    if (focus) $("#conversation-title").focus();
    sendPresence(id, "viewing");
    await Promise.all([loadMessages(), loadContact(), loadCanned()]);
    if (state.current && state.current.unread_count) {
      api(inWorkspace(`conversations/${id}/`), { method: "PATCH", body: { read: true } })
        .then(upsertConversation)
        .catch(() => {});
    }
  }

  function renderConversationHeader() {
    const c = state.current;
    const name = (c.contact_summary && c.contact_summary.name) || "Unknown contact";
    const title = $("#conversation-title");
    title.textContent = name;
    title.tabIndex = -1;
    $("#conversation-meta").textContent = [
      PLATFORMS[c.platform] || c.platform,
      c.kind.replace("_", " "),
      c.subject,
      `since ${when(c.created_at)}`,
    ].filter(Boolean).join(" · ");
    // A control whose change is still on its way shows what the agent chose: an older
    // answer or event (another field's PATCH, say) must not undo the click meanwhile.
    const settled = (field) => !state.changing.get(field);
    if (settled("assignee")) $("#a-assignee").value = c.assignee || "";
    if (settled("status")) $("#a-status").value = c.status;
    if (settled("priority")) $("#a-priority").value = c.priority;
    if (settled("labels")) {
      for (const box of $("#a-labels").querySelectorAll("input")) box.checked = c.labels.includes(box.value);
    }
    const windowNote = $("#reply-window");
    const w = c.reply_window || { open: true, reason: "" };
    const reason = (w.reason || "").replaceAll("_", " ");
    windowNote.dataset.open = String(w.open);
    windowNote.textContent = w.open
      ? `Reply window open${w.expires_at ? ` until ${when(w.expires_at)}` : ""}${reason ? ` (${reason})` : ""}.`
      : `Reply window closed${reason ? `: ${reason}` : ""}. Private notes are still possible.`;
    updateReplyMode();
  }

  function updateReplyMode() {
    const privateNote = $("#reply-private").checked;
    const windowOpen = !state.current || !state.current.reply_window || state.current.reply_window.open;
    $("#reply-label").textContent = privateNote ? "Private note (only members see it)" : "Reply";
    $("#reply-form").classList.toggle("private", privateNote);
    $("#send").textContent = privateNote ? "Add note" : "Send";
    $("#send").disabled = !privateNote && !windowOpen;
  }

  async function loadMessages() {
    const id = state.current.id;
    const messages = await apiAll(inWorkspace(`conversations/${id}/messages/`), {}, 1000);
    if (!state.current || state.current.id !== id) return;
    state.messages = new Map(messages.map((m) => [m.id, m]));
    renderThread();
  }

  /** Oldest first; a comment's replies nested under it, private notes styled apart. */
  function renderThread() {
    const thread = $("#thread");
    const all = [...state.messages.values()].sort((a, b) =>
      a.created_at === b.created_at ? (a.id < b.id ? -1 : 1) : a.created_at < b.created_at ? -1 : 1);
    const children = new Map();
    const roots = [];
    for (const m of all) {
      if (m.parent && state.messages.has(m.parent)) {
        if (!children.has(m.parent)) children.set(m.parent, []);
        children.get(m.parent).push(m);
      } else {
        roots.push(m);
      }
    }
    const render = (m) => {
      const item = renderMessage(m);
      const replies = children.get(m.id);
      if (replies) item.append(h("ol", { class: "replies", "aria-label": "Replies" }, replies.map(render)));
      return item;
    };
    const nearBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
    thread.replaceChildren(...roots.map(render));
    if (nearBottom) thread.scrollTop = thread.scrollHeight;
  }

  function safeUrl(url) {
    try {
      const parsed = new URL(url, location.href);
      return ["http:", "https:"].includes(parsed.protocol) ? parsed.href : null;
    } catch {
      return null;
    }
  }

  function renderMessage(m) {
    const kind = m.private ? "note" : m.direction;
    const author = (m.author && m.author.name) || (m.direction === "inbound" ? "Customer" : "Brand");
    const body = [];
    if (m.deleted_at) body.push(h("p", { class: "deleted" }, "This message was deleted", m.text ? `: ${m.text}` : "."));
    else if (m.text) body.push(h("p", { class: "text" }, m.text));
    if (m.attachments && m.attachments.length) {
      body.push(h("ul", { class: "attachments", "aria-label": "Attachments" }, m.attachments.map((a) => {
        const label = a.caption || a.name || a.filename || a.kind || "attachment";
        const url = a.url && safeUrl(a.url);
        return h("li", {}, url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, `${a.kind || "file"}: ${label}`) : `${a.kind || "file"}: ${label}`);
      })));
    }
    if (m.edits && m.edits.length) {
      body.push(h("details", { class: "edits" },
        h("summary", {}, `Edited ${when(m.edited_at)}`),
        h("ol", {}, m.edits.map((e) => h("li", {}, timeElement(e.edited_at), " ", e.text)))));
    } else if (m.edited_at) {
      body.push(h("p", { class: "muted small" }, `Edited ${when(m.edited_at)}`));
    }
    if (m.reactions && m.reactions.length) {
      body.push(h("ul", { class: "reactions", "aria-label": "Reactions" },
        m.reactions.map((r) => h("li", { title: r.author && r.author.name }, `${r.reaction} ${(r.author && r.author.name) || ""}`))));
    }
    const footer = [timeElement(m.sent_at || m.received_at || m.created_at)];
    if (m.direction === "outbound" && !m.private) {
      footer.push(" · ", h("span", { class: `status status-${m.status}`, dataset: { status: m.status } }, m.status));
      if (m.error && m.status === "failed") footer.push(" · ", h("span", { class: "error-text" }, m.error.message || m.error.code || "failed"));
    }
    const canReplyHere = state.current && state.current.kind === "comment_thread" && !m.private;
    if (canReplyHere) {
      footer.push(" · ", h("button", { type: "button", class: "link", onclick: () => setParent(m) }, "Reply to this"));
    }
    return h("li", { class: `message ${kind}`, dataset: { message: m.id } },
      h("article", { "aria-label": `${m.private ? "Private note" : "Message"} from ${author}` },
        h("header", { class: "message-author" },
          h("strong", {}, author),
          m.private ? h("span", { class: "badge note" }, "Private note") : null),
        body,
        h("footer", { class: "message-footer muted small" }, footer)));
  }

  function setParent(message) {
    state.parent = message;
    $("#replying-to").hidden = !message;
    if (message) {
      $("#replying-to-text").textContent = `Replying to ${(message.author && message.author.name) || "message"}: “${(message.text || "").slice(0, 80)}”`;
      $("#reply-text").focus();
    }
  }

  function upsertMessage(m) {
    if (!state.current || m.conversation !== state.current.id) return;
    state.messages.set(m.id, m);
    renderThread();
  }

  async function loadCanned() {
    const select = $("#canned");
    try {
      const canned = await apiAll(inWorkspace("canned-responses/"), { conversation: state.current.id });
      select.replaceChildren(h("option", { value: "" }, canned.length ? "Insert…" : "None yet"),
        ...canned.map((c) => h("option", { value: c.rendered || c.text }, c.name)));
    } catch {
      select.replaceChildren(h("option", { value: "" }, "Unavailable"));
    }
  }

  async function sendReply(event) {
    event.preventDefault();
    const text = $("#reply-text").value.trim();
    const error = $("#reply-error");
    error.hidden = true;
    if (!text) {
      error.textContent = "Write something first.";
      error.hidden = false;
      return;
    }
    const body = { text, private: $("#reply-private").checked, parent: state.parent ? state.parent.id : null };
    $("#send").disabled = true;
    try {
      const message = await api(inWorkspace(`conversations/${state.current.id}/messages/`), { method: "POST", body });
      $("#reply-text").value = "";
      setParent(null);
      upsertMessage(message);
      stopTyping();
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    } finally {
      updateReplyMode();
    }
  }

  async function changeConversation(changes) {
    const error = $("#action-error");
    error.hidden = true;
    const fields = Object.keys(changes);
    for (const field of fields) state.changing.set(field, (state.changing.get(field) || 0) + 1);
    let updated = null;
    let failure = null;
    try {
      updated = await api(inWorkspace(`conversations/${state.current.id}/`), { method: "PATCH", body: changes });
    } catch (caught) {
      failure = caught;
    } finally {
      for (const field of fields) state.changing.set(field, state.changing.get(field) - 1);
    }
    if (failure) {
      error.textContent = failure.message;
      error.hidden = false;
      renderConversationHeader();
    } else {
      upsertConversation(updated);
    }
  }

  // --- the contact panel ------------------------------------------------------------------

  async function loadContact() {
    const id = state.current.contact;
    const body = $("#contact-body");
    try {
      const [contact, timeline] = await Promise.all([
        api(inWorkspace(`contacts/${id}/`)),
        api(inWorkspace(`contacts/${id}/timeline/`), { query: { page_size: 30 } }),
      ]);
      if (!state.current || state.current.contact !== id) return;
      const facts = [
        ["Email", contact.email], ["Phone", contact.phone], ["Company", contact.company],
        ["Stage", contact.lifecycle_stage], ["Tags", (contact.tags || []).join(", ")],
      ].filter(([, value]) => value);
      body.replaceChildren(
        h("p", { class: "contact-name" }, contact.name || "Unknown contact"),
        facts.length ? h("dl", { class: "facts" }, facts.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])) : "");
      $("#identities").replaceChildren(...contact.identities.map((i) => h("li", {},
        h("span", { class: `platform platform-${i.platform}` }, PLATFORMS[i.platform] || i.platform),
        " ", i.display_name || i.handle || i.external_id,
        i.handle && i.display_name ? h("span", { class: "muted small" }, ` @${i.handle}`) : "")));
      $("#timeline").replaceChildren(...timeline.results.map((item) => h("li", { class: item.private ? "note" : item.direction },
        h("button", { type: "button", class: "link timeline-item", onclick: () => openConversation(item.conversation) },
          h("span", { class: `platform platform-${item.platform}` }, PLATFORMS[item.platform] || item.platform),
          " ", item.direction === "inbound" ? "←" : "→", " ",
          h("span", { class: "timeline-text" }, item.private ? `Note: ${item.text}` : item.text || "(no text)"),
          " ", h("span", { class: "muted small" }, when(item.created_at))))));
    } catch (error) {
      body.replaceChildren(h("p", { class: "alert" }, error.message));
    }
  }

  // --- presence ---------------------------------------------------------------------------

  function sendPresence(conversation, presenceState) {
    const socket = state.socket;
    if (socket && socket.readyState === WebSocket.OPEN && state.subscribed) {
      socket.send(JSON.stringify({ type: "presence", conversation, state: presenceState }));
    }
  }

  function onTyping() {
    if (!state.current) return;
    const now = Date.now();
    if (now - state.typing.sentAt > TYPING_RESEND_MS) {
      state.typing.sentAt = now;
      sendPresence(state.current.id, "typing");
    }
    clearTimeout(state.typing.timer);
    state.typing.timer = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(state.typing.timer);
    if (state.typing.sentAt && state.current) sendPresence(state.current.id, "viewing");
    state.typing.sentAt = 0;
  }

  function onPresence(message) {
    const people = state.presence.get(message.conversation) || new Map();
    if (message.state === "idle") people.delete(message.member);
    else people.set(message.member, { state: message.state, expires: message.expires_at ? Date.parse(message.expires_at) : Infinity });
    if (people.size) state.presence.set(message.conversation, people);
    else state.presence.delete(message.conversation);
    renderPresence();
    if (state.conversations.has(message.conversation)) renderList();
  }

  function prunePresence() {
    const now = Date.now();
    let changed = false;
    for (const [conversation, people] of state.presence) {
      for (const [member, entry] of people) {
        if (entry.expires < now) {
          people.delete(member);
          changed = true;
        }
      }
      if (!people.size) state.presence.delete(conversation);
    }
    if (changed) {
      renderPresence();
      renderList();
    }
  }

  function renderPresence() {
    const line = $("#presence");
    const people = state.current && state.presence.get(state.current.id);
    if (!people || !people.size) {
      line.textContent = "";
      return;
    }
    const typing = [...people].filter(([, e]) => e.state === "typing").map(([m]) => memberName(m));
    const viewing = [...people].filter(([, e]) => e.state === "viewing").map(([m]) => memberName(m));
    const parts = [];
    if (typing.length) parts.push(`${typing.join(", ")} ${typing.length === 1 ? "is" : "are"} typing…`);
    if (viewing.length) parts.push(`${viewing.join(", ")} ${viewing.length === 1 ? "is" : "are"} viewing`);
    line.textContent = parts.join(" · ");
  }

  // --- the websocket ----------------------------------------------------------------------

  function setConnection(connection, text) {
    const badge = $("#connection");
    badge.dataset.state = connection;
    badge.textContent = text;
  }

  async function connect() {
    clearTimeout(state.reconnectTimer);
    if (state.socket) return;
    setConnection("connecting", state.everSubscribed ? "Reconnecting…" : "Connecting…");
    let ticket;
    try {
      ticket = await api(inWorkspace("realtime/tickets/"), { method: "POST" });
    } catch {
      scheduleReconnect();
      return;
    }
    // The ticket's expiry is the server's clock plus 60 s: events that occurred before
    // the ticket was issued happened while this console was away.
    const issuedAt = Date.parse(ticket.expires_at) - 60000;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws/v1/inbox/?ticket=${encodeURIComponent(ticket.ticket)}`);
    state.socket = socket;
    state.subscribed = false;
    socket.addEventListener("open", () => {
      state.lastHeard = Date.now();
      socket.send(JSON.stringify({ type: "subscribe", workspace: state.slug, after: state.lastSeq }));
    });
    socket.addEventListener("message", (event) => {
      state.lastHeard = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      onSocketMessage(message, socket, issuedAt);
    });
    socket.addEventListener("close", () => {
      if (state.socket === socket) {
        state.socket = null;
        state.subscribed = false;
        setConnection("offline", "Offline, reconnecting…");
        scheduleReconnect();
      }
    });
  }

  function scheduleReconnect() {
    clearTimeout(state.reconnectTimer);
    const delay = state.reconnectDelay * (0.75 + Math.random() / 2);
    state.reconnectDelay = Math.min(state.reconnectDelay * 2, 15000);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function onSocketMessage(message, socket, issuedAt) {
    if (message.type === "ping") {
      socket.send(JSON.stringify({ type: "pong" }));
    } else if (message.type === "subscribed") {
      // After a resync the console has just reloaded everything: nothing to catch up on.
      const resumed = state.everSubscribed && state.lastSeq !== null && !state.resynced;
      state.resynced = false;
      state.subscribed = true;
      state.everSubscribed = true;
      state.reconnectDelay = 1000;
      if (state.me && message.member) state.me.member = message.member;
      if (state.lastSeq === null) state.lastSeq = message.after;
      state.catchUp = resumed ? { before: issuedAt, count: 0 } : null;
      setConnection("live", "Live");
      if (resumed) {
        notify("Reconnected. Catching up on what happened while offline…");
        setTimeout(() => finishCatchUp(), 1500);
      }
      if (state.current) sendPresence(state.current.id, "viewing");
    } else if (message.type === "resync") {
      resync(message, socket);
    } else if (message.type === "presence") {
      onPresence(message);
    } else if (message.type === "error") {
      if (message.code === "unauthenticated") setConnection("offline", "Signed out");
    } else if (typeof message.seq === "number") {
      onEvent(message);
    }
  }

  function finishCatchUp() {
    const catchUp = state.catchUp;
    if (!catchUp) return;
    state.catchUp = null;
    notify(catchUp.count
      ? `Back online: ${catchUp.count} update${catchUp.count === 1 ? "" : "s"} arrived while you were offline; their conversations are marked “while offline”.`
      : "Back online: nothing was missed.");
    renderList();
  }

  /** The log cannot bring the console up to date: reload, then go on from its seq. */
  async function resync(message, socket) {
    notify("The inbox was out of date and has been reloaded.");
    state.resynced = true;
    state.catchUp = null;
    state.lastSeq = message.seq;
    await loadList();
    if (state.current) await openConversation(state.current.id, { focus: false });
    if (socket.readyState === WebSocket.OPEN && state.socket === socket) {
      socket.send(JSON.stringify({ type: "subscribe", workspace: state.slug, after: message.seq }));
    }
  }

  function onEvent(event) {
    if (state.lastSeq !== null && event.seq <= state.lastSeq) return;
    state.lastSeq = event.seq;
    const data = event.data || {};
    const missed = state.catchUp && Date.parse(event.occurred_at) < state.catchUp.before;
    if (missed) state.catchUp.count += 1;
    if (event.type === "conversation.created" || event.type === "conversation.updated") {
      if (missed) state.missed.add(data.id);
      upsertConversation(data);
    } else if (event.type === "message.created" || event.type === "message.updated") {
      if (missed) state.missed.add(data.conversation);
      upsertMessage(data);
      const row = state.conversations.get(data.conversation);
      const contact = row ? row.contact : state.current && state.current.id === data.conversation && state.current.contact;
      if (state.current && contact === state.current.contact) scheduleContactReload();
      if (filters().q && event.type === "message.created") scheduleListReload();
    } else if (event.type === "contact.updated" || event.type === "contact.merged") {
      if (state.current && (data.id === state.current.contact || data.kept === state.current.contact)) loadContact();
    }
  }

  let contactReload = null;
  function scheduleContactReload() {
    clearTimeout(contactReload);
    contactReload = setTimeout(loadContact, 400);
  }

  let listReload = null;
  function scheduleListReload() {
    clearTimeout(listReload);
    listReload = setTimeout(loadList, 400);
  }

  // --- keyboard ---------------------------------------------------------------------------

  function onListKeys(event) {
    if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
    const rows = [...document.querySelectorAll("#conversation-list .row")];
    const index = rows.indexOf(document.activeElement);
    if (index < 0) return;
    event.preventDefault();
    const target = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: rows.length - 1 }[event.key];
    const row = rows[Math.max(0, Math.min(rows.length - 1, target))];
    if (row) row.focus();
  }

  // --- start --------------------------------------------------------------------------------

  async function inboxPage() {
    const [me, members, teams, labels] = await Promise.all([
      api("me"),
      apiAll(inWorkspace("members/")),
      apiAll(inWorkspace("teams/")).catch(() => []),
      apiAll(inWorkspace("labels/")).catch(() => []),
    ]).catch((error) => {
      $("#list-status").textContent = error.status === 404 ? "No such workspace, or you are not a member of it." : error.message;
      setConnection("offline", "Unavailable");
      throw error;
    });
    const mine = members.find((m) => me.user && m.user_id === me.user.id);
    state.me = { user: me.user, member: mine ? mine.id : null };
    for (const m of members) state.members.set(m.id, m);
    state.teams = teams;
    for (const label of labels) state.labels.set(label.id, label);

    const switcher = $("#workspace-switch");
    switcher.replaceChildren(...me.workspaces.map((w) => h("option", { value: w.slug, selected: w.slug === state.slug }, w.name)));
    switcher.addEventListener("change", () => window.location.assign(`/console/${encodeURIComponent(switcher.value)}/`));
    $("#f-team").append(...teams.map((t) => h("option", { value: t.id }, t.name)));
    $("#f-label").append(...labels.map((l) => h("option", { value: l.id }, l.name)));
    $("#a-assignee").append(...members.map((m) => h("option", { value: m.id }, m.name || m.email)));
    $("#a-labels").replaceChildren(...(labels.length ? labels.map((l) => h("label", { class: "label-choice" },
      h("input", { type: "checkbox", value: l.id }), ` ${l.name}`)) : [h("span", { class: "muted small" }, "No labels yet")]));

    let searchTimer = null;
    $("#filters").addEventListener("change", (event) => { if (event.target.id !== "f-q") loadList(); });
    $("#filters").addEventListener("submit", (event) => { event.preventDefault(); loadList(); });
    $("#f-q").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(loadList, 300); });
    $("#conversation-list").addEventListener("keydown", onListKeys);
    $("#load-more").addEventListener("click", loadMore);
    $("#a-assignee").addEventListener("change", (e) => changeConversation({ assignee: e.target.value || null }));
    $("#a-status").addEventListener("change", (e) => changeConversation({ status: e.target.value }));
    $("#a-priority").addEventListener("change", (e) => changeConversation({ priority: e.target.value }));
    $("#a-labels").addEventListener("change", () => changeConversation({
      labels: [...$("#a-labels").querySelectorAll("input:checked")].map((box) => box.value),
    }));
    $("#actions").addEventListener("submit", (event) => event.preventDefault());
    $("#reply-form").addEventListener("submit", sendReply);
    $("#reply-text").addEventListener("input", onTyping);
    $("#reply-text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("#reply-form").requestSubmit();
    });
    $("#reply-private").addEventListener("change", updateReplyMode);
    $("#cancel-parent").addEventListener("click", () => setParent(null));
    $("#canned").addEventListener("change", (event) => {
      const text = event.target.value;
      if (!text) return;
      const area = $("#reply-text");
      area.value = area.value ? `${area.value}\n${text}` : text;
      event.target.value = "";
      area.focus();
      onTyping();
    });
    $("#back-to-list").addEventListener("click", () => {
      setView("list");
      const row = document.querySelector("#conversation-list .row.current");
      if (row) row.focus();
    });
    $("#show-contact").addEventListener("click", () => {
      setView(app.dataset.view === "contact" ? "conversation" : "contact");
      $("#contact-title").focus();
    });
    $("#contact-title").tabIndex = -1;
    $("#back-to-conversation").addEventListener("click", () => { setView("conversation"); $("#conversation-title").focus(); });
    window.addEventListener("online", () => { state.reconnectDelay = 1000; connect(); });
    window.addEventListener("pagehide", () => { if (state.current) sendPresence(state.current.id, "idle"); });
    setInterval(() => {
      prunePresence();
      // A socket that heard nothing (not even a ping) for too long is dead: replace it.
      if (state.socket && state.subscribed && Date.now() - state.lastHeard > SILENCE_LIMIT_MS) state.socket.close();
    }, 5000);

    await loadList();
    connect();
    const wanted = /conversation=([0-9a-f-]{36})/.exec(location.hash);
    if (wanted) openConversation(wanted[1], { focus: false });
  }

  const page = document.querySelector("[data-page]");
  if (page && page.dataset.page === "workspaces") workspacesPage();
  if (page && page.dataset.page === "inbox") inboxPage();
})();
