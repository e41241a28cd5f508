// pipechat web client: the pipe protocol over a WebSocket (/ws), one request
// per text message, replies in request order, events (no "status") between.
//
// Every text that comes from a user is put on the page with textContent,
// never innerHTML. No framework, no build step.
"use strict";

(() => {
  // ---------------------------------------------------------------- wire --

  /** One request: `/command|field|...`, each field escaped as the protocol says. */
  function requestLine(command, ...fields) {
    const escaped = fields.map((f) =>
      String(f).replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\n/g, "\\n"),
    );
    return [command, ...escaped].join("|");
  }

  /**
   * A refusal's reason as the page words its own: a sentence (capital first,
   * a full stop last), without the request syntax a `400` shows pipe
   * clients (`; usage: /setRetention|name|days`), which a page user never
   * types.
   */
  function asSentence(reason) {
    const text = reason.replace(/; usage: .*$/s, "").trim();
    if (!text) return reason;
    const capital = text[0].toUpperCase() + text.slice(1);
    return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
  }

  /**
   * What to say of a request that failed: `offline` when the connection was
   * down, or went down before the answer came ("lost": the request may have
   * been done), in the page's own wording for each place; else the server's
   * reason.
   */
  function reasonOf(error, offline) {
    return error.message === "offline" || error.message === "lost" ? offline : error.message;
  }

  /** Requests whose 401 is a wrong password or token, not a lost session. */
  const CREDENTIAL_COMMANDS = new Set(["/login", "/register", "/resume", "/changePassword"]);

  /**
   * When a connection counts as dead though its socket is open: a link cut
   * without a close (a laptop asleep, a Wi-Fi switch, a NAT forgetting
   * it) says nothing, and the page would say "Connected" while what is
   * sent goes nowhere. After `quietMs` without a word from the server (a
   * minute: 10,000 idle pages ask about 170 times a second), or `waitedMs`
   * with a request unanswered and no word, and at once when the page comes
   * back into view, it asks `/ping`; unanswered for `pingAnswerMs` (replies
   * come in order, so a slow login ahead of it counts too, and a PostgreSQL
   * node may stall a room for 30 s: generous), the connection is given up
   * and the page reconnects. The browser tests shorten these through
   * `window.PIPECHAT_LIVENESS`.
   */
  const LIVENESS = {
    quietMs: 60000,
    waitedMs: 5000,
    pingAnswerMs: 45000,
    checkEveryMs: 2500,
    ...window.PIPECHAT_LIVENESS,
  };

  /** The WebSocket and the replies it owes, oldest first. */
  class Connection {
    constructor(onEvent, onClose) {
      this.onEvent = onEvent;
      this.onClose = onClose;
      this.pending = [];
      this.socket = null;
      /** Asks the open connection's server whether it is there (see LIVENESS). */
      this.ping = () => {};
      /**
       * Counts the logins and resumes sent on this connection: a 401 to a
       * request sent before the latest of them is not news of its session.
       */
      this.session = 0;
    }

    /** Opens the socket; resolves with the greeting, rejects if it fails. */
    open() {
      const scheme = location.protocol === "https:" ? "wss:" : "ws:";
      const socket = new WebSocket(`${scheme}//${location.host}/ws`);
      this.socket = socket;
      return new Promise((resolve, reject) => {
        let greeted = false;
        let ended = false;
        const openedAt = Date.now();
        let heardAt = openedAt;
        let pingSentAt = null;
        const end = () => {
          if (ended) return;
          ended = true;
          clearInterval(watch);
          const waiting = this.pending;
          this.pending = [];
          // Sent, unanswered: done or not, nobody knows.
          for (const waiter of waiting) waiter.reject(new Error("lost"));
          if (!greeted) reject(new Error("cannot reach the server"));
          if (this.socket === socket) {
            this.socket = null;
            this.onClose();
          }
        };
        // Given up as dead: its close (which needs the server's answer too)
        // is not waited for.
        const giveUp = () => {
          socket.onmessage = null;
          socket.onclose = null;
          socket.close();
          end();
        };
        // Asks whether the server is there, unless a ping is on its way.
        const ping = () => {
          if (!greeted || ended || pingSentAt !== null) return;
          pingSentAt = Date.now();
          this.request("/ping").then(
            () => {
              pingSentAt = null;
            },
            () => {},
          );
        };
        this.ping = ping;
        const watch = setInterval(() => {
          const now = Date.now();
          if (!greeted) {
            if (now - openedAt > LIVENESS.pingAnswerMs) giveUp();
            return;
          }
          if (pingSentAt !== null) {
            if (now - pingSentAt > LIVENESS.pingAnswerMs) giveUp();
            return;
          }
          const oldest = this.pending[0];
          const unanswered = oldest && now - Math.max(oldest.sentAt, heardAt) > LIVENESS.waitedMs;
          if (unanswered || now - heardAt > LIVENESS.quietMs) ping();
        }, LIVENESS.checkEveryMs);
        socket.onmessage = (message) => {
          heardAt = Date.now();
          if (typeof message.data !== "string") return;
          let value;
          try {
            value = JSON.parse(message.data);
          } catch {
            return;
          }
          if (!greeted) {
            greeted = true;
            if (value.status === 200) resolve(value.data);
            else reject(new Error(value.error || "refused"));
            return;
          }
          if ("status" in value) {
            const waiter = this.pending.shift();
            if (waiter) waiter.resolve(value);
          } else {
            this.onEvent(value);
          }
        };
        socket.onclose = end;
      });
    }

    get isOpen() {
      return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
    }

    /** Sends a request; resolves with its reply ({status, data|error}). */
    request(command, ...fields) {
      if (!this.isOpen) return Promise.reject(new Error("offline"));
      return new Promise((resolve, reject) => {
        this.pending.push({ resolve, reject, sentAt: Date.now() });
        this.socket.send(requestLine(command, ...fields));
      });
    }

    /**
     * Like request, but rejects with the server's sentence unless 2xx. A 401
     * to anything but a login means the session was ended elsewhere (a
     * password change): `onLoggedOut` hears of it, with the session the
     * request was sent in.
     */
    async ok(command, ...fields) {
      const session = this.session;
      const reply = await this.request(command, ...fields);
      if (reply.status >= 200 && reply.status < 300) return reply.data;
      if (reply.status === 401 && !CREDENTIAL_COMMANDS.has(command) && this.onLoggedOut) {
        this.onLoggedOut(session);
      }
      const error = new Error(reply.error ? asSentence(reply.error) : `Error ${reply.status}.`);
      error.status = reply.status;
      throw error;
    }

    close() {
      const socket = this.socket;
      this.socket = null;
      if (socket) socket.close();
    }
  }

  // --------------------------------------------------------------- state --

  /** The saved login, `{"token":...,"username":...}`. */
  const TOKEN_KEY = "pipechat.token";
  /** Tokens logged out of while the server was away, revoked on the next connection. */
  const REVOKE_KEY = "pipechat.revoke";
  /** Written for a moment by a tab that logs out, so that the user's other tabs follow. */
  const LOGOUT_KEY = "pipechat.logout";
  /**
   * Written for a moment by a tab that joined or created a chatroom: no
   * event tells the user's other tabs (they are not subscribed to a room
   * they are not in), so they ask for their rooms again. Leaving needs no
   * telling: the `exit` event reaches them.
   */
  const ROOMS_KEY = "pipechat.rooms";
  /** The protocol's limit on a message's text, in characters. */
  const MAX_MESSAGE_CHARS = 4096;
  /**
   * The protocol's longest retention, in days: a value beyond it is refused,
   * so it deletes nothing and needs no "are you sure" first.
   */
  const MAX_RETENTION_DAYS = 36500;
  const ROOM_KEY = "pipechat.room";
  /**
   * The conversation a user last opened on this device, reopened at their
   * next login there; kept only while "Keep me logged in" is on (see
   * openConversation): `pipechat.open.` and the user's name in lower case,
   * so that one user's choice never opens for another on the same browser.
   */
  const LAST_OPEN_KEY = "pipechat.open.";
  /**
   * The drafts, with whose they are, kept across a reload of the tab
   * (sessionStorage: this tab only, gone with it): a reload is what a user
   * tries when offline, which is when a message is left unsent in its box.
   */
  const DRAFTS_KEY = "pipechat.drafts";
  /** "on" when the user asked, on this device, to be notified of direct messages. */
  const NOTIFY_KEY = "pipechat.notify";
  const PAGE = 50;

  const state = {
    me: null,
    /** Open edits (openEdits) of a conversation whose reading failed, by its key, until placed. */
    keptEdits: new Map(),
    /**
     * The token of this tab's session. A reconnection resumes with it and
     * with no other: the saved one may be another tab's, another user's.
     */
    token: null,
    /**
     * Whether this tab's login is the one kept on the device (localStorage):
     * only such a tab goes on with a newer login of its user saved there.
     */
    kept: false,
    /** Whether a saved login may be resumed unasked: on the page's first connection only. */
    autoResume: true,
    /** Counts logouts: a reconnection that was resuming meanwhile gives up. */
    logouts: 0,
    /** The token of a logout the server could not hear yet, for the note once it is revoked. */
    awaitingRevocation: null,
    /** Names of the commands the server knows (from /help). */
    commands: new Set(),
    directMessages: false,
    /** key (lower case) -> conversation */
    convs: new Map(),
    /**
     * Whether `convs` holds the chatrooms since the login: until then the
     * sidebar does not say the user is in none.
     */
    roomsKnown: false,
    /** The open conversation's key, or null. */
    current: null,
    view: null,
    active: [],
    wasLoggedIn: false,
    /**
     * Logged in on this connection: set once a login or resume has loaded
     * the rooms, cleared when the connection closes. Until then a request
     * that needs a login would be answered 401, which means "logged out
     * elsewhere" and forgets the saved token.
     */
    sessionReady: false,
    /**
     * The room keys this connection is subscribed to ("@" for direct
     * messages): the refresh of the list subscribes only to rooms joined
     * since. A new set for each connection and each login; a key goes when
     * this user's `exit` for its room arrives (the server ends the
     * subscription) or when a refresh finds the room no longer joined.
     */
    subscribed: new Set(),
    /** When `subscribed` was begun (Date.now()): see RESUBSCRIBE_EVERY_MS. */
    subscribedSince: 0,
    reconnectAttempt: 0,
    /**
     * What was typed and not sent, per conversation key: the message box
     * belongs to the open conversation, so a draft never goes to another.
     */
    drafts: new Map(),
  };

  const has = (command) => state.commands.has(command);
  // For names as the server sends them: each room in one spelling, as
  // created. A name the user typed is the server's to look up (see
  // openExistingRoom): its rule, full Unicode case folding (`STRASSE` is
  // `Straße`), is more than lower case.
  const keyOf = (name) => name.toLowerCase();

  /** A conversation: a chatroom, or "@user" for direct messages. */
  /** A conversation's name as its heading and the tab's title say it. */
  const placeName = (c) => (c.direct ? `${c.name.slice(1)} (direct)` : c.name);

  function conv(name) {
    const key = keyOf(name);
    let c = state.convs.get(key);
    if (!c) {
      c = {
        name,
        direct: name.startsWith("@"),
        member: name.startsWith("@"),
        unread: 0,
        lastSeenId: 0,
        lastReadId: 0,
      };
      state.convs.set(key, c);
    }
    return c;
  }

  /** The conversation a message belongs to. */
  function convNameOf(message) {
    if (message.room !== null && message.room !== undefined) return message.room;
    const other = message.username.toLowerCase() === state.me.toLowerCase() ? message.to : message.username;
    return `@${other}`;
  }

  // ----------------------------------------------------------------- DOM --

  const $ = (id) => document.getElementById(id);
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  /**
   * Bidirectional formatting characters (U+202A–U+202E, U+2066–U+2069,
   * U+200E, U+200F, U+061C), which a room's name, a topic or a message
   * may hold: U+202E (right-to-left override) would show the page's own
   * words after it backwards.
   */
  const BIDI_MARKS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

  /**
   * Someone's text (`content`: a string, or nodes such as a message's links
   * and marks) in a sentence of the page's own: in a `<bdi>`, an isolate,
   * so that neither its direction nor its formatting characters reach the
   * words around it (balanceIsolates).
   */
  function isolated(content) {
    const node = document.createElement("bdi");
    node.append(content);
    return balanceIsolates(node);
  }

  /**
   * Makes the isolates in `node`'s text pair up: a U+2069 (end of an
   * isolate) that ends none opened before it in the text is dropped, since
   * the browser pairs it with the isolate of the element it is in, which
   * then ends there, and what follows (an override) gets out to the
   * page's words; one opened (U+2066–U+2068) and never ended is ended.
   * Returns `node`.
   */
  function balanceIsolates(node) {
    let open = 0;
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
      if (!/[\u2066-\u2069]/.test(text.data)) continue;
      let kept = "";
      for (const char of text.data) {
        if (char === "\u2069") {
          if (open === 0) continue;
          open -= 1;
        } else if (char >= "\u2066" && char <= "\u2068") {
          open += 1;
        }
        kept += char;
      }
      text.data = kept;
    }
    if (open > 0) node.append("\u2069".repeat(open));
    return node;
  }

  /**
   * A name in a plain string that the browser shows (the tab's title): with
   * formatting characters, between U+2068 and U+2069 (first-strong
   * isolate), as `isolated` puts it in a `<bdi>`; else as it is.
   */
  const isolatedText = (name) => (BIDI_MARKS.test(name) ? `\u2068${isolated(name).textContent}\u2069` : name);

  const connection = new Connection(onEvent, onClosed);
  connection.onLoggedOut = (session) => {
    // A reply to a request sent before this tab's latest login or resume.
    if (session !== connection.session || !state.me) return;
    sessionEnded();
  };

  /**
   * The server ended this tab's session, its token revoked already: the
   * user's password was changed in another session. When that was another
   * tab of this browser, and this tab's login is kept on the device too, it
   * goes on with the new login that tab saved; otherwise to the login form,
   * saying why.
   */
  async function sessionEnded() {
    const kept = state.kept;
    const ended = state.token;
    if (await takeUpNewerLogin(ended)) return;
    const why = "You were logged out (was your password changed in another session?).";
    // A newer login of this user kept on the device (another tab changed
    // the password) that this tab, logged in for itself only, does not take.
    const onDevice = parseLogin(localStorage.getItem(TOKEN_KEY));
    const newerHere =
      !kept && onDevice && onDevice.username && state.me &&
      keyOf(onDevice.username) === keyOf(state.me) && onDevice.token !== ended;
    logOut({
      note: newerHere
        ? `${why} This tab's login was for this tab only, so it cannot go on with the newer one kept on this device: log in again.`
        : `${why} Log in again.`,
      tellOthers: false,
      revoke: false,
    });
  }

  /**
   * The login of this tab's user kept on the device, when it is not
   * `token` and this tab's own login is kept there too: the one a tab that
   * changed the password saved. A login for this tab only never takes one
   * up (it was chosen not to stay on the device). Else null.
   */
  function newerKeptLogin(token) {
    if (!state.kept || !state.me) return null;
    const login = parseLogin(localStorage.getItem(TOKEN_KEY));
    if (!login || !login.username || keyOf(login.username) !== keyOf(state.me)) return null;
    return login.token === token ? null : login;
  }

  /**
   * After the session with `ended` was ended by the server: resumes the
   * newer login of the same user kept on the device, if there is one, and
   * carries on where the tab was. Resolves with whether it did.
   */
  async function takeUpNewerLogin(ended) {
    const login = newerKeptLogin(ended);
    if (!login || !connection.isOpen) return false;
    const logouts = state.logouts;
    connection.session += 1;
    let data;
    try {
      data = await connection.ok("/resume", login.token);
    } catch {
      return false;
    }
    // Logged out meanwhile: that logout's /logout followed this /resume.
    if (logouts !== state.logouts) return true;
    state.token = login.token;
    $("password-note").textContent = "Your password was changed in another tab: this tab goes on with the new login.";
    await loggedIn(data.username);
    return true;
  }

  /**
   * The connection state, a live region: `text` is what a screen reader
   * hears, once; `countdown` is shown after it but not heard, so that the
   * seconds ticking are not read out each second.
   */
  function setConnectionState(kind, text, countdown = "", { offerNow = Boolean(countdown) } = {}) {
    const box = $("connection");
    box.dataset.state = kind;
    let said = box.querySelector(".said");
    let ticking = box.querySelector(".countdown");
    let now = box.querySelector(".reconnect-now");
    if (!said) {
      said = el("span", "said");
      ticking = el("span", "countdown");
      ticking.setAttribute("aria-hidden", "true");
      // For a user who knows the server is back: the wait grows to 15 s.
      now = el("button", "reconnect-now", "Reconnect now");
      now.type = "button";
      now.addEventListener("click", reconnectNow);
      box.replaceChildren(said, ticking, now);
    }
    // Only a change is written: the same text written again may be read again.
    if (said.textContent !== text) said.textContent = text;
    ticking.textContent = countdown;
    now.hidden = !offerNow;
  }

  /**
   * The login form; `note` (when given) replaces the sentence under it.
   * A `calm` one (the user's own logout) says what happened, not what went
   * wrong: not in red, and gone at the next thing typed there.
   */
  function showLogin(note, { calm = false } = {}) {
    $("chat-view").hidden = true;
    $("login-view").hidden = false;
    if (note !== undefined) {
      $("login-error").textContent = note;
      $("login-error").classList.toggle("calm", calm && note !== "");
    }
    $("username").focus();
  }

  /**
   * Shows `text` in a form's error line (a `role="alert"` line that its
   * fields name in `aria-describedby`) and marks `fields`, and only them,
   * `aria-invalid`. Which fields are wrong is said by the code that checked
   * them or that heard the server refuse them: a line that is not about
   * what was typed ("Not connected to the server.", "You were logged out
   * in another tab.") names none, and no line's text is read to guess.
   * The marks go when the line says anything else, however it was set
   * (emptied by a form closing, replaced by a note), and a field's own
   * mark goes when it is edited (`dropMarkOnEdit`): it was about the value
   * refused, which is no longer there.
   */
  function showFieldError(error, text, fields = []) {
    let shown = markedBy.get(error);
    if (!shown) {
      shown = { text: "", fields: [] };
      markedBy.set(error, shown);
      // Asynchronous, after whatever set the line: the marks stay while it
      // still says what they were set with.
      new MutationObserver(() => {
        if (error.textContent === shown.text) return;
        for (const field of shown.fields) field.removeAttribute("aria-invalid");
        shown.fields = [];
      }).observe(error, { childList: true, characterData: true, subtree: true });
    }
    for (const field of shown.fields) field.removeAttribute("aria-invalid");
    error.textContent = text;
    shown.text = text;
    shown.fields = text ? fields : [];
    for (const field of shown.fields) field.setAttribute("aria-invalid", "true");
  }
  /** The fields each error line marks invalid, and the text it marks them with. */
  const markedBy = new WeakMap();

  /** Editing a field marked invalid unmarks it (see showFieldError). */
  function dropMarkOnEdit() {
    document.addEventListener("input", (event) => {
      if (event.target instanceof Element) event.target.removeAttribute("aria-invalid");
    });
  }

  /** Empties the sentence under the login form. */
  function clearLoginNote() {
    $("login-error").textContent = "";
    $("login-error").classList.remove("calm");
  }

  function showChat() {
    $("login-view").hidden = true;
    $("chat-view").hidden = false;
    $("me").textContent = `Signed in as ${state.me}`;
    $("me").title = state.me;
    $("account-name").textContent = `Signed in as ${state.me}`;
    $("password-username").value = state.me;
  }

  /** A saved login as stored; a page before this one saved the bare token. */
  function parseLogin(saved) {
    if (!saved) return null;
    try {
      const login = JSON.parse(saved);
      if (login && typeof login.token === "string") return { token: login.token, username: login.username || null };
    } catch {
      /* a bare token */
    }
    return { token: saved, username: null };
  }

  /** The saved login: this tab's own (sessionStorage) before the device's. */
  function savedLogin() {
    for (const store of [sessionStorage, localStorage]) {
      const login = parseLogin(store.getItem(TOKEN_KEY));
      if (login) return { ...login, store };
    }
    return null;
  }

  /**
   * Saves the login for a reload: on the device (every tab sees it) with
   * "keep me logged in", else in this tab only. A login kept on the device
   * stays when a tab logs in for itself only; one replaced by another
   * user's is revoked (that user's tabs log out, told by the storage event).
   */
  function saveLogin(token, username, remember) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (!token) return;
    const login = JSON.stringify({ token, username });
    if (!remember) {
      sessionStorage.setItem(TOKEN_KEY, login);
      return;
    }
    const replaced = parseLogin(localStorage.getItem(TOKEN_KEY));
    localStorage.setItem(TOKEN_KEY, login);
    if (replaced && replaced.username && keyOf(replaced.username) !== keyOf(username)) {
      setPendingRevocations([...pendingRevocations(), replaced.token]);
      revokePending().catch(() => {});
    }
  }

  /** Forgets the saved logins that hold `token` or belong to `username`. */
  function forgetLogins(token, username) {
    for (const store of [sessionStorage, localStorage]) {
      const login = parseLogin(store.getItem(TOKEN_KEY));
      if (!login) continue;
      const theirs = username && login.username && keyOf(login.username) === keyOf(username);
      if (login.token === token || theirs) store.removeItem(TOKEN_KEY);
    }
  }

  function pendingRevocations() {
    try {
      const list = JSON.parse(localStorage.getItem(REVOKE_KEY));
      return Array.isArray(list) ? list.filter((t) => typeof t === "string") : [];
    } catch {
      return [];
    }
  }

  function setPendingRevocations(list) {
    if (list.length) localStorage.setItem(REVOKE_KEY, JSON.stringify([...new Set(list)]));
    else localStorage.removeItem(REVOKE_KEY);
  }

  /**
   * Revokes the tokens logged out of while the server was away, on a
   * connection of their own (each resumed, then logged out), so that this
   * page's connection and session are never touched: a logged-in page does
   * it as well as a logged-out one. Resolves with how many were revoked; a
   * token the server no longer knows, or never could, counts as done.
   */
  let revoking = Promise.resolve(0);
  function revokePending() {
    revoking = revoking.then(async () => {
      let revoked = 0;
      const tokens = pendingRevocations();
      if (tokens.length === 0 || !has("/resume") || !has("/logout")) return revoked;
      const side = new Connection(
        () => {},
        () => {},
      );
      try {
        await side.open();
        for (const token of tokens) {
          const resumed = await side.request("/resume", token);
          if (resumed.status === 200) {
            const out = await side.request("/logout");
            if (out.status !== 200) continue;
            revoked += 1;
          } else if (resumed.status !== 401 && resumed.status !== 400) {
            continue; // throttled: next time
          }
          setPendingRevocations(pendingRevocations().filter((t) => t !== token));
        }
      } finally {
        side.close();
      }
      return revoked;
    });
    const done = revoking;
    revoking = revoking.catch(() => 0);
    return done;
  }

  /**
   * Tells this browser's other tabs (their `storage` event) that `username`
   * did something here: the key is written and removed at once, so nothing
   * stays behind, and the time makes each telling a change.
   */
  function tellOtherTabs(key, username) {
    localStorage.setItem(key, JSON.stringify({ username, at: Date.now() }));
    localStorage.removeItem(key);
  }

  /** Whether a `tellOtherTabs` value is about this tab's user. */
  function toldOfMe(value) {
    try {
      const who = JSON.parse(value);
      return Boolean(who && typeof who.username === "string" && keyOf(who.username) === keyOf(state.me));
    } catch {
      return false;
    }
  }

  /**
   * Another tab changed the saved login, or told of something. A tab never
   * becomes another user by itself: when its user logs out elsewhere, or
   * someone else logs in elsewhere, it logs out too and says why.
   */
  window.addEventListener("storage", (event) => {
    if (event.storageArea !== localStorage || !state.me || !event.newValue) return;
    if (event.key === LOGOUT_KEY) {
      if (toldOfMe(event.newValue)) logOut({ note: "You were logged out in another tab.", tellOthers: false });
    } else if (event.key === NOTIFY_KEY) {
      // Ticked or unticked in another tab: the choice is the device's.
      $("notify-dm").checked = notifying();
    } else if (event.key === ROOMS_KEY) {
      if (toldOfMe(event.newValue) && state.sessionReady && connection.isOpen) {
        loadRooms({ reopen: true }).catch(() => {});
      }
    } else if (event.key === TOKEN_KEY) {
      const login = parseLogin(event.newValue);
      if (login && login.username && keyOf(login.username) !== keyOf(state.me)) {
        logOut({
          note: `You were logged out here: ${login.username} logged in in another tab. Log in again to carry on.`,
          tellOthers: false,
        });
      } else if (login && login.username && login.token !== state.token && state.kept && state.sessionReady) {
        // A newer login of this user: if another tab changed the password,
        // this session has just ended. A request that needs a login finds
        // out now (its 401 takes up the newer login), not the next message
        // sent, which would fail.
        refreshActive();
      }
    }
  });

  // ---------------------------------------------------- connecting again --

  /**
   * Settles once the connection's start is over (its commands, the pending
   * revocations, resuming this tab's session). A login typed meanwhile waits
   * for it: otherwise a /resume of another session could go out between the
   * /login and its reply, and the page would show that session's rooms.
   */
  let starting = Promise.resolve();

  async function connect() {
    let started;
    starting = new Promise((resolve) => {
      started = resolve;
    });
    try {
      await startConnection();
    } finally {
      started();
    }
  }

  async function startConnection() {
    if (state.reconnectAttempt && offlineSaid) {
      // The words of the wait before, kept: an outage is said once, not
      // again at every try (only the countdown, which is not read, moves).
      setConnectionState("connecting", offlineSaid, " now…", { offerNow: false });
    } else {
      setConnectionState("connecting", state.reconnectAttempt ? "Reconnecting…" : "Connecting…");
    }
    try {
      await connection.open();
    } catch (error) {
      if ($("login-view").hidden && $("chat-view").hidden) showUnreachableAtFirst();
      scheduleReconnect(error.message);
      return;
    }
    if (unreachableNoteShown) {
      unreachableNoteShown = false;
      clearLoginNote();
    }
    state.reconnectAttempt = 0;
    // Subscriptions live as long as their connection.
    state.subscribed = new Set();
    state.subscribedSince = Date.now();
    setConnectionState("online", "Connected");
    try {
      const usages = await connection.ok("/help");
      state.commands = new Set(usages.map((u) => u.split(/[|[ ]/)[0]));
    } catch {
      state.commands = new Set();
    }
    try {
      await revokePending();
    } catch {
      if (!connection.isOpen) return;
    }
    if (state.awaitingRevocation && !pendingRevocations().includes(state.awaitingRevocation)) {
      // Revoked, by this page or another.
      state.awaitingRevocation = null;
      if (!state.me) showLogin("The server is reachable again: the session you logged out of is revoked.");
    }
    // This tab's own session; a saved login only when the page was just
    // opened (a tab that was logged out stays so).
    let token = state.me ? state.token : null;
    const saved = savedLogin();
    const fromSaved = !state.me && state.autoResume && saved && !pendingRevocations().includes(saved.token);
    if (fromSaved) token = saved.token;
    state.autoResume = false;
    const logouts = state.logouts;
    if (token && has("/resume")) {
      try {
        connection.session += 1;
        const data = await connection.ok("/resume", token);
        if (logouts !== state.logouts) {
          // Logged out while this was on its way.
          await connection.request("/logout");
          return;
        }
        state.token = token;
        if (fromSaved) state.kept = saved.store === localStorage;
        if (saved && saved.token === token && !saved.username) {
          saved.store.setItem(TOKEN_KEY, JSON.stringify({ token, username: data.username }));
        }
        await loggedIn(data.username);
        return;
      } catch (error) {
        if (error.status === 400 || error.status === 401 || error.status === 429) {
          forgetLogins(token, null);
          if (state.token === token) state.token = null;
          // Ended while the tab was away: a password change in another tab?
          if (error.status === 401 && (await takeUpNewerLogin(token))) return;
        } else if (!connection.isOpen) {
          return;
        }
      }
    }
    if (state.wasLoggedIn) {
      showLogin("The connection was lost. Log in again to carry on where you were.");
    } else {
      showLogin();
    }
  }

  /** Whether the login form says the server could not be reached yet. */
  let unreachableNoteShown = false;

  /**
   * A page opened while the server cannot be reached (down, or its
   * WebSocket blocked on the way) shows the login form, saying so, not an
   * empty page; a saved login is resumed once it answers.
   */
  function showUnreachableAtFirst() {
    const resuming = state.autoResume && savedLogin();
    showLogin(
      resuming
        ? "The server cannot be reached yet. The page keeps trying (bottom left) and resumes your saved login once it answers."
        : "The server cannot be reached yet. The page keeps trying (bottom left); log in once it answers.",
      { calm: true },
    );
    unreachableNoteShown = true;
  }

  function onClosed() {
    state.sessionReady = false;
    forgetWhoIsActive();
    scheduleReconnect();
  }

  /**
   * Who is active is not known while offline: the list says so, and members
   * show as away, until it is asked again once the session is back.
   */
  function forgetWhoIsActive() {
    state.active = [];
    $("active-list").replaceChildren(el("li", "offline-note", "Not known while offline."));
    renderMembersActive();
  }

  let reconnectTimer = null;
  let countdown = null;
  /** What the status says while offline, kept through each try to connect. */
  let offlineSaid = null;
  function scheduleReconnect(why) {
    if (reconnectTimer) return;
    const attempt = state.reconnectAttempt++;
    const delay = Math.min(15000, 500 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
    let left = Math.ceil(delay / 1000);
    offlineSaid = `Offline${why ? ` (${why})` : ""}. Reconnecting`;
    const tell = () => setConnectionState("offline", offlineSaid, ` in ${left} s…`);
    tell();
    countdown = setInterval(() => {
      left = Math.max(0, left - 1);
      tell();
    }, 1000);
    reconnectTimer = setTimeout(() => {
      clearInterval(countdown);
      reconnectTimer = null;
      connect();
    }, delay);
  }

  /** Tries at once instead of at the end of the wait. */
  function reconnectNow() {
    if (reconnectTimer && !connection.isOpen) {
      clearTimeout(reconnectTimer);
      clearInterval(countdown);
      reconnectTimer = null;
      connect();
    }
  }

  window.addEventListener("online", reconnectNow);

  // ------------------------------------------------------------- logging in --

  /** A login or registration on its way: another click waits for it, not a second token. */
  let loggingIn = false;

  async function logIn(register) {
    if (loggingIn) return;
    const username = $("username").value.trim();
    const password = $("password").value;
    const error = $("login-error");
    clearLoginNote();
    if (!username || !password) {
      // The ones left empty are the ones asked for.
      const empty = [!username && $("username"), !password && $("password")].filter(Boolean);
      showFieldError(error, "Enter a username and a password.", empty);
      return;
    }
    loggingIn = true;
    try {
      let data;
      try {
        // The connection's start (revocations, resuming) goes first.
        await starting;
        if (register) await connection.ok("/register", username, password);
        connection.session += 1;
        data = await connection.ok("/login", username, password);
      } catch (e) {
        showFieldError(error, reasonOf(e, "Not connected to the server."), refusedLoginFields(e, register));
        return;
      }
      $("password").value = "";
      if (state.me && state.me.toLowerCase() !== data.username.toLowerCase()) resetState();
      state.token = data.token || null;
      state.kept = $("remember").checked;
      saveLogin(data.token, data.username, $("remember").checked);
      try {
        await loggedIn(data.username);
      } catch (e) {
        // The login was right: what failed after it is about no field. A
        // 401 there is the session ended at once (its token revoked by a
        // password change elsewhere), which the page says as it says any
        // session ended (connection.onLoggedOut): not written over here.
        if (e.status !== 401) showFieldError(error, reasonOf(e, "Not connected to the server."));
      }
    } finally {
      loggingIn = false;
    }
  }

  /**
   * The login form's fields that the server's refusal `e` is about: a wrong
   * username or password (401: it does not say which) both; a taken name
   * (409) the username; a name or password outside the rules (400, only
   * `/register` checks them) the one its sentence begins with, as the
   * server words them ("A username has…", "A password has…"). Nothing for
   * the rest (closed registration, too many tries, offline), which no
   * editing of the fields mends.
   */
  function refusedLoginFields(e, register) {
    if (e.status === 401) return [$("username"), $("password")];
    if (!register) return [];
    if (e.status === 409) return [$("username")];
    if (e.status === 400) {
      if (/^a username\b/i.test(e.message)) return [$("username")];
      if (/^a password\b/i.test(e.message)) return [$("password")];
    }
    return [];
  }

  /** Forgets everything of the user who was logged in, on screen too. */
  function resetState() {
    state.sessionReady = false;
    state.convs = new Map();
    state.roomsKnown = false;
    state.drafts = new Map();
    state.keptEdits = new Map();
    sessionStorage.removeItem(DRAFTS_KEY);
    state.current = null;
    state.view = null;
    clearLog();
    for (const id of ["search", "message", "dm-name", "new-room-name"]) $(id).value = "";
    togglePassword(false);
    $("password-note").textContent = "";
    $("search-list").replaceChildren();
    $("search-said").replaceChildren();
    $("search-results").hidden = true;
    for (const id of ["room-error", "new-room-error"]) $(id).textContent = "";
    clearDirectError();
    state.active = [];
    $("active-list").replaceChildren();
    renderEmpty();
    renderSidebar();
  }

  /** After a login or a resume: rooms, subscriptions, what was missed. */
  async function loggedIn(username) {
    const again = state.wasLoggedIn && state.me === username;
    state.sessionReady = false;
    state.me = username;
    state.wasLoggedIn = true;
    showChat();
    await loadRooms({ resubscribe: true });
    await refreshActive();
    if (again) {
      const before = state.view;
      const seenNewest = before && before.ids.length > 0 ? before.ids[before.ids.length - 1] : null;
      await catchUp();
      // Edits and deletions made meanwhile are not in the catch-up: the
      // open conversation is read again.
      const open = state.current && state.convs.get(state.current);
      if (open && open.member && state.view) {
        // Nothing counts as read until the reader is placed where they
        // left off: read at the foot meanwhile, it would all be marked read.
        rereading = true;
        try {
          await openConversation(open.name);
          if (seenNewest !== null) await showWhereAwayBegan(state.view, seenNewest);
        } finally {
          rereading = false;
        }
        markReadSoon();
      }
    }
    const wanted = state.current || sessionStorage.getItem(ROOM_KEY);
    // Else the one this user last had open on this device, if they are still
    // in it (a direct conversation: if it is still listed).
    const last = localStorage.getItem(LAST_OPEN_KEY + keyOf(username));
    const lastConv = last && state.convs.get(keyOf(last));
    const target = (wanted && state.convs.get(keyOf(wanted))) || (lastConv && lastConv.member ? lastConv : null);
    if (!again) takeDraftsFromReload(username);
    if (!again || !state.view) {
      const first = [...state.convs.values()].find((c) => c.member);
      const open = target || first;
      if (open) await openConversation(open.name);
      else renderEmpty();
    }
    state.sessionReady = connection.isOpen;
    focusAfterLogin();
  }

  /** How many pages back the page reads to find where a reader left off. */
  const AWAY_PAGES = 20;

  /**
   * After a reconnection, the open conversation read again: when messages
   * came meanwhile, a line "New while you were away" goes above the first
   * of them, scrolled to the top, so the reader goes on where they were
   * (and what is below is read once scrolled to). Beyond AWAY_PAGES the
   * conversation shows its newest, as before.
   */
  async function showWhereAwayBegan(view, seenNewest) {
    await showDivider(view, seenNewest, { text: "New while you were away" });
  }

  /**
   * A line (`text`, styled `log-divider`) in the open log above the first
   * message after `afterId` (with `othersOnly`, the first of someone
   * else's: one's own messages are never new to one). Older pages are read
   * back to reach it, up to AWAY_PAGES; when it is further back than that,
   * the line goes at the top of what is shown, saying `beyond`, or (no
   * `beyond`) there is none. With `scroll` the line is scrolled to the top
   * of the log, so that the reader goes on from there, and the messages of
   * others after `afterId` count as unread until scrolled to; without, a
   * log that showed its newest message still does. Returns the line, or
   * null.
   */
  async function showDivider(view, afterId, { text, othersOnly = false, beyond = null, scroll = true }) {
    const newest = view.ids[view.ids.length - 1];
    if (newest === undefined || newest <= afterId) return null;
    for (let page = 0; page < AWAY_PAGES && view.ids[0] > afterId && !view.reachedStart; page++) {
      await loadOlder();
      if (state.view !== view) return null;
    }
    const own = (id) => view.messages.get(id).classList.contains("own");
    const firstNew = view.ids.find((id) => id > afterId && !(othersOnly && own(id)));
    if (firstNew === undefined) return null;
    const reached = view.ids[0] <= afterId || view.reachedStart;
    if (!reached && beyond === null) return null;
    const log = $("log");
    const stick = pinned;
    const line = el("p", "log-divider", reached ? text : beyond);
    log.insertBefore(line, view.messages.get(reached ? firstNew : view.ids[0]));
    if (!scroll) {
      if (stick) scrollToBottom();
      return line;
    }
    log.scrollTop += line.getBoundingClientRect().top - log.getBoundingClientRect().top;
    // Not the reader's scroll, but where the reader is: a log that grows
    // or shrinks meanwhile (a topic arriving) keeps the line in sight.
    pinned = nearBottom();
    // Below the reader now, so not seen: the messages of others count as
    // unread until scrolled to (a catch-up took the first as seen,
    // arriving at the foot of the log).
    const c = state.convs.get(view.key);
    if (c) {
      const after = Math.max(afterId, c.lastReadId);
      const counted = view.ids.filter((id) => id > after && !own(id)).length;
      // Unread further back than what is shown count as well.
      c.unread = reached ? counted : Math.max(c.unread, counted);
      renderSidebar();
    }
    return line;
  }

  /**
   * The login form went with the focus (a login, a registration, a saved
   * login resumed by a page just opened): it goes into the chat, not left
   * on the page's body. To the open conversation as when it is opened from
   * the list (the message box; where that would pop up an on-screen
   * keyboard, the conversation itself: focusConversation); in none, to the
   * first chatroom listed (to join), else "New chatroom", and at phone
   * width, where the list is behind "Chatrooms", to the room's heading.
   * Focus the user put somewhere meanwhile (a reconnection's resume, a
   * click) stays there.
   */
  function focusAfterLogin() {
    const at = document.activeElement;
    if (at && at !== document.body && !$("login-view").contains(at)) return;
    if ($("chat-view").hidden) return;
    if (state.view) {
      focusConversation();
    } else if (narrow.matches) {
      $("room-name").focus();
    } else {
      ($("rooms").querySelector("button[data-conv]") || $("new-room-button")).focus();
    }
  }

  /**
   * The list of chatrooms is asked again this often while the tab is in
   * view (as often as who is active, ACTIVE_EVERY_MS), and this seldom
   * while it is hidden.
   */
  const ROOMS_EVERY_MS = 10000;
  const ROOMS_HIDDEN_EVERY_MS = 30000;
  let roomsAskedAt = 0;
  /**
   * This often a refresh of the list subscribes to every room joined again,
   * whatever `state.subscribed` says. The server ends a subscription without
   * an `exit` reaching the connection in one case: on PostgreSQL, catching
   * up after its feed of changes was lost, for a user who left the room
   * meanwhile (in another client). Joined again there before the page's
   * next refresh, the room would stay unsubscribed (no live messages) until
   * the next reconnection; this bounds that, at the cost of one
   * subscription per room per ten minutes.
   */
  const RESUBSCRIBE_EVERY_MS = 10 * 60 * 1000;

  /**
   * Chatrooms, memberships and unread counts; subscribes to every room
   * joined that this connection is not subscribed to yet (`state.subscribed`),
   * and to direct messages once. With `resubscribe` (a login, a resume), and
   * every RESUBSCRIBE_EVERY_MS, to every room joined. With `reopen`, the
   * open room is shown again when its membership changed meanwhile (joined
   * or left in another client).
   */
  async function loadRooms({ reopen = false, resubscribe = false } = {}) {
    roomsAskedAt = Date.now();
    if (resubscribe || Date.now() - state.subscribedSince >= RESUBSCRIBE_EVERY_MS) {
      state.subscribed = new Set();
      state.subscribedSince = Date.now();
    }
    // This connection's and this login's: a reply that comes after a newer
    // one began adds nothing to it.
    const subscribed = state.subscribed;
    const open = state.current && state.convs.get(state.current);
    const wasMember = open ? open.member : null;
    const names = await connection.ok("/getAllChatrooms");
    const seen = new Set();
    for (const name of names) {
      conv(name);
      seen.add(keyOf(name));
    }
    for (const [key, c] of state.convs) {
      if (!c.direct && !seen.has(key)) state.convs.delete(key);
    }
    if (has("/getUnread")) {
      const unread = await connection.ok("/getUnread");
      const mine = new Set(unread.map((entry) => keyOf(entry.room)));
      for (const [key, c] of state.convs) if (!c.direct) c.member = mine.has(key);
      for (const entry of unread) conv(entry.room).member = true;
      applyUnread(unread);
      // A conversation with messages that the server no longer lists is
      // with an IRC guest who has left: it cannot be opened again (the nick
      // names whoever takes it next), so it goes, and its count with it.
      for (const [key, c] of state.convs) {
        if (!c.direct || mine.has(key) || c.lastSeenId === 0) continue;
        if (key === state.current) c.unread = 0;
        else state.convs.delete(key);
      }
    } else {
      // Protocol 1 has no "my rooms": ask each room for its members.
      await Promise.all(
        names.map(async (name) => {
          const members = await connection.ok("/getChatroomMembers", name);
          conv(name).member = members.some((m) => m.toLowerCase() === state.me.toLowerCase());
        }),
      );
    }
    // A room left (or gone) is no longer subscribed: the server ended it.
    for (const key of subscribed) {
      const c = state.convs.get(key);
      if (key !== "@" && !(c && c.member)) subscribed.delete(key);
    }
    const newly = [...state.convs.values()].filter((c) => c.member && !c.direct && !subscribed.has(keyOf(c.name)));
    await Promise.all(
      newly.map(async (c) => {
        const reply = await connection.request("/subscribe", c.name);
        // Left meanwhile (its `exit` came first): not subscribed any more.
        if (reply.status === 200 && c.member) subscribed.add(keyOf(c.name));
      }),
    );
    let askedNow = newly.length > 0;
    if (!subscribed.has("@")) {
      askedNow = true;
      state.directMessages = (await connection.request("/subscribe", "@")).status === 200;
      if (state.directMessages) subscribed.add("@");
    }
    $("direct").hidden = !state.directMessages;
    // What came between the counts above and the subscriptions just made (a
    // first direct message from someone, a message in a room) came as no
    // event: the counts again, now that events follow every change.
    if (askedNow && has("/getUnread")) applyUnread(await connection.ok("/getUnread"));
    state.roomsKnown = true;
    renderSidebarIfChanged();
    const now = state.current && state.convs.get(state.current);
    if (reopen && now && now === open && now.member !== wasMember) await openConversation(now.name);
  }

  /** After a reconnection: every message sent meanwhile, after the last id seen. */
  async function catchUp() {
    for (const c of state.convs.values()) {
      if (!c.member || c.lastSeenId === 0) continue;
      const missed = await fetchAfter(c.name, c.lastSeenId);
      for (const message of missed) receive(message, { live: false });
    }
    await refreshUnread();
  }

  /**
   * Unread counts as the server has them. No event says that another client
   * of yours read something, so besides the refresh of the list
   * (ROOMS_EVERY_MS) the counts are asked again whenever the page comes
   * back into view.
   */
  async function refreshUnread() {
    if (has("/getUnread")) applyUnread(await connection.ok("/getUnread"));
    renderSidebarIfChanged();
  }

  /**
   * Takes the server's counts. The open conversation's count is the page's
   * own (it knows what is on screen): the server's only lowers it, when
   * something was read elsewhere or deleted.
   */
  function applyUnread(entries) {
    for (const entry of entries) {
      const c = conv(entry.room);
      c.unread = keyOf(entry.room) === state.current ? Math.min(c.unread, entry.unread) : entry.unread;
      c.lastReadId = Math.max(c.lastReadId, entry.last_read_id);
    }
  }

  let unreadTimer = null;
  /** Asks for the counts soon, once for a burst of deletions. */
  function refreshUnreadSoon() {
    clearTimeout(unreadTimer);
    unreadTimer = setTimeout(() => {
      if (state.sessionReady && connection.isOpen) refreshUnread().catch(() => {});
    }, 100);
  }

  function pageCameBack() {
    markReadSoon();
    // Back from sleep, maybe: is the connection still there?
    if (document.visibilityState === "visible") connection.ping();
    if (state.sessionReady && connection.isOpen && document.visibilityState === "visible") {
      loadRooms({ reopen: true }).catch(() => {});
      // Once for a window focused and its tab shown together.
      refreshActiveSoon();
    }
  }

  /** Every message of a conversation after `afterId`, oldest first. */
  async function fetchAfter(name, afterId) {
    const all = [];
    for (let page = 0; page < 20; page++) {
      const got = await connection.ok("/fetchMessages", name, String(afterId), "1000");
      all.push(...got);
      if (got.length < 1000) break;
      afterId = got[got.length - 1].id;
    }
    return all;
  }

  /**
   * "Active now": the protocol has no presence event, so the list is asked
   * again every ACTIVE_EVERY_MS while the tab is in view, whenever it comes
   * back into view, on join and exit events, and soon after a message from
   * someone it does not list (they have just logged in): never more often
   * than once every ACTIVE_GAP_MS for such messages, so that a chatty user
   * the server does not list costs next to nothing.
   */
  const ACTIVE_EVERY_MS = 10000;
  const ACTIVE_GAP_MS = 2000;
  let activeAskedAt = 0;
  let activeTimer = null;

  /** Whether "Active now" lists `username`. */
  const listedActive = (username) => state.active.some((name) => keyOf(name) === keyOf(username));

  /** Asks who is active soon: at once, unless it was asked a moment ago. */
  function refreshActiveSoon() {
    if (activeTimer) return;
    const wait = Math.max(0, activeAskedAt + ACTIVE_GAP_MS - Date.now());
    activeTimer = setTimeout(() => {
      activeTimer = null;
      if (state.sessionReady && connection.isOpen) refreshActive();
    }, wait);
  }

  async function refreshActive() {
    activeAskedAt = Date.now();
    try {
      state.active = await connection.ok("/getActiveUsers");
    } catch {
      return;
    }
    const list = $("active-list");
    list.replaceChildren();
    for (const name of state.active) {
      const item = el("li");
      item.append(el("span", "dot on"), writeToButton(name));
      list.append(item);
    }
    renderMembersActive();
  }

  // ------------------------------------------------------------- sidebar --

  /** More chatrooms than this, and a filter box stands above them. */
  const MANY_ROOMS = 12;
  /**
   * The rooms their scrolling area keeps in view however little room the
   * rest of the sidebar leaves (its min-height in style.css); showing no
   * more than these, it does not scroll.
   */
  const ROOMS_KEPT_IN_VIEW = 4;

  /**
   * The filter over the chatrooms, shown only when there are many of them
   * (a box for three rooms is clutter); a hidden filter filters nothing.
   * Returns whether a room's name passes: the text typed, anywhere in the
   * name, ignoring case and accents as search does.
   */
  function roomFilter(count) {
    const box = $("room-filter-box");
    box.hidden = count <= MANY_ROOMS;
    if (box.hidden) $("room-filter").value = "";
    const wanted = fold($("room-filter").value.trim());
    return (c) => wanted === "" || fold(c.name).includes(wanted);
  }

  /**
   * All that the sidebar shows comes from this: the rooms, memberships,
   * unread counts, the open room, the filter.
   */
  function sidebarShows() {
    const convs = [...state.convs.values()].map((c) => [c.name, c.direct, c.member, c.unread]);
    return JSON.stringify([state.roomsKnown, state.current, $("room-filter").value, convs]);
  }

  /** What the sidebar was last rendered from (`sidebarShows`). */
  let sidebarShown = null;

  /**
   * A refresh that changed nothing leaves the sidebar as it is: rebuilt, it
   * would give the focus to a new button, which a screen reader reads out
   * again.
   */
  function renderSidebarIfChanged() {
    if (sidebarShows() !== sidebarShown) renderSidebar();
  }

  function renderSidebar() {
    // The lists are rebuilt: a keyboard user's place among them is kept.
    const focused = document.activeElement && document.activeElement.dataset.conv;
    const rooms = [...state.convs.values()].filter((c) => !c.direct);
    const byName = (a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase());
    const passes = roomFilter(rooms.length);
    const mine = rooms.filter((c) => c.member && passes(c)).sort(byName);
    const others = rooms.filter((c) => !c.member && passes(c)).sort(byName);
    const direct = [...state.convs.values()].filter((c) => c.direct).sort(byName);
    fillList($("room-list"), mine);
    fillList($("other-room-list"), others);
    // In no chatroom (a new user, or after leaving the last): a line under
    // "Chatrooms" says so and what to do, not an empty list. The filter
    // does not count: rooms it hides are still joined. With no room at all
    // yet it says that others' rooms will show (ROOMS_EVERY_MS): a class
    // whose rooms are being made should join them, not make its own.
    const none = $("no-rooms");
    none.hidden = !state.roomsKnown || rooms.some((c) => c.member);
    none.textContent =
      rooms.length > 0
        ? "You are in no chatroom yet. Join one of those below, or make a new one with “New chatroom”."
        : "You are in no chatroom yet. Chatrooms others make show here within seconds, for you to join; or make one with “New chatroom”.";
    $("other-rooms-heading").hidden = others.length === 0;
    // Many rooms scroll in an area of their own (style.css); a few found
    // by the filter take their own height, not the area's least.
    const shown = mine.length + others.length;
    $("rooms").classList.toggle("scrolls", !$("room-filter-box").hidden && shown > ROOMS_KEPT_IN_VIEW);
    const typed = $("room-filter").value.trim();
    $("room-filter-note").replaceChildren(...(typed && shown === 0 ? ["No chatroom matches “", isolated(typed), "”."] : []));
    fillList($("dm-list"), direct);
    const total = [...state.convs.values()].reduce((n, c) => n + (c.member ? c.unread : 0), 0);
    // The open conversation's name too: what a screen reader says of the
    // tab, and what the browser's list of tabs shows.
    const open = state.current && state.convs.get(state.current);
    document.title = `${total > 0 ? `(${total}) ` : ""}${open ? `${isolatedText(placeName(open))} – ` : ""}pipechat`;
    // At phone width the lists hide behind "Chatrooms": it counts what is
    // unread in chatrooms. Direct messages are not counted there (nobody
    // looks among chatrooms for what was written to them): the strip under
    // the top bar names who wrote, but for the conversation open.
    renderDirectWaiting(direct.filter((c) => c.member && c.unread > 0 && keyOf(c.name) !== state.current));
    const inRooms = rooms.reduce((n, c) => n + (c.member ? c.unread : 0), 0);
    const toggle = $("rooms-toggle");
    toggle.replaceChildren("Chatrooms");
    if (inRooms > 0) {
      toggle.append(el("span", "badge", String(inRooms)));
      toggle.setAttribute("aria-label", `Chatrooms, ${inRooms} unread`);
    } else {
      toggle.removeAttribute("aria-label");
    }
    if (focused) {
      const again = [...$("sidebar").querySelectorAll("button[data-conv]")].find(
        (button) => button.dataset.conv === focused,
      );
      if (again) again.focus();
    }
    renderUnreadHint();
    // After `roomFilter`, which empties a filter it hides.
    sidebarShown = sidebarShows();
  }

  /** The direct conversation the strip under the top bar opens (renderDirectWaiting). */
  let directWaitingKey = null;

  /**
   * At phone width (style.css) the direct conversations are in the menu
   * behind "Chatrooms", where nobody looks for a message written to them:
   * a strip under the top bar names who wrote ("Direct message from bob",
   * with the count), and opens their conversation, the first of them when
   * several wrote. `waiting`: the direct conversations with unread
   * messages, but the open one. Elsewhere the sidebar lists them in sight,
   * and the strip does not show.
   */
  function renderDirectWaiting(waiting) {
    const strip = $("direct-waiting");
    strip.hidden = waiting.length === 0;
    directWaitingKey = waiting.length > 0 ? keyOf(waiting[0].name) : null;
    if (strip.hidden) {
      strip.replaceChildren();
      return;
    }
    const count = waiting.reduce((n, c) => n + c.unread, 0);
    const names = waiting.map((c) => c.name.slice(1)).join(", ");
    strip.replaceChildren(el("span", "who", `Direct message${count === 1 ? "" : "s"} from ${names}`), unreadBadge(count));
  }

  /** The strip's click: the conversation it names opens, as from the list. */
  function openDirectWaiting() {
    const c = directWaitingKey && state.convs.get(directWaitingKey);
    if (c) openFromList(c);
  }

  /** A count of unread messages, "3" on screen, "3 unread" to a screen reader. */
  function unreadBadge(count) {
    const badge = el("span", "badge");
    badge.append(el("span", "", String(count)), el("span", "visually-hidden", " unread"));
    return badge;
  }

  /** Opens `c` as a click on its entry in the sidebar does, the focus in it. */
  function openFromList(c) {
    closeSidebar();
    openConversation(c.name);
    focusConversation();
  }

  /**
   * A room with unread messages scrolled out of sight in the rooms' own
   * area (many rooms) would go unnoticed: the nearest such entry below
   * what shows, else above, or null. Nothing while the area does not
   * scroll or is not on screen (the phone's menu closed).
   */
  function unreadOutOfSight() {
    const area = $("rooms");
    if (!area.classList.contains("scrolls")) return null;
    const box = area.getBoundingClientRect();
    if (box.height === 0) return null;
    const entries = [...area.querySelectorAll("button[data-conv]")].filter((b) => b.querySelector(".badge"));
    const below = entries.find((b) => b.getBoundingClientRect().top >= box.bottom - 4);
    if (below) return { entry: below, below: true };
    const above = entries.reverse().find((b) => b.getBoundingClientRect().bottom <= box.top + 4);
    return above ? { entry: above, below: false } : null;
  }

  /** "Unread below ↓" (or above) under the rooms' area, while a room with unread messages is out of sight there. */
  function renderUnreadHint() {
    const hint = $("unread-hint");
    const out = unreadOutOfSight();
    hint.hidden = out === null;
    if (!out) return;
    const arrow = el("span", "arrow", out.below ? "↓" : "↑");
    arrow.setAttribute("aria-hidden", "true");
    hint.replaceChildren(out.below ? "Unread below" : "Unread above", arrow);
  }

  /** The hint's click: the room out of sight comes into view, with the focus. */
  function showUnreadOutOfSight() {
    const out = unreadOutOfSight();
    if (!out) return;
    revealInRooms(out.entry);
    out.entry.focus();
    renderUnreadHint();
  }

  function fillList(list, convs) {
    list.replaceChildren();
    for (const c of convs) {
      const button = el("button", c.member ? "" : "not-member");
      button.type = "button";
      button.dataset.conv = keyOf(c.name);
      // An isolate (dir="auto"), balanced: the count after it stays after it.
      const label = balanceIsolates(el("span", "name", c.name));
      label.dir = "auto";
      button.append(label);
      if (!c.member) button.append(el("span", "visually-hidden", " (not joined)"));
      if (c.member && c.unread > 0) button.append(unreadBadge(c.unread));
      if (keyOf(c.name) === state.current) button.setAttribute("aria-current", "true");
      button.addEventListener("click", () => openFromList(c));
      const item = el("li");
      item.append(button);
      list.append(item);
    }
  }

  /**
   * Scrolls the chatrooms' own area (not the sidebar, not the page) so that
   * the open room's entry shows: opened from a search result or after a
   * reload, it may be the fortieth.
   */
  function revealOpenRoom() {
    const entry = $("rooms").querySelector('button[aria-current="true"]');
    if (entry) revealInRooms(entry);
  }

  /** Scrolls the chatrooms' own area just enough for `entry` to show. */
  function revealInRooms(entry) {
    const area = $("rooms");
    const box = area.getBoundingClientRect();
    const at = entry.getBoundingClientRect();
    if (at.top < box.top) area.scrollTop -= box.top - at.top;
    else if (at.bottom > box.bottom) area.scrollTop += at.bottom - box.bottom;
  }

  /**
   * Keys in the chatroom filter: ↓ goes to the first room shown, Enter
   * opens it, Escape empties the filter (and, when it is empty already,
   * does what Escape does elsewhere: closes the phone menu).
   */
  function filterKeys(event) {
    const first = $("rooms").querySelector("button[data-conv]");
    if (event.key === "ArrowDown" && first) {
      event.preventDefault();
      first.focus();
    } else if (event.key === "Enter") {
      event.preventDefault();
      if (first) first.click();
    } else if (event.key === "Escape" && event.target.value !== "") {
      event.preventDefault();
      event.stopPropagation();
      event.target.value = "";
      renderSidebar();
    }
  }

  /**
   * At this width, or this short, the sidebar is a menu over the room (as
   * in style.css).
   */
  const narrow = window.matchMedia("(max-width: 700px), (max-height: 500px)");

  /**
   * Where the focus in the message box may pop up an on-screen keyboard:
   * at phone width, and in a window as short as a phone on its side unless
   * it is worked with a mouse (a short desktop window, which has no such
   * keyboard).
   */
  const phoneWidth = window.matchMedia("(max-width: 700px)");
  const mouse = window.matchMedia("(pointer: fine), (hover: hover)");
  const keyboardMayPopUp = () => phoneWidth.matches || (narrow.matches && !mouse.matches);

  /**
   * After the user opened a conversation from the list: the focus goes into
   * it, not left behind in a list of many rooms. To the message box (or
   * Join); where that would pop up an on-screen keyboard, to the
   * conversation itself, so that the keyboard does not cover it.
   */
  function focusConversation() {
    if (!$("composer").hidden && !keyboardMayPopUp()) $("message").focus();
    else if (!$("join-button").hidden) $("join-button").focus();
    else $("log").focus();
  }

  function closeSidebar() {
    $("sidebar").classList.remove("open");
    $("rooms-toggle").setAttribute("aria-expanded", "false");
  }

  // ------------------------------------------------------ the open room --

  /**
   * What a screen reader hears of the open conversation: each message
   * another member sends while it is open, read out politely. The log
   * itself is not a live region (`aria-live="off"`): opening a room, or
   * scrolling up, adds up to a hundred earlier messages at once, which
   * would all be read out. An edit by another member is read out too, and
   * a direct message to this user while another conversation is open.
   * Each is removed once read out: kept, it would be read again after the
   * conversation in browse mode, a deleted or edited text with it. A
   * deleted or edited message's (`id`) goes at once.
   */
  const SAID_KEPT = 20;
  const SAID_FOR_MS = 15_000;
  function say(text, id) {
    const said = $("log-said");
    const line = el("p", "", text);
    if (id !== undefined) line.dataset.id = String(id);
    said.append(line);
    while (said.childElementCount > SAID_KEPT) said.firstElementChild.remove();
    setTimeout(() => line.remove(), SAID_FOR_MS);
  }
  function unsay(id) {
    for (const line of $("log-said").querySelectorAll(`p[data-id="${id}"]`)) line.remove();
  }
  const sayArrived = (message) => say(`${authorOf(message)}: ${shownText(message)}`, message.id);

  function clearLog() {
    $("log-said").replaceChildren();
    const log = $("log");
    for (const node of [...log.children]) if (node.id !== "log-start") node.remove();
    $("log-start").hidden = true;
    pinned = true;
    pinnedTop = null;
    hideNewBelow();
    unmarkHit();
  }

  function renderEmpty() {
    keepDraft();
    state.current = null;
    $("message").value = "";
    state.view = null;
    clearLog();
    $("room-name").textContent = "No chatroom open";
    showTopic("");
    $("room-note").textContent = "Join a chatroom from the list, or create one with “New chatroom”.";
    $("composer").hidden = true;
    $("composer-hint").hidden = true;
    $("join-button").hidden = true;
    $("leave-button").hidden = true;
    $("members-button").hidden = true;
    $("members").hidden = true;
    $("about-button").hidden = true;
    toggleAbout(false);
    $("topic-button").hidden = true;
    toggleTopic(false);
    $("log").setAttribute("aria-label", "Conversation");
  }

  /** The line above the first unread message of a conversation opened. */
  const UNREAD_LINE = "New since you last read";
  /** That line when the first unread message is further back than the page reads (AWAY_PAGES). */
  const UNREAD_BEYOND = "New since you last read: earlier unread messages are further up";

  /**
   * Opens a conversation: subscribed first (at login), then the latest
   * page fetched; events that arrive meanwhile are merged by id. With
   * `at`, opens it at that message (a search result). With unread
   * messages, opens it at the first of them, under a line "New since you
   * last read" that stays while it is open (also when it is read again,
   * as a reconnection does).
   */
  async function openConversation(name, at) {
    const c = conv(name);
    const key = keyOf(c.name);
    const again = state.current === key && state.view !== null && state.view.key === key;
    // Where the reader had read to, as the server counts unread messages
    // (`/getUnread`): the line marks it until the conversation is opened
    // again, except by a reconnection's reread, which keeps it in place.
    let unreadAfter = null;
    if (at === undefined && again && rereading && c.member) unreadAfter = state.view.unreadAfter;
    else if (at === undefined && c.member && c.unread > 0) unreadAfter = c.lastReadId;
    const unreadCount = c.unread;
    // The same conversation read again (a reconnection): its open edits
    // stay, also through a read that fails (kept until placed).
    const onScreen = state.current === key ? openEdits() : [];
    const edits = onScreen.length > 0 ? onScreen : state.keptEdits.get(key) || [];
    state.keptEdits.delete(key);
    keepDraft();
    markReadNow();
    state.current = key;
    clearDirectError();
    // The sidebar's forms spoke of where the user was.
    $("new-room-error").textContent = "";
    $("message").value = state.drafts.get(key) || "";
    sessionStorage.setItem(ROOM_KEY, c.name);
    // Only a place the user is in (a room looked into is not one to come
    // back to), and only on a device the user keeps their login on: on a
    // shared one it would tell the next person whom they wrote to.
    if (c.member && state.me && state.kept) localStorage.setItem(LAST_OPEN_KEY + keyOf(state.me), c.name);
    const view = {
      key,
      messages: new Map(),
      ids: [],
      oldestId: null,
      reachedStart: false,
      loadingOlder: false,
      atLatest: at === undefined,
      unreadAfter,
      // Nothing is marked read until the reader is placed at the first unread.
      placing: unreadAfter !== null,
    };
    state.view = view;
    clearLog();
    renderSidebar();
    revealOpenRoom();
    $("room-name").textContent = placeName(c);
    showTopic("");
    // A reconnection's reread keeps what the room's line says: it is often
    // about the reconnection itself ("It may have been sent: the connection
    // was lost…"), and went a moment after it was shown, unread.
    if (!(again && rereading)) $("room-error").textContent = "";
    $("log").setAttribute("aria-label", `Conversation in ${c.name}`);
    $("members").hidden = true;
    $("members-button").setAttribute("aria-expanded", "false");
    // No count until this room's members are in: never the last room's.
    members = [];
    $("members-button").textContent = "Members";
    renderMembersActive();
    toggleAbout(false);
    toggleTopic(false);
    renderMembership(c);
    if (!c.member) {
      // Anyone may see who is in a room, and its topic, before joining it.
      if (!c.direct) loadRoomDetails(c);
      return;
    }
    try {
      if (at === undefined) {
        const latest = await connection.ok("/fetchMessages", c.name);
        if (state.view !== view) return;
        view.reachedStart = latest.length < 100;
        for (const m of latest) addToView(m, false);
        scrollToBottom();
        await fillScreen(view);
        if (unreadAfter !== null) {
          const line = await showDivider(view, unreadAfter, {
            text: UNREAD_LINE,
            othersOnly: true,
            beyond: UNREAD_BEYOND,
            scroll: !again,
          });
          if (state.view !== view) return;
          if (line) line.id = "unread-line";
          if (line && !again) {
            const n = unreadCount.toLocaleString("en");
            say(`${n} unread message${unreadCount === 1 ? "" : "s"}, shown from the first.`);
          }
          view.placing = false;
        }
      } else {
        const before = await connection.ok("/fetchHistory", c.name, String(at + 1), String(PAGE));
        const after = await fetchAfter(c.name, at);
        if (state.view !== view) return;
        view.reachedStart = before.length < PAGE;
        for (const m of before.concat(after)) addToView(m, false);
        view.atLatest = true;
        const target = view.messages.get(at);
        if (target) {
          markHit(target);
          target.tabIndex = -1;
          target.scrollIntoView({ block: "center" });
          target.focus({ preventScroll: true });
        }
      }
      showStart(view);
      reopenEdits(view, edits);
      // Placed: nothing more to keep.
      edits.length = 0;
      markReadSoon();
      if (!c.direct) loadRoomDetails(c);
    } catch (error) {
      // Not placed, but what is shown may be read as ever.
      view.placing = false;
      if (edits.length > 0) state.keptEdits.set(key, edits);
      if (state.view !== view) return;
      $("room-error").textContent =
        reasonOf(error, "Not loaded: offline. The messages appear once the page is reconnected.");
    }
  }

  /** How long the message a search result opened stays marked, at most. */
  const HIT_MARKED_MS = 4000;
  /** Unmarks the marked search hit, if any (set by markHit). */
  let unmarkHit = () => {};

  /**
   * Marks the message a search result opened, as chat apps do: until the
   * reader's next key or click, or a few seconds, whichever comes first;
   * then the mark fades. One that stayed would look like a state of the
   * message (unread, mentioned) rather than "here it is".
   */
  function markHit(node) {
    unmarkHit();
    node.classList.add("hit");
    const timer = setTimeout(() => unmarkHit(), HIT_MARKED_MS);
    const onAction = () => unmarkHit();
    document.addEventListener("keydown", onAction, true);
    document.addEventListener("pointerdown", onAction, true);
    unmarkHit = () => {
      unmarkHit = () => {};
      clearTimeout(timer);
      document.removeEventListener("keydown", onAction, true);
      document.removeEventListener("pointerdown", onAction, true);
      // The fading is the last of it (style.css).
      node.classList.replace("hit", "hit-fading");
      node.addEventListener("transitionend", () => node.classList.remove("hit-fading"), { once: true });
    };
  }

  /** Keeps the drafts for a reload of the tab (`DRAFTS_KEY`). */
  function keepDraftsForReload() {
    // Logged out (a page reloaded while offline, its login still to come),
    // the drafts kept by the reload before stay for the next: a logout
    // and a login as another user clear them (resetState, takeDraftsFromReload).
    if (!state.me) return;
    keepDraft();
    if (state.drafts.size === 0) sessionStorage.removeItem(DRAFTS_KEY);
    else sessionStorage.setItem(DRAFTS_KEY, JSON.stringify({ username: state.me, drafts: [...state.drafts] }));
  }

  /** Takes back the drafts a reload kept, if they are `username`'s. */
  function takeDraftsFromReload(username) {
    const saved = sessionStorage.getItem(DRAFTS_KEY);
    sessionStorage.removeItem(DRAFTS_KEY);
    if (!saved) return;
    try {
      const kept = JSON.parse(saved);
      if (keyOf(kept.username) !== keyOf(username) || !Array.isArray(kept.drafts)) return;
      for (const [key, text] of kept.drafts) {
        if (typeof key === "string" && typeof text === "string" && !state.drafts.has(key)) {
          state.drafts.set(key, text);
        }
      }
    } catch {
      // Not ours to read: left behind by another version of the page.
    }
  }

  /** Keeps what is in the message box as the open conversation's draft. */
  function keepDraft() {
    if (state.current === null) return;
    const text = $("message").value;
    if (text) state.drafts.set(state.current, text);
    else state.drafts.delete(state.current);
  }

  function renderMembership(c) {
    const member = c.member;
    $("join-button").hidden = member || c.direct;
    $("leave-button").hidden = !member || c.direct;
    $("members-button").hidden = c.direct;
    $("about-button").hidden = c.direct || !has("/getRoomInfo");
    $("topic-button").hidden = !member || c.direct || !has("/setTopic");
    $("composer").hidden = !member;
    $("composer-hint").hidden = !member;
    existsNoteShown = false;
    $("room-note").replaceChildren(
      ...(member ? [] : ["You are not a member of ", isolated(c.name), ". Join it to read and write here."]),
    );
  }

  async function loadRoomDetails(c) {
    if (has("/getRoomInfo")) {
      try {
        const info = await connection.ok("/getRoomInfo", c.name);
        c.owner = info.owner;
        c.topic = info.topic || "";
        if (state.current === keyOf(c.name)) {
          showTopic(c.topic);
          offerOwnerDeletes();
        }
      } catch {
        /* the topic is a nicety */
      }
    }
    await refreshMembers();
  }

  let members = [];
  async function refreshMembers() {
    const key = state.current;
    const c = key && state.convs.get(key);
    if (!c || c.direct) return;
    let listed;
    try {
      listed = await connection.ok("/getChatroomMembers", c.name);
    } catch {
      return;
    }
    // Another room opened meanwhile: this list is not its.
    if (state.current !== key) return;
    members = listed;
    $("members-button").textContent = `Members (${members.length})`;
    renderMembersActive();
  }

  /**
   * A person's name in a list (Active now, a room's members): a button
   * that opens the direct conversation with them, as chat apps do.
   */
  function writeToButton(name) {
    const button = el("button", "name", name);
    button.type = "button";
    // Named, not titled: a title saying the same would be read twice.
    button.setAttribute("aria-label", `Write to ${name}`);
    button.addEventListener("click", () => openDirect(name, { listed: true }));
    return button;
  }

  /** The member list, with who is active and who owns the room (it may delete any message). */
  function renderMembersActive() {
    const list = $("member-list");
    list.replaceChildren();
    const active = new Set(state.active.map((n) => n.toLowerCase()));
    const c = state.current && state.convs.get(state.current);
    const owner = c && c.owner ? keyOf(c.owner) : null;
    for (const name of members) {
      const on = active.has(name.toLowerCase());
      const item = el("li");
      item.append(el("span", on ? "dot on" : "dot"), writeToButton(name));
      // Beside the name, not in it: a long name's ellipsis does not hide it.
      if (keyOf(name) === owner) item.append(el("span", "owner-mark", " (owner)"));
      item.append(el("span", "visually-hidden", on ? " (active now)" : " (away)"));
      list.append(item);
    }
  }

  /** Loads older pages until the log can scroll, so scrolling up can ask for more. */
  async function fillScreen(view) {
    const log = $("log");
    while (state.view === view && !view.reachedStart && log.scrollHeight <= log.clientHeight) {
      await loadOlder();
    }
  }

  async function loadOlder() {
    const view = state.view;
    if (!view || view.loadingOlder || view.reachedStart || view.oldestId === null) return;
    const c = state.convs.get(view.key);
    view.loadingOlder = true;
    const log = $("log");
    try {
      const older = await connection.ok("/fetchHistory", c.name, String(view.oldestId), String(PAGE));
      if (state.view !== view) return;
      const fromBottom = log.scrollHeight - log.scrollTop;
      for (const m of older) addToView(m, false);
      log.scrollTop = log.scrollHeight - fromBottom;
      if (older.length < PAGE) view.reachedStart = true;
      showStart(view);
    } catch (error) {
      $("room-error").textContent = error.message;
    } finally {
      view.loadingOlder = false;
    }
  }

  function showStart(view) {
    const start = $("log-start");
    start.hidden = !view.reachedStart;
    start.textContent = view.messages.size ? "This is the beginning of the conversation." : "No messages yet.";
  }

  function nearBottom() {
    const log = $("log");
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  /**
   * Whether the log shows its newest message: kept so when the log changes
   * size (a topic arrives and the header grows, the window turns).
   */
  let pinned = true;
  /** Where scrollToBottom left the log: a scroll event there is not the reader's. */
  let pinnedTop = null;
  function scrollToBottom() {
    const log = $("log");
    log.scrollTop = log.scrollHeight;
    pinned = true;
    pinnedTop = log.scrollTop;
    hideNewBelow();
  }

  /**
   * Messages of others that arrived below while the reader was scrolled up
   * (the log stays where the reader is): a button at the foot of the log
   * counts them and takes the reader down to the newest. Its appearing is
   * said once, politely; each further message is not (`sayArrived`
   * reads the messages themselves).
   */
  let newBelow = 0;
  function showNewBelow() {
    newBelow += 1;
    const button = $("new-below");
    const arrow = el("span", "arrow", "↓");
    arrow.setAttribute("aria-hidden", "true");
    button.replaceChildren(`${newBelow} new message${newBelow === 1 ? "" : "s"}`, arrow);
    if (!button.hidden) return;
    button.hidden = false;
    $("new-below-said").textContent = "New messages below.";
  }

  /** The reader is at the newest message (or left the conversation): no more button. */
  function hideNewBelow() {
    newBelow = 0;
    const button = $("new-below");
    if (button.hidden) return;
    // The focus does not fall back to the top of the page with it.
    if (document.activeElement === button) $("log").focus({ preventScroll: true });
    button.hidden = true;
    $("new-below-said").textContent = "";
  }

  /** "N new messages ↓": down to the newest, read there as when scrolled down. */
  function goToNewest() {
    scrollToBottom();
    markReadSoon();
  }

  const sameDay = (a, b) => a.toDateString() === b.toDateString();
  function formatTime(iso) {
    const at = new Date(iso);
    const time = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (sameDay(at, new Date())) return time;
    return `${formatDate(at)} ${time}`;
  }

  /** A day, "7 Dec": the year only when it is not this one, as chat apps show old dates. */
  function formatDate(at) {
    const year = at.getFullYear() === new Date().getFullYear() ? undefined : "numeric";
    return at.toLocaleDateString([], { day: "numeric", month: "short", year });
  }

  /**
   * The open room's topic under its name, in two lines at most (a long one
   * would push the conversation down: six lines of it at phone width); a
   * click shows it whole, as its title does, and so does "Topic".
   */
  function showTopic(text) {
    const topic = $("room-topic");
    topic.textContent = text;
    topic.title = text;
    topic.classList.remove("whole");
    markTopicToggle();
  }

  /**
   * A topic longer than its two lines is a toggle for the keyboard too, as
   * for the mouse (a click shows it whole): a Tab stop, Enter or Space,
   * `aria-expanded`. One that fits is text, not a Tab stop. Asked again
   * whenever the topic's box changes size (a resized window, the header's
   * buttons) and as it loses the focus.
   *
   * A toggle that stops being one while it has the focus (the window
   * widened, another member set a short topic) keeps the focus: without a
   * tabindex Chromium would move it to the body, and a keyboard user would
   * start again from the top. It stays focusable, out of the Tab order
   * (-1), until the focus leaves it. A topic cleared is not shown at all:
   * the focus goes to "Topic", next to it.
   */
  function markTopicToggle() {
    const topic = $("room-topic");
    const lines = topic.scrollHeight / parseFloat(getComputedStyle(topic).lineHeight);
    const whole = topic.classList.contains("whole");
    if (topic.textContent !== "" && lines > 2.5) {
      topic.tabIndex = 0;
      topic.setAttribute("role", "button");
      topic.setAttribute("aria-expanded", String(whole));
      return;
    }
    topic.removeAttribute("role");
    topic.removeAttribute("aria-expanded");
    if (document.activeElement === topic && topic.textContent !== "") {
      topic.tabIndex = -1;
      return;
    }
    const focused = document.activeElement === topic;
    topic.removeAttribute("tabindex");
    if (focused) (!$("topic-button").hidden ? $("topic-button") : $("log")).focus();
  }

  /**
   * A topic change in the open room leaves a line in its log, as the
   * console client shows it: `* bob set the topic: text`, or `* bob
   * cleared the topic`. It is no message: no id, not counted unread, not
   * kept when the room is opened again. Another member's change is said
   * politely, as their messages are.
   */
  function showTopicChange(change) {
    const view = state.view;
    if (!view || !view.atLatest) return;
    const said = change.topic
      ? `${change.username} set the topic: ${change.topic}`
      : `${change.username} cleared the topic`;
    if (change.topic) logLine(`${change.username} set the topic: `, isolated(change.topic));
    else logLine(said);
    if (keyOf(change.username) !== keyOf(state.me)) say(said);
  }

  /** Puts a message in the open log in id order; an id already there is updated. */
  function addToView(message, live) {
    const view = state.view;
    // Fetched or pushed, it has been seen: a reconnection catches up after it.
    const c = state.convs.get(view.key);
    if (c) c.lastSeenId = Math.max(c.lastSeenId, message.id);
    const existing = view.messages.get(message.id);
    if (existing) {
      updateMessage(existing, message);
      return;
    }
    const stick = live && nearBottom();
    const node = renderMessage(message);
    view.messages.set(message.id, node);
    let index = view.ids.length;
    while (index > 0 && view.ids[index - 1] > message.id) index--;
    const log = $("log");
    if (index === view.ids.length) log.append(node);
    else log.insertBefore(node, view.messages.get(view.ids[index]));
    view.ids.splice(index, 0, message.id);
    view.oldestId = view.ids[0];
    if (view.reachedStart) showStart(view);
    if (stick) scrollToBottom();
  }

  function renderMessage(message) {
    const node = el("article", "msg");
    node.dataset.id = String(message.id);
    // Reached with the arrow keys in the log, not with Tab (see wire()).
    node.tabIndex = -1;
    const own = message.username.toLowerCase() === state.me.toLowerCase();
    if (own) node.classList.add("own");
    const meta = el("div", "meta");
    const sender = senderOf(message, own);
    sender.id = `who-${message.id}`;
    meta.append(sender);
    const time = el("time", "", formatTime(message.sent_at));
    time.id = `when-${message.id}`;
    time.dateTime = message.sent_at;
    time.title = new Date(message.sent_at).toLocaleString();
    meta.append(time);
    if (message.edited_at) meta.append(editedMark(message));
    const text = el("div", "text");
    text.dir = "auto";
    text.id = `text-${message.id}`;
    // What a screen reader says as the arrow keys reach it: who, when, what
    // (an article has no name of its own).
    node.setAttribute("aria-labelledby", `${sender.id} ${time.id} ${text.id}`);
    // Your own messages you may edit and delete; in a room you own, anyone's
    // you may delete.
    const mayDelete = (own || ownsCurrentRoom()) && has("/deleteMessage");
    if ((own && has("/editMessage")) || mayDelete) {
      const actions = el("span", "msg-actions");
      if (own && has("/editMessage")) {
        const edit = el("button", "secondary", "Edit");
        edit.type = "button";
        edit.tabIndex = -1;
        edit.setAttribute("aria-describedby", text.id);
        edit.addEventListener("click", () => startEdit(node, message.id));
        actions.append(edit);
      }
      if (mayDelete) actions.append(deleteButton(node, message.id, text.id));
      meta.append(actions);
    }
    node.append(meta, text);
    showText(node, message);
    return node;
  }

  /**
   * A message's author. In a room, someone else's name opens the direct
   * conversation with them, as a name in "Active now" does; like the
   * message's buttons it is out of the Tab order until the message has
   * the focus (see setCurrentMessage).
   */
  function senderOf(message, own) {
    if (message.guest) {
      // An IRC guest: a nick without an account, which may later be an
      // account's name or another guest's, so it says so and opens nothing.
      const guest = el("span", "sender", message.username);
      guest.append(el("span", "guest-mark", " (guest)"));
      guest.title = "A guest on IRC: a nick, not an account";
      return guest;
    }
    if (own || message.room === null) return el("span", "sender", message.username);
    const button = writeToButton(message.username);
    button.className = "sender";
    // Read as the name in the message; "Write to" is its description.
    button.removeAttribute("aria-label");
    button.title = `Write to ${message.username}`;
    button.tabIndex = -1;
    return button;
  }

  /**
   * What the author does (`waves` of `/me waves`) when a text is an action,
   * as the server reads it (`Message::action`); else null.
   */
  function actionOf(text) {
    if (!text.startsWith("/me ") || text.includes("\n")) return null;
    const action = text.slice("/me ".length);
    // Something besides spaces and tabs, as the server reads it.
    return /[^ \t]/.test(action) ? action : null;
  }

  /** A message's text as shown: an action as `* alice waves`. */
  function shownText(message) {
    const action = actionOf(message.text);
    return action === null ? message.text : `* ${authorOf(message)} ${action}`;
  }

  /** A message's author as named in a line: an IRC guest's nick says so. */
  function authorOf(message) {
    return message.guest ? `${message.username} (guest)` : message.username;
  }

  /**
   * Characters that end a sentence or a quotation rather than a web address
   * when they end one: `https://example.com.` links `https://example.com`.
   */
  const NOT_LAST_IN_ADDRESS = ".,;:!?'\"“”‘’«»‹›";
  /** A closing bracket ends an address unless it closes one opened in it (`…/Foo_(bar)`). */
  const BRACKETS = { ")": "(", "]": "[", "}": "{" };

  /**
   * The http:// and https:// addresses in `text`, as [from, to, href]: only
   * those two schemes, never `javascript:` or `data:` (an address is found
   * only where `http` begins a word), without the punctuation after it.
   */
  function addressesIn(text) {
    const found = [];
    for (const m of text.matchAll(/(?<![\p{L}\p{N}\p{M}])https?:\/\/[^\s<>"]+/giu)) {
      let url = m[0];
      for (;;) {
        const last = url.at(-1);
        const opening = BRACKETS[last];
        const count = (c) => url.split(c).length - 1;
        if (NOT_LAST_IN_ADDRESS.includes(last) || (opening && count(opening) < count(last))) url = url.slice(0, -1);
        else break;
      }
      let parsed = null;
      try {
        parsed = new URL(url);
      } catch {
        // `https://` and nothing after it: text.
      }
      if (parsed && /^https?:$/.test(parsed.protocol) && parsed.hostname) found.push([m.index, m.index + url.length, url]);
    }
    return found;
  }

  /** A link to a web address from a message, opened in a new tab, telling the site nothing of the page. */
  function linkTo(href) {
    const link = el("a");
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
    return link;
  }

  /**
   * A message's `text` (from `start` to `end`) as nodes: its web addresses
   * as links (`addressesIn`), the stretches in `marked` ([from, to], in
   * order: search results' words found) in <mark>. Text nodes and elements
   * made here only: never markup from the text. An address cut by `start`
   * or `end` still links to the whole of it.
   */
  function richText(text, marked = [], start = 0, end = text.length) {
    const links = addressesIn(text);
    const cuts = new Set([start, end]);
    for (const [from, to] of [...links, ...marked]) {
      for (const at of [from, to]) if (at > start && at < end) cuts.add(at);
    }
    const points = [...cuts].sort((a, b) => a - b);
    const out = document.createDocumentFragment();
    let inLink = null;
    let link = null;
    for (let i = 0; i + 1 < points.length; i++) {
      const [from, to] = [points[i], points[i + 1]];
      const within = ([a, b]) => a <= from && to <= b;
      const piece = text.slice(from, to);
      const address = links.find(within) || null;
      if (address !== inLink) {
        inLink = address;
        link = address && linkTo(address[2]);
        if (link) out.append(link);
      }
      (link || out).append(marked.some(within) ? el("mark", "", piece) : piece);
    }
    return out;
  }

  /** Puts a message's text in its node; the text as sent is kept for editing. */
  function showText(node, message) {
    const text = node.querySelector(".text");
    text.replaceChildren(richText(shownText(message)));
    // Reached with Tab once the message has the focus, as its buttons are.
    for (const link of text.querySelectorAll("a")) link.tabIndex = node === currentMessage ? 0 : -1;
    text.classList.toggle("action", actionOf(message.text) !== null);
    node.dataset.text = message.text;
  }

  function deleteButton(node, id, textId) {
    const del = el("button", "secondary", "Delete");
    del.type = "button";
    del.tabIndex = node === currentMessage ? 0 : -1;
    del.setAttribute("aria-describedby", textId);
    del.addEventListener("click", () => confirmDelete(node, id, del));
    return del;
  }

  /** Whether the user owns the open room (its creator). */
  function ownsCurrentRoom() {
    const c = state.current && state.convs.get(state.current);
    return Boolean(c && !c.direct && c.owner && state.me && keyOf(c.owner) === keyOf(state.me));
  }

  /** The room's owner learned after its messages were shown: a Delete on each. */
  function offerOwnerDeletes() {
    if (!state.view || !ownsCurrentRoom() || !has("/deleteMessage")) return;
    for (const [id, node] of state.view.messages) {
      if (node.querySelector(".msg-actions")) continue;
      const actions = el("span", "msg-actions");
      actions.append(deleteButton(node, id, `text-${id}`));
      node.querySelector(".meta").append(actions);
    }
    stayPinned();
  }

  /**
   * Messages above changed height (buttons added, a text edited): the log
   * that showed its newest message still does, and it is marked read.
   */
  function stayPinned() {
    if (!pinned || !state.view) return;
    scrollToBottom();
    markReadSoon();
  }

  function editedMark(message) {
    const mark = el("span", "edited", "(edited)");
    mark.title = `edited ${new Date(message.edited_at).toLocaleString()}`;
    return mark;
  }

  function updateMessage(node, message) {
    showText(node, message);
    const mark = node.querySelector(".edited");
    if (message.edited_at && !mark) node.querySelector("time").after(editedMark(message));
    if (!message.edited_at && mark) mark.remove();
    stayPinned();
  }

  function removeFromView(id) {
    const view = state.view;
    const node = view && view.messages.get(id);
    if (!node) return;
    // The focus was on it (or its buttons): it goes to the message after
    // it, or before it, or the log, not back to the top of the page.
    if (node.contains(document.activeElement)) {
      const next = node.nextElementSibling?.matches(".msg") ? node.nextElementSibling : null;
      const previous = node.previousElementSibling?.matches(".msg") ? node.previousElementSibling : null;
      (next || previous || $("log")).focus();
    }
    if (currentMessage === node) currentMessage = null;
    node.remove();
    view.messages.delete(id);
    view.ids = view.ids.filter((x) => x !== id);
    view.oldestId = view.ids.length ? view.ids[0] : view.oldestId;
  }

  /**
   * The log is one Tab stop, however long: the messages' buttons are out of
   * the Tab order except those of the message that has the focus (reached
   * with the arrow keys), so that Tab goes from the log to the message box.
   */
  let currentMessage = null;
  function setCurrentMessage(node) {
    if (node === currentMessage) return;
    for (const msg of [currentMessage, node]) {
      if (!msg) continue;
      for (const button of msg.querySelectorAll(".msg-actions > button, button.sender, .text a")) button.tabIndex = msg === node ? 0 : -1;
    }
    currentMessage = node;
  }

  /**
   * Up, Down, Home and End in the log: from message to message. From the
   * log itself, Up and Down go to the newest message, or, while some are
   * unread and the newest is out of sight, to the first below "New since
   * you last read", where the log opened.
   */
  function moveInLog(event) {
    const keys = ["ArrowUp", "ArrowDown", "Home", "End"];
    if (!keys.includes(event.key) || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const log = $("log");
    const from = event.target;
    if (from !== log && !(from.matches && from.matches(".msg"))) return;
    const messages = [...log.querySelectorAll(":scope > .msg")];
    if (messages.length === 0) return;
    const at = messages.indexOf(from);
    let to;
    if (event.key === "Home") to = 0;
    else if (event.key === "End") to = messages.length - 1;
    else if (at < 0) to = firstUnreadIndex(messages);
    else to = Math.max(0, Math.min(messages.length - 1, at + (event.key === "ArrowUp" ? -1 : 1)));
    event.preventDefault();
    messages[to].focus();
  }

  /**
   * In the log's `messages`, the first below "New since you last read"
   * while some are unread and the newest is out of sight; else the newest.
   */
  function firstUnreadIndex(messages) {
    const line = $("unread-line");
    const c = state.current && state.convs.get(state.current);
    if (!line || !c || c.unread === 0 || nearBottom()) return messages.length - 1;
    const first = messages.findIndex((m) => line.compareDocumentPosition(m) & Node.DOCUMENT_POSITION_FOLLOWING);
    return first >= 0 ? first : messages.length - 1;
  }

  /**
   * Scrolls the log just enough for a message that grew (its edit form
   * opened, the "Delete this message?" question wrapped under its
   * buttons) to show whole: the newest message's Save and Cancel, or its
   * text pushed down by the question, would be below the log's foot. When
   * the message is taller than the log, `part` (the form's buttons, the
   * question) is what shows.
   */
  function bringIntoView(node, part) {
    node.scrollIntoView({ block: "nearest" });
    part.scrollIntoView({ block: "nearest" });
  }

  /**
   * The edits open in the log, so that reading the conversation again (a
   * reconnection does) does not throw away a correction half typed.
   */
  function openEdits() {
    return [...$("log").querySelectorAll(".msg .edit-form")].map((form) => {
      const area = form.querySelector("textarea");
      return {
        id: Number(form.closest(".msg").dataset.id),
        text: area.value,
        focused: document.activeElement === area,
      };
    });
  }

  /** Opens again the edits `openEdits` kept, on the messages still shown. */
  function reopenEdits(view, edits) {
    for (const edit of edits) {
      const node = view.messages.get(edit.id);
      if (node && node.classList.contains("own")) startEdit(node, edit.id, edit);
    }
  }

  /**
   * Opens the edit form on one's own message; `kept` (from openEdits) has
   * the text typed before and whether it had the focus.
   */
  function startEdit(node, id, kept) {
    if (node.querySelector(".edit-form")) return;
    const text = node.querySelector(".text");
    const form = el("form", "edit-form");
    const label = el("label", "visually-hidden", "Edited text");
    const area = el("textarea");
    area.id = `edit-${id}`;
    area.dir = "auto";
    label.htmlFor = area.id;
    area.value = kept ? kept.text : node.dataset.text;
    area.rows = Math.min(8, area.value.split("\n").length + 1);
    const row = el("div", "row");
    const save = el("button", "", "Save");
    save.type = "submit";
    const cancel = el("button", "secondary", "Cancel");
    cancel.type = "button";
    row.append(save, cancel);
    const error = el("p", "error");
    error.setAttribute("role", "alert");
    error.id = `edit-error-${id}`;
    area.setAttribute("aria-describedby", error.id);
    form.append(label, area, row, error);
    text.hidden = true;
    node.append(form);
    if (!kept || kept.focused) {
      area.focus({ preventScroll: true });
      bringIntoView(node, row);
    }
    // Back to the message's Edit button, where the edit began.
    const done = () => {
      form.remove();
      text.hidden = false;
      const edit = [...node.querySelectorAll(".msg-actions button")].find((b) => b.textContent === "Edit");
      if (edit) edit.focus();
    };
    cancel.addEventListener("click", done);
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        done();
      }
    });
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      // As the message box: no message of blanks.
      if (area.value.trim() === "") {
        showFieldError(error, "A message cannot be empty; Delete removes it.", [area]);
        return;
      }
      try {
        const updated = await connection.ok("/editMessage", String(id), area.value);
        updateMessage(node, updated);
        done();
      } catch (e) {
        // 400 is the text refused (its length, say); not the author, a message
        // gone, offline are not about it.
        const text = reasonOf(e, "Not saved: offline. The edit stays here; save it once the page is reconnected.");
        showFieldError(error, text, e.status === 400 ? [area] : []);
      }
    });
  }

  function confirmDelete(node, id, button) {
    if (node.querySelector(".confirm")) return;
    // A group named by its question, which a screen reader says as the
    // focus comes to "Yes, delete".
    const box = el("span", "confirm row");
    box.setAttribute("role", "group");
    const question = el("span", "", "Delete this message?");
    question.id = `delete-question-${id}`;
    box.setAttribute("aria-labelledby", question.id);
    const yes = el("button", "", "Yes, delete");
    yes.type = "button";
    const no = el("button", "secondary", "Keep");
    no.type = "button";
    box.append(question, yes, no);
    button.after(box);
    yes.focus({ preventScroll: true });
    bringIntoView(node, box);
    const keep = () => {
      box.remove();
      button.focus();
    };
    no.addEventListener("click", keep);
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.stopPropagation();
        keep();
      }
    });
    yes.addEventListener("click", async () => {
      try {
        await connection.ok("/deleteMessage", String(id));
        removeFromView(id);
        // The message and its buttons are gone: on to writing, told what
        // became of it (the focus moving says nothing of that).
        if (!$("composer").hidden) $("message").focus();
        else $("log").focus();
        say("Message deleted.");
      } catch (e) {
        $("room-error").textContent = e.message;
        keep();
      }
    });
  }

  // ---------------------------------------------------------- read marks --

  let markTimer = null;
  /** A reconnection reads the open conversation again: nothing is marked read meanwhile. */
  let rereading = false;
  function markReadSoon() {
    clearTimeout(markTimer);
    markTimer = setTimeout(markRead, 300);
  }

  /**
   * Leaving a conversation: what it showed at its foot was read, even if
   * the reader moved on before `markReadSoon`'s moment came.
   */
  function markReadNow() {
    if (markTimer === null) return;
    clearTimeout(markTimer);
    markTimer = null;
    markRead();
  }

  async function markRead() {
    markTimer = null;
    if (rereading) return;
    const view = state.view;
    if (!view || view.placing || document.visibilityState !== "visible" || !nearBottom()) return;
    const c = state.convs.get(view.key);
    const newest = view.ids[view.ids.length - 1];
    if (!c || !c.member || newest === undefined) return;
    if (c.unread !== 0) {
      c.unread = 0;
      renderSidebar();
    }
    if (!has("/markRead") || newest <= c.lastReadId) return;
    c.lastReadId = newest;
    try {
      await connection.ok("/markRead", c.name, String(newest));
    } catch {
      /* marked again with the next message */
    }
  }

  document.addEventListener("visibilitychange", pageCameBack);
  window.addEventListener("pagehide", keepDraftsForReload);

  // -------------------------------------------------------------- events --

  /**
   * A message for a conversation. Another's message counts as unread
   * unless it is on screen: in the open conversation, scrolled to the
   * bottom, with the tab visible (a hidden tab's messages are read when it
   * is shown again).
   */
  function receive(message, { live }) {
    // Logged out while this was on its way.
    if (!state.me) return;
    const c = conv(convNameOf(message));
    if (c.direct) c.member = true;
    c.lastSeenId = Math.max(c.lastSeenId, message.id);
    const open = state.view && state.view.key === keyOf(c.name);
    const fromOther = message.username.toLowerCase() !== state.me.toLowerCase();
    if (!fromOther) {
      // Sending moves one's read position to one's message: what came
      // before it is read (a reply with /msg from another conversation).
      c.lastReadId = Math.max(c.lastReadId, message.id);
      c.unread = 0;
    }
    if (open && state.view.atLatest) {
      const known = state.view.messages.has(message.id);
      addToView(message, live);
      if (live && fromOther && !known) sayArrived(message);
      markReadSoon();
      const seen = document.visibilityState === "visible" && nearBottom();
      if (fromOther && !known && !seen && message.id > c.lastReadId) c.unread += 1;
      // The newest, and below where the reader is: the button says so.
      const newest = state.view.ids[state.view.ids.length - 1] === message.id;
      if (fromOther && !known && newest && !nearBottom()) showNewBelow();
    } else if (fromOther && message.id > c.lastReadId) {
      c.unread += 1;
      // Only the sidebar's count would show it: a screen reader hears it.
      if (live && c.direct && !open) say(`New direct message from ${authorOf(message)}.`, message.id);
    }
    if (live && c.direct && fromOther) notifyOfDirect(c, message, open);
    renderSidebar();
  }

  // ------------------------------------------------------- notifications --

  /**
   * Browsers show notifications only to pages from a secure origin (HTTPS,
   * or this machine): elsewhere the choice is not offered.
   */
  function notificationsPossible() {
    return "Notification" in window && window.isSecureContext;
  }

  /** Whether the user chose notifications on this device, and the browser lets them be shown. */
  function notifying() {
    return notificationsPossible() && Notification.permission === "granted" && localStorage.getItem(NOTIFY_KEY) === "on";
  }

  /**
   * A direct message from someone else, live: a notification, unless its
   * conversation is open in a tab in view. One per conversation (its tag):
   * the user's other tabs, which hear of the same message, replace it
   * rather than add to it. Clicking it opens the conversation.
   */
  function notifyOfDirect(c, message, open) {
    if (!notifying()) return;
    if (open && document.visibilityState === "visible") return;
    const text = shownText(message);
    const notification = new Notification(message.username, {
      body: text.length > 200 ? `${text.slice(0, 200)}…` : text,
      tag: `pipechat-dm-${keyOf(c.name)}`,
    });
    notification.onclick = () => {
      window.focus();
      notification.close();
      if (state.me) openConversation(c.name);
    };
  }

  /** The "Notify me when someone writes to me directly" box: asking the browser when ticked. */
  function wireNotifications() {
    if (!notificationsPossible()) return;
    const box = $("notify-dm");
    const note = $("notify-note");
    $("notify-box").hidden = false;
    box.checked = notifying();
    box.addEventListener("change", async () => {
      note.textContent = "";
      if (!box.checked) {
        localStorage.setItem(NOTIFY_KEY, "off");
        return;
      }
      const permission = await Notification.requestPermission();
      if (permission === "granted") {
        localStorage.setItem(NOTIFY_KEY, "on");
      } else {
        box.checked = false;
        sayInSidebar(note, "This browser does not let this page notify you; its site settings can change that.");
      }
    });
  }

  function onEvent(value) {
    if (!state.me) return;
    const data = value.data || {};
    if (COUNTED_EVENTS.has(value.event) && data.room && state.current === keyOf(data.room)) refreshAboutSoon();
    switch (value.event) {
      case "message":
        receive(data, { live: true });
        if (data.username && !listedActive(data.username)) refreshActiveSoon();
        break;
      case "edit": {
        const node = state.view && state.view.messages.get(data.id);
        if (!node) break;
        updateMessage(node, data);
        unsay(data.id);
        if (data.username.toLowerCase() !== state.me.toLowerCase()) {
          say(`${data.username} edited a message: ${shownText(data)}`, data.id);
        }
        break;
      }
      case "delete":
        unsay(data.id);
        removeFromView(data.id);
        // It may have been counted unread.
        refreshUnreadSoon();
        break;
      case "join":
      case "exit": {
        const c = conv(data.room);
        const joined = value.event === "join";
        const mine = data.username.toLowerCase() === state.me.toLowerCase();
        // The server ends this user's subscriptions to a room they leave.
        if (mine && !joined) state.subscribed.delete(keyOf(c.name));
        if (mine && c.member !== joined) {
          // Joined or left in another client of yours: shown as if here.
          c.member = joined;
          if (joined) subscribeTo(c);
          else c.unread = 0;
          if (state.current === keyOf(c.name)) openConversation(c.name);
          renderSidebar();
        }
        if (state.current === keyOf(data.room)) {
          refreshMembers();
          // Someone else coming or going leaves a line, as in the console
          // client (`* bob left general`); one's own opens the room again.
          if (!mine && state.view && state.view.atLatest) {
            logLine(`${data.username} ${joined ? "joined" : "left"} `, isolated(c.name));
          }
        }
        refreshActive();
        break;
      }
      case "topic":
        conv(data.room).topic = data.topic || "";
        if (state.current === keyOf(data.room)) {
          showTopic(data.topic || "");
          if (data.username) showTopicChange(data);
        }
        break;
      default:
        break;
    }
  }

  // ------------------------------------------------------------- actions --

  async function send() {
    const box = $("message");
    const text = box.value;
    const c = state.current && state.convs.get(state.current);
    if (!c || text.trim() === "") return;
    const command = composerCommand(text);
    if (command) {
      runCommand(command, c);
      return;
    }
    // `//text` is the message `/text`, as in the console client.
    const body = text.startsWith("//") ? text.slice(1) : text;
    // Characters, as the server counts them (an emoji is two UTF-16 units).
    const length = [...body].length;
    if (length > MAX_MESSAGE_CHARS) {
      $("room-error").textContent =
        `A message has at most ${MAX_MESSAGE_CHARS.toLocaleString("en")} characters; this one has ${length.toLocaleString("en")}.`;
      return;
    }
    $("room-error").textContent = "";
    clearExistsNote();
    box.value = "";
    const key = keyOf(c.name);
    state.drafts.delete(key);
    const slow = setTimeout(() => showSending(+1), SENDING_SHOWN_AFTER_MS);
    let shown = false;
    function showSending(change) {
      shown = change > 0;
      sendingSlowly += change;
      // A status region in place from the start, filled when needed: one
      // that appears already filled is often not read out.
      $("sending").textContent = sendingSlowly === 0 ? "" : "Sending… (the server has not answered yet)";
    }
    try {
      const message = await connection.ok("/sendMessage", c.name, body);
      receive(message, { live: true });
      if (state.current === key) scrollToBottom();
    } catch (error) {
      const offline = error.message === "offline";
      const lost = error.message === "lost";
      // Back in its own conversation's box, also when another is open now,
      // before whatever was typed there since.
      const since = state.current === key ? box.value : state.drafts.get(key) || "";
      const back = since ? `${text}\n${since}` : text;
      if (state.current !== key) {
        state.drafts.set(key, back);
        $("room-error").replaceChildren(
          ...(lost
            ? ["Your message to ", isolated(c.name), " may have been sent: the connection was lost before the server answered. It is back in its box there; look in the conversation before sending it again."]
            : ["Not sent to ", isolated(c.name), `: ${offline ? "offline." : error.message} It is back in its box there.`]),
        );
        return;
      }
      box.value = back;
      $("room-error").textContent = offline
        ? "Not sent: offline. It is still in the box."
        : lost
          ? "It may have been sent: the connection was lost before the server answered. It is back in the box; look in the conversation before sending it again."
          : error.message;
    } finally {
      clearTimeout(slow);
      if (shown) showSending(-1);
    }
  }

  /**
   * A message's box empties on Enter; one the server has not answered
   * after this long is said to be on its way (a slow link), until it is
   * stored or comes back to its box.
   */
  const SENDING_SHOWN_AFTER_MS = 1000;
  /** Messages on their way for longer than that. */
  let sendingSlowly = 0;

  /**
   * A line typed in the message box that is a command, as in the console
   * client: `/msg NAME TEXT`, `/topic [TEXT]`, `/help`, and any other
   * `/word`, which is refused rather than sent: sent, a mistyped or unknown
   * command would be a message to the whole room (a `/msg` meant for one
   * person among them). `/me ACTION` is a message (an action), and so is a
   * line that only starts with a slash (`/usr/bin`, `//text`). Null for a
   * message.
   */
  function composerCommand(text) {
    const match = /^\/([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(text);
    if (!match || match[1].toLowerCase() === "me") return null;
    return { name: match[1].toLowerCase(), rest: (match[2] || "").trim() };
  }

  const COMMANDS_HELP = [
    "/msg NAME TEXT sends TEXT to NAME alone, as a direct message",
    "/topic TEXT sets the chatroom's topic (/topic - clears it; /topic alone opens it)",
    "/me ACTION sends an action: * you ACTION",
    "//TEXT sends a message that begins with a slash: /TEXT",
  ];

  /** Runs a command typed in the message box (`composerCommand`). */
  async function runCommand(command, c) {
    const box = $("message");
    const typed = box.value;
    const error = $("room-error");
    error.textContent = "";
    // The box is emptied as the command goes, as a message's is, so that
    // Enter pressed again does not send it twice; a failure puts it back,
    // before whatever was typed since.
    const going = () => {
      box.value = "";
    };
    const failed = (e) => {
      box.value = box.value ? `${typed}\n${box.value}` : typed;
      error.textContent = reasonOf(e, "Not done: offline. The command is still in the box.");
    };
    if (command.name === "help") {
      going();
      for (const line of COMMANDS_HELP) logLine(line);
      return;
    }
    if (command.name === "msg") {
      const to = /^@?(\S+)\s+([\s\S]+)$/.exec(command.rest);
      if (!to) {
        error.textContent = "Write /msg NAME TEXT: the name, a space, then the message.";
        return;
      }
      going();
      try {
        const message = await connection.ok("/sendMessage", `@${to[1]}`, to[2]);
        receive(message, { live: true });
        logLine(`to ${convNameOf(message)}: `, isolated(shownText(message)));
      } catch (e) {
        failed(e);
      }
      return;
    }
    if (command.name === "topic") {
      if (c.direct) {
        error.textContent = "A direct conversation has no topic.";
        return;
      }
      going();
      if (!command.rest) {
        toggleTopic(true);
        return;
      }
      try {
        const info = await connection.ok("/setTopic", c.name, command.rest === "-" ? "" : command.rest);
        c.topic = info.topic || "";
        if (state.current === keyOf(c.name)) showTopic(c.topic);
      } catch (e) {
        failed(e);
      }
      return;
    }
    error.textContent =
      `/${command.name} is not a command here (/help lists them). ` +
      "To send a message that begins with a slash, begin it with two: //";
  }

  /**
   * A line of the page's own in the open log (`* ...`), as the console
   * client prints its notes: no message, not kept when the conversation
   * is opened again. `parts`: strings, and names or texts `isolated`.
   */
  function logLine(...parts) {
    const stick = nearBottom();
    const line = el("p", "log-event");
    line.append("* ", ...parts);
    line.dir = "auto";
    $("log").append(line);
    if (stick) scrollToBottom();
  }

  /**
   * Subscribes this connection to a room just joined, and keeps note of it
   * (`state.subscribed`). With `fail`, a refusal throws (`connection.ok`);
   * else it is left to the next refresh of the list.
   */
  async function subscribeTo(c, { fail = false } = {}) {
    const subscribed = state.subscribed;
    if (fail) {
      await connection.ok("/subscribe", c.name);
    } else {
      const reply = await connection.request("/subscribe", c.name).catch(() => null);
      if (!reply || reply.status !== 200) return;
    }
    if (c.member) subscribed.add(keyOf(c.name));
  }

  async function join() {
    const c = state.current && state.convs.get(state.current);
    if (!c) return;
    try {
      await connection.ok("/joinChatroom", c.name);
      c.member = true;
      tellOtherTabs(ROOMS_KEY, state.me);
      await subscribeTo(c, { fail: true });
      await openConversation(c.name);
      $("message").focus();
    } catch (error) {
      $("room-error").textContent = error.message;
    }
  }

  async function leave() {
    const c = state.current && state.convs.get(state.current);
    if (!c) return;
    try {
      await connection.ok("/exitChatroom", c.name);
      state.subscribed.delete(keyOf(c.name));
      c.member = false;
      c.unread = 0;
      await openConversation(c.name);
      $("join-button").focus();
    } catch (error) {
      $("room-error").textContent = error.message;
    }
  }

  async function createRoom() {
    // Spaces around a name are a slip of the keyboard, not part of it.
    const name = $("new-room-name").value.trim();
    const error = $("new-room-error");
    error.textContent = "";
    try {
      const created = await connection.ok("/createChatroom", name);
      await connection.ok("/joinChatroom", created.name);
      const c = conv(created.name);
      c.member = true;
      tellOtherTabs(ROOMS_KEY, state.me);
      await subscribeTo(c, { fail: true });
      $("new-room-name").value = "";
      toggleNewRoom(false);
      closeSidebar();
      await openConversation(created.name);
      $("message").focus();
    } catch (e) {
      if (e.status === 409 && (await openExistingRoom(name))) return;
      // A name refused (400) or taken (409); not a failure to join after.
      sayInSidebar(error, e.message, e.status === 400 || e.status === 409 ? [$("new-room-name")] : []);
    }
  }

  /** Whether the room's note begins "… exists already." (openExistingRoom). */
  let existsNoteShown = false;

  /**
   * The note that the chatroom asked for existed already goes once the user
   * does something else (sends, joins, asks for a room again): it was about
   * that one request. The room's own note (not a member) stays.
   */
  function clearExistsNote() {
    if (!existsNoteShown) return;
    existsNoteShown = false;
    const c = state.current && state.convs.get(state.current);
    if (c) renderMembership(c);
  }

  /**
   * A chatroom asked for that exists already (`General` for `general`):
   * it is opened, with a note, to read or join, as a user asking for it
   * means. False when it is not found (gone again meanwhile).
   */
  async function openExistingRoom(typed) {
    await loadRooms().catch(() => {});
    // The server says which room it found, by its rule for names (`STRASSE`
    // is `Straße`), which lower case here does not follow in full.
    const found = has("/getRoomInfo") ? await connection.ok("/getRoomInfo", typed).catch(() => null) : null;
    const c = state.convs.get(keyOf(found ? found.name : typed));
    if (!c || c.direct) return false;
    $("new-room-name").value = "";
    toggleNewRoom(false);
    closeSidebar();
    await openConversation(c.name);
    const note = $("room-note");
    const before = [...note.childNodes];
    note.replaceChildren(isolated(c.name), before.length > 0 ? " exists already. " : " exists already.", ...before);
    existsNoteShown = true;
    say(`${c.name} exists already.`);
    (c.member ? $("message") : $("join-button")).focus();
    return true;
  }

  /** The topic form under the room's header, filled with the topic as it is. */
  function toggleTopic(open) {
    const c = state.current && state.convs.get(state.current);
    const show = open && Boolean(c);
    $("topic-form").hidden = !show;
    $("topic-button").setAttribute("aria-expanded", String(show));
    $("topic-error").textContent = "";
    if (!show) return;
    $("topic-label").replaceChildren("Topic of ", isolated(c.name));
    $("topic-input").value = c.topic || "";
    $("topic-input").focus();
  }

  /** Sets the open room's topic (`/setTopic`); an empty one clears it. */
  async function saveTopic() {
    const c = state.current && state.convs.get(state.current);
    if (!c || c.direct) return;
    const text = $("topic-input").value.trim();
    $("topic-error").textContent = "";
    try {
      const info = await connection.ok("/setTopic", c.name, text);
      c.topic = info.topic || "";
      if (state.current !== keyOf(c.name)) return;
      showTopic(c.topic);
      toggleTopic(false);
      $("topic-button").focus();
    } catch (error) {
      // 400 is the topic refused (its length, say); the rest (not a member,
      // offline) is not about what was typed.
      showFieldError($("topic-error"), reasonOf(error, "Not saved: offline."), error.status === 400 ? [$("topic-input")] : []);
    }
  }

  // ----------------------------------------------------------- room info --

  /** The open room's information as last read (`/getRoomInfo`), or null. */
  let roomInfo = null;

  /** "1 day", "30 days". */
  const daysText = (days) => `${days.toLocaleString("en")} ${days === 1 ? "day" : "days"}`;
  const retentionText = (days) => (days === 0 ? "forever" : daysText(days));

  /**
   * Opens or closes the About panel. Opening asks the server again: a
   * change of retention comes with no event.
   */
  function toggleAbout(open) {
    const c = state.current && state.convs.get(state.current);
    const show = open && Boolean(c) && !c.direct;
    $("about").hidden = !show;
    $("about-button").setAttribute("aria-expanded", String(show));
    closeRetentionQuestion();
    for (const id of ["about-error", "retention-error", "retention-saved"]) $(id).textContent = "";
    if (show) refreshAbout(c, true);
  }

  /** Reads the room's information and shows it, if that room is still open. */
  async function refreshAbout(c, fillForm) {
    let info;
    try {
      info = await connection.ok("/getRoomInfo", c.name);
    } catch (error) {
      if (state.current === keyOf(c.name)) {
        $("about-error").textContent = reasonOf(error, "Not known while offline.");
      }
      return;
    }
    if (state.current !== keyOf(c.name)) return;
    $("about-error").textContent = "";
    c.owner = info.owner;
    renderAbout(info, fillForm);
    renderMembersActive();
  }

  /** Messages, joins and exits change the counts in About. */
  const COUNTED_EVENTS = new Set(["message", "delete", "join", "exit"]);
  let aboutTimer = null;
  /** Reads the open About panel's counts again soon, once for a burst of events. */
  function refreshAboutSoon() {
    if ($("about").hidden) return;
    clearTimeout(aboutTimer);
    aboutTimer = setTimeout(() => {
      const c = state.current && state.convs.get(state.current);
      if (!$("about").hidden && c && connection.isOpen) refreshAbout(c, false);
    }, 200);
  }

  /**
   * Shows the room's facts; its owner gets the retention form, filled with
   * the value as it is when `fillForm` (not while they may be typing).
   */
  function renderAbout(info, fillForm) {
    roomInfo = info;
    $("about-owner").textContent = info.owner;
    const created = $("about-created");
    created.dateTime = info.created_at;
    created.textContent = formatDate(new Date(info.created_at));
    created.title = new Date(info.created_at).toLocaleString();
    $("about-members").textContent = info.members.toLocaleString("en");
    $("about-messages").textContent = info.messages.toLocaleString("en");
    $("about-retention").textContent = retentionText(info.retention_days);
    const owns = ownsCurrentRoom() && has("/setRetention");
    $("retention-form").hidden = !owns;
    $("retention-owner-only").hidden = owns;
    $("retention-owner-only").textContent = `Only ${info.owner}, its owner, can change how long messages are kept.`;
    if (owns && fillForm) $("retention-input").value = String(info.retention_days);
  }

  /** Whether keeping `next` days instead of `now` deletes messages (0 is forever). */
  function shortens(now, next) {
    return next > 0 && next <= MAX_RETENTION_DAYS && (now === 0 || next < now);
  }

  /**
   * The owner's Save: a shorter retention deletes history for good, so it
   * is asked first; anything else (longer, forever, a value the server
   * will refuse with its reason) goes straight to the server.
   */
  function submitRetention() {
    const c = state.current && state.convs.get(state.current);
    if (!c || c.direct || !roomInfo) return;
    const typed = $("retention-input").value.trim();
    if (!/^\d+$/.test(typed)) {
      $("retention-saved").textContent = "";
      showFieldError($("retention-error"), "Enter a whole number of days: 0 keeps messages forever.", [$("retention-input")]);
      return;
    }
    const days = Number(typed);
    if (shortens(roomInfo.retention_days, days)) askShorten(c, days);
    else setRetention(c, typed);
  }

  /** The days the owner is asked to confirm, while the question shows. */
  let shortenTo = null;

  function askShorten(c, days) {
    shortenTo = days;
    $("retention-error").textContent = "";
    $("retention-saved").textContent = "";
    $("retention-question").replaceChildren(
      `Keep only the last ${daysText(days)} of `,
      isolated(c.name),
      `? Messages older than ${daysText(days)} are deleted within the hour and cannot be recovered.`,
    );
    $("retention-confirm").hidden = false;
    $("retention-yes").focus();
  }

  function closeRetentionQuestion() {
    shortenTo = null;
    $("retention-confirm").hidden = true;
  }

  /** Sets the open room's retention (`/setRetention`); the reply is the room's information. */
  async function setRetention(c, days) {
    $("retention-error").textContent = "";
    $("retention-saved").textContent = "";
    try {
      const info = await connection.ok("/setRetention", c.name, days);
      if (state.current !== keyOf(c.name)) return;
      renderAbout(info, true);
      $("retention-saved").textContent =
        info.retention_days === 0
          ? "Saved: messages are kept forever."
          : `Saved: messages older than ${daysText(info.retention_days)} are deleted within the hour.`;
    } catch (error) {
      if (state.current !== keyOf(c.name)) return;
      // 400 is the number refused (too large, say); not the owner, offline are
      // not about it.
      const text = reasonOf(error, "Not saved: offline.");
      showFieldError($("retention-error"), text, error.status === 400 ? [$("retention-input")] : []);
    }
  }

  /** Wires the About button, its panel and the owner's retention form. */
  function wireAbout() {
    const closeAbout = () => {
      toggleAbout(false);
      $("about-button").focus();
    };
    $("about-button").addEventListener("click", () => toggleAbout($("about").hidden));
    $("retention-form").addEventListener("submit", (event) => {
      event.preventDefault();
      submitRetention();
    });
    $("retention-yes").addEventListener("click", () => {
      const c = state.current && state.convs.get(state.current);
      const days = shortenTo;
      closeRetentionQuestion();
      // The question's buttons are gone: back to the value it asked about.
      $("retention-input").focus();
      if (c && days !== null) setRetention(c, String(days));
    });
    $("retention-no").addEventListener("click", () => {
      closeRetentionQuestion();
      $("retention-input").focus();
    });
    // Escape answers "Keep as is" to the question, else closes the panel.
    for (const node of [$("about"), $("about-button")]) {
      node.addEventListener("keydown", (event) => {
        if (event.key !== "Escape" || $("about").hidden) return;
        event.stopPropagation();
        if (!$("retention-confirm").hidden) {
          closeRetentionQuestion();
          $("retention-input").focus();
        } else {
          closeAbout();
        }
      });
    }
  }

  /**
   * Opens or closes "New chatroom"; either way its error goes (it was about
   * the last try), and so does the note of a room that existed already.
   */
  function toggleNewRoom(open) {
    $("new-room-form").hidden = !open;
    $("new-room-button").setAttribute("aria-expanded", String(open));
    $("new-room-error").textContent = "";
    clearExistsNote();
    if (open) $("new-room-name").focus();
  }

  /**
   * Counts what makes the "Write to" error stale (the name edited, another
   * place opened): an answer to an earlier try then says nothing.
   */
  let directTries = 0;

  /** Empties the error under "Write to": it was about what was typed, and where the user was. */
  function clearDirectError() {
    directTries += 1;
    $("dm-error").textContent = "";
  }

  /**
   * Opens the direct conversation with a user named in "Write to", or (with
   * `listed`) in a list of people: checked first, as a guest listed a moment
   * ago may be gone.
   */
  async function openDirect(typed = $("dm-name").value, { listed = false } = {}) {
    const name = typed.trim().replace(/^@/, "");
    const error = $("dm-error");
    clearDirectError();
    const attempt = directTries;
    if (!name) return;
    try {
      let registered = name;
      if (has("/markRead")) {
        // Marking nothing read (id 0: a position only moves forward) checks
        // that the user exists (404) and answers the name as registered.
        const position = await connection.ok("/markRead", `@${name}`, "0");
        registered = position.room.replace(/^@/, "");
      } else {
        const [first] = await connection.ok("/fetchMessages", `@${name}`, "0", "1");
        const mine = first && first.username.toLowerCase() === state.me.toLowerCase();
        if (first) registered = mine ? first.to : first.username;
      }
      // The name was edited, or another place opened, meanwhile: this
      // answer is about what the user has moved on from.
      if (attempt !== directTries) return;
      if (!listed) $("dm-name").value = "";
      await openDirectWith(registered);
    } catch (e) {
      // No such user (404) or no possible name (400) is about the name
      // typed, when it was typed rather than picked from a list.
      const typedName = !listed && (e.status === 400 || e.status === 404);
      if (attempt === directTries) sayInSidebar(error, e.message, typedName ? [$("dm-name")] : []);
    }
  }

  /** Opens the direct conversation with `username`, as registered, to write in. */
  async function openDirectWith(username) {
    const c = conv(`@${username}`);
    c.name = `@${username}`;
    c.member = true;
    closeSidebar();
    await openConversation(c.name);
    $("message").focus();
  }

  /** A word as search compares it: lower case, without accents. */
  const fold = (word) => word.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();

  /**
   * The words of a query as the server reads them (runs of letters and
   * digits; `deplo*` a prefix; a phrase's words each), folded.
   */
  function queryWords(query) {
    return [...query.matchAll(/[\p{L}\p{N}]+(\*?)/gu)].map((m) => ({
      word: fold(m[0].replace(/\*$/, "")),
      prefix: m[1] === "*",
    }));
  }

  /** The longest stretch of a result shown, in characters. */
  const SNIPPET = 300;

  /**
   * A result's text with the words of the query in <mark> and its web
   * addresses as links (richText); a long one is cut to the stretch around
   * the first word found.
   */
  function highlighted(text, words) {
    const flat = text.replace(/\s+/g, " ");
    const found = [];
    for (const m of flat.matchAll(/[\p{L}\p{N}\p{M}]+/gu)) {
      const folded = fold(m[0]);
      if (words.some((w) => (w.prefix ? folded.startsWith(w.word) : folded === w.word))) {
        found.push([m.index, m.index + m[0].length]);
      }
    }
    let start = 0;
    let end = flat.length;
    if (flat.length > SNIPPET) {
      start = found.length ? Math.max(0, found[0][0] - SNIPPET / 3) : 0;
      end = Math.min(flat.length, start + SNIPPET);
      start = Math.max(0, end - SNIPPET);
      // Not between the two halves of a surrogate pair.
      if (/[\udc00-\udfff]/.test(flat[start] || "")) start += 1;
      if (/[\ud800-\udbff]/.test(flat[end - 1] || "")) end -= 1;
    }
    const out = document.createDocumentFragment();
    if (start > 0) out.append("…");
    out.append(richText(flat, found, start, end));
    if (end < flat.length) out.append("…");
    return out;
  }

  /**
   * Says `text` in `node`, an error or a note of a form in the sidebar, and
   * scrolls it into view: the sidebar scrolls, and a sentence under the
   * form's buttons (a wrong current password) would otherwise appear out of
   * sight, as if nothing happened. Its role (alert, status) has it read out.
   * An error marks the `fields` it is about (showFieldError).
   */
  function sayInSidebar(node, text, fields = []) {
    showFieldError(node, text, fields);
    if (text) node.scrollIntoView({ block: "nearest" });
  }

  /** The "Change password" form; closed, it keeps no password. */
  function togglePassword(open) {
    $("password-form").hidden = !open;
    $("password-button").setAttribute("aria-expanded", String(open));
    $("password-error").textContent = "";
    if (!open) {
      for (const id of ["old-password", "new-password", "new-password-again"]) $(id).value = "";
      return;
    }
    $("password-note").textContent = "";
    $("old-password").focus({ preventScroll: true });
    // The whole form in sight, down to its button, where the sidebar scrolls.
    $("password-form").scrollIntoView({ block: "nearest" });
  }

  /** Whether a `/changePassword` is waiting for its answer. */
  let passwordChangeOut = false;

  /**
   * `/changePassword`: the server revokes every earlier token and logs out
   * the user's other sessions; this one goes on with the new token, saved
   * where the old one was.
   */
  async function changePassword() {
    const old = $("old-password").value;
    const fresh = $("new-password").value;
    const error = $("password-error");
    error.textContent = "";
    if (!old || !fresh) {
      const empty = [!old && $("old-password"), !fresh && $("new-password")].filter(Boolean);
      sayInSidebar(error, "Enter your current password and a new one.", empty);
      return;
    }
    const newOnes = [$("new-password"), $("new-password-again")];
    if (fresh !== $("new-password-again").value) {
      $("new-password-again").focus();
      sayInSidebar(error, "The two new passwords differ.", newOnes);
      return;
    }
    // The session is back only once resumed: sent before, in the moment a
    // reconnection shows "Connected" and has not resumed yet, the server
    // would answer "not logged in", which says nothing of the password.
    if (!state.sessionReady) {
      const why = connection.isOpen ? "your session is not back yet. Try again in a moment." : "offline.";
      sayInSidebar(error, `Not changed: ${why}`);
      return;
    }
    // A second submit while the first is out (a double click, Enter twice)
    // would reach the server after the first had changed the password, and
    // be refused as a wrong current password: it is dropped.
    if (passwordChangeOut) return;
    // A 401 is news of the session it was sent in, and the form's only
    // until a logout empties it.
    const session = connection.session;
    const logouts = state.logouts;
    const moved = () => connection.session !== session || state.logouts !== logouts;
    passwordChangeOut = true;
    try {
      const data = await connection.ok("/changePassword", old, fresh);
      if (state.logouts !== logouts) return;
      state.token = data.token;
      for (const store of [sessionStorage, localStorage]) {
        const login = parseLogin(store.getItem(TOKEN_KEY));
        if (login && login.username && keyOf(login.username) === keyOf(state.me)) {
          store.setItem(TOKEN_KEY, JSON.stringify({ token: data.token, username: login.username }));
        }
      }
      togglePassword(false);
      $("password-button").focus();
      sayInSidebar($("password-note"), "Password changed. Your other sessions are logged out.");
    } catch (e) {
      if (state.logouts !== logouts) return;
      // A 401 is a wrong current password, or this session ended elsewhere
      // (the server's "not logged in"): the page says the latter as it says
      // any session ended, and marks no field. Another session begun
      // meanwhile (a newer login taken up), before the question or during
      // it, answers nothing about this one: no field either.
      if (e.status === 401 && (moved() || !(await stillLoggedIn()) || moved())) return;
      // The current password wrong (401), the new one outside the rules
      // (400); too many tries or offline is neither.
      const refused = e.status === 401 ? [$("old-password")] : e.status === 400 ? newOnes : [];
      sayInSidebar(error, reasonOf(e, "Not changed: offline."), refused);
    } finally {
      passwordChangeOut = false;
    }
  }

  /**
   * After a 401 to a request whose 401 may also be a wrong password
   * (`/changePassword`): asks the server something that needs a login. Its
   * 401 means the session is gone, and goes where any such 401 goes
   * (connection.onLoggedOut: the login form, saying why, or the newer
   * login of another tab); then false. True when the session answered, or
   * nothing is known (offline): the 401 was the password's.
   */
  async function stillLoggedIn() {
    try {
      await connection.ok("/getActiveUsers");
      return true;
    } catch (e) {
      return e.status !== 401;
    }
  }

  /**
   * Says how a search went, politely: the heading over the results is not
   * a live region, and when nothing is found the focus stays in the search
   * box, so that a screen reader would say nothing. A new node each time,
   * so that the same search again is said again.
   */
  function sayOfSearch(text) {
    $("search-said").replaceChildren(text ? el("span", "", text) : "");
  }

  /** Counts searches begun: an answer to one overtaken by another is dropped. */
  let searches = 0;

  /** Results asked for at first, and at most (the protocol's limits). */
  const SEARCH_FIRST = 50;
  const SEARCH_MOST = 1000;

  /**
   * Searches every conversation of the user; `limit` results at most, the
   * newest first. When there may be more, the title says these are the
   * newest, and "Show more" asks again for more (up to the protocol's
   * 1,000), keeping the place in the list.
   */
  async function search(limit = SEARCH_FIRST, asked = $("search").value) {
    const query = asked.trim();
    if (!query) return;
    const attempt = ++searches;
    clearDirectError();
    const panel = $("search-results");
    const list = $("search-list");
    const shownBefore = limit > SEARCH_FIRST ? list.querySelectorAll(".hit").length : 0;
    if (limit === SEARCH_FIRST) list.replaceChildren();
    sayOfSearch("");
    panel.hidden = false;
    if (!has("/search")) {
      $("search-results-title").textContent = "Search is not available on this server";
      sayOfSearch("Search is not available on this server.");
      return;
    }
    if (limit === SEARCH_FIRST) $("search-results-title").replaceChildren("Results for “", isolated(query), "”");
    try {
      const hits = await connection.ok("/search", query, "", String(limit));
      // Another search began meanwhile: its results are the ones to show.
      if (attempt !== searches) return;
      list.replaceChildren();
      const more = hits.length === limit && limit < SEARCH_MOST;
      const counting = more
        ? `The ${hits.length.toLocaleString("en")} newest results for “`
        : hits.length === 0
          ? "No results for “"
          : `${hits.length.toLocaleString("en")} result${hits.length === 1 ? "" : "s"} for “`;
      $("search-results-title").replaceChildren(counting, isolated(query), "”");
      sayOfSearch(`${counting}${query}”.`);
      const words = queryWords(query);
      for (const hit of hits) {
        const name = convNameOf(hit);
        const button = el("button");
        button.type = "button";
        const where = el("span", "where");
        where.append(isolated(name), ` · ${authorOf(hit)} · ${formatTime(hit.sent_at)}`);
        where.id = `hit-where-${hit.id}`;
        // Its direction its own (dir="auto"), as a message's in the
        // conversation: the text straight in it, since dir="auto" looks
        // past what is in a <bdi>, and its isolates balanced.
        const text = el("span", "text");
        text.append(highlighted(shownText(hit), words));
        balanceIsolates(text);
        text.id = `hit-text-${hit.id}`;
        text.classList.toggle("action", actionOf(hit.text) !== null);
        text.dir = "auto";
        // The text is beside the button, not in it, for its links (no link
        // works inside a button); the button is named by both, and takes
        // a click anywhere on the result but a link (style.css).
        button.append(where);
        button.setAttribute("aria-labelledby", `${where.id} ${text.id}`);
        // As in the conversation, and as the console shows results; the
        // page's own word, isolated from the text before it.
        if (hit.edited_at) text.append(" ", isolated(editedMark(hit)));
        button.addEventListener("click", () => {
          panel.hidden = true;
          openConversation(name, hit.id);
        });
        const item = el("li", "hit");
        item.append(button, text);
        list.append(item);
      }
      if (more) {
        const button = el("button", "secondary", "Show more");
        button.type = "button";
        // The same query, whatever the search box holds by then.
        button.addEventListener("click", () => search(Math.min(limit * 4, SEARCH_MOST), query));
        const item = el("li", "more");
        item.append(button);
        list.append(item);
      }
      // After "Show more", the first result that was not shown before.
      const hitButtons = list.querySelectorAll(".hit button");
      const first = hitButtons[shownBefore] || hitButtons[0];
      if (first) first.focus();
    } catch (error) {
      if (attempt !== searches) return;
      $("search-results-title").textContent = error.message;
      sayOfSearch(error.message);
    }
  }

  /**
   * Ends this tab's session: the page emptied, the saved logins of the user
   * forgotten, the tokens revoked (`/logout`; when the server cannot be
   * reached, as soon as it can: they wait in localStorage). `note` says why
   * on the login form; with `tellOthers` the user's other tabs log out too;
   * `revoke: false` when the server ended the session itself.
   */
  async function logOut({ note = "", calm = false, tellOthers = true, revoke = true } = {}) {
    const me = state.me;
    if (!me) return;
    const token = state.token;
    // The user's other saved login (kept on the device while this tab had
    // its own) goes too: logging out means not staying logged in here.
    const saved = [sessionStorage, localStorage]
      .map((store) => parseLogin(store.getItem(TOKEN_KEY)))
      .filter((login) => login && login.username && keyOf(login.username) === keyOf(me) && login.token !== token)
      .map((login) => login.token);
    // Ended by the server (a password change): only this session's login
    // goes; one saved since (the new password's, by another tab) stays.
    forgetLogins(token, revoke ? me : null);
    sessionStorage.removeItem(ROOM_KEY);
    state.me = null;
    state.token = null;
    state.kept = false;
    state.wasLoggedIn = false;
    state.autoResume = false;
    state.logouts += 1;
    resetState();
    showLogin(note, { calm });
    if (tellOthers) {
      tellOtherTabs(LOGOUT_KEY, me);
    }
    if (!revoke) return;
    const unrevoked = [...saved];
    let revoked = false;
    if (token && connection.isOpen) {
      try {
        // 401: this connection was logged out already, its token revoked
        // (by another tab's logout, a password change).
        const status = (await connection.request("/logout")).status;
        revoked = status === 200 || status === 401;
      } catch {
        /* offline: below */
      }
    }
    if (token && !revoked) unrevoked.push(token);
    if (unrevoked.length === 0) return;
    setPendingRevocations([...pendingRevocations(), ...unrevoked]);
    try {
      if (connection.isOpen) await revokePending();
    } catch {
      /* the next connection does it */
    }
    if (pendingRevocations().includes(token) && !state.me) {
      state.awaitingRevocation = token;
      // The plain "You are logged out." is said by the sentence itself.
      const said = note && !calm ? `${note} ` : "";
      showLogin(
        `${said}You are logged out on this page. The server cannot be reached now: your session will be revoked when the server is reachable again.`,
      );
    }
  }

  // -------------------------------------------------------------- wiring --

  /**
   * A form that opens under its button (`NAME-button`, `NAME-form`,
   * `NAME-cancel`): the button opens and closes it, Cancel and Escape close
   * it and give the focus back to the button, submitting runs `save`.
   */
  function wireFormUnderButton(name, toggle, save) {
    const button = $(`${name}-button`);
    const form = $(`${name}-form`);
    const close = () => {
      toggle(false);
      button.focus();
    };
    button.addEventListener("click", () => toggle(form.hidden));
    $(`${name}-cancel`).addEventListener("click", close);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      save();
    });
    form.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.stopPropagation();
      close();
    });
  }

  function wire() {
    wireNotifications();
    $("unread-hint").addEventListener("click", showUnreadOutOfSight);
    $("rooms").addEventListener("scroll", renderUnreadHint, { passive: true });
    window.addEventListener("resize", renderUnreadHint);
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      logIn(false);
    });
    $("register-button")?.addEventListener("click", () => logIn(true));
    $("logout-button").addEventListener("click", () => logOut({ note: "You are logged out.", calm: true }));
    for (const id of ["username", "password"]) {
      $(id).addEventListener("input", () => {
        if ($("login-error").classList.contains("calm")) clearLoginNote();
      });
    }
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      send();
    });
    $("message").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send();
      }
    });
    $("join-button").addEventListener("click", join);
    $("leave-button").addEventListener("click", leave);
    const toggleMembers = (open) => {
      $("members").hidden = !open;
      $("members-button").setAttribute("aria-expanded", String(open));
    };
    $("members-button").addEventListener("click", () => toggleMembers($("members").hidden));
    // Escape closes the member list, as it does the other panels, and the
    // focus goes back to its button.
    for (const node of [$("members"), $("members-button")]) {
      node.addEventListener("keydown", (event) => {
        if (event.key !== "Escape" || $("members").hidden) return;
        event.stopPropagation();
        toggleMembers(false);
        $("members-button").focus();
      });
    }
    wireFormUnderButton("topic", toggleTopic, saveTopic);
    const toggleTopicWhole = () => {
      $("room-topic").classList.toggle("whole");
      markTopicToggle();
    };
    $("room-topic").addEventListener("click", toggleTopicWhole);
    $("room-topic").addEventListener("keydown", (event) => {
      if ($("room-topic").tabIndex !== 0 || (event.key !== "Enter" && event.key !== " ")) return;
      // Ctrl+Enter and the like are the browser's or another handler's.
      if (event.ctrlKey || event.altKey || event.metaKey) return;
      event.preventDefault();
      toggleTopicWhole();
    });
    new ResizeObserver(markTopicToggle).observe($("room-topic"));
    // A toggle no longer (see markTopicToggle) leaves the Tab order once left.
    $("room-topic").addEventListener("blur", markTopicToggle);
    wireAbout();
    wireFormUnderButton("password", togglePassword, changePassword);
    $("new-room-button").addEventListener("click", () => toggleNewRoom($("new-room-form").hidden));
    $("new-room-cancel").addEventListener("click", () => toggleNewRoom(false));
    $("new-room-form").addEventListener("submit", (event) => {
      event.preventDefault();
      createRoom();
    });
    $("dm-form").addEventListener("submit", (event) => {
      event.preventDefault();
      openDirect();
    });
    $("dm-name").addEventListener("input", clearDirectError);
    $("search-form").addEventListener("submit", (event) => {
      event.preventDefault();
      search();
    });
    $("search-close").addEventListener("click", () => {
      $("search-results").hidden = true;
      $("search").focus();
    });
    // Past the header and the sidebar (a long list of rooms) in one key.
    $("skip-to-message").addEventListener("click", (event) => {
      event.preventDefault();
      const box = $("message");
      if (box.offsetParent) box.focus();
      // No conversation open: the list to open one from (behind its
      // button on a phone).
      else if (narrow.matches) $("rooms-toggle").click();
      else $("sidebar").querySelector("button")?.focus();
    });
    $("direct-waiting").addEventListener("click", openDirectWaiting);
    $("rooms-toggle").addEventListener("click", () => {
      const open = !$("sidebar").classList.contains("open");
      $("sidebar").classList.toggle("open", open);
      $("rooms-toggle").setAttribute("aria-expanded", String(open));
      if (open) {
        // The rooms' area was not on screen: what it hides is known now.
        renderUnreadHint();
        const first = $("sidebar").querySelector("button");
        if (first) first.focus();
      }
    });
    // Tabbing out of the open menu closes it: the control the focus went to
    // is under it, the focus ring out of sight. Only Tab: a tap or a click
    // beside the menu is the click handler's below, which must still find
    // the menu open (on a touch screen the focus moves before the click).
    let tabbing = false;
    $("sidebar").addEventListener("keydown", (event) => {
      tabbing = event.key === "Tab";
    });
    $("sidebar").addEventListener("focusout", (event) => {
      const tabbed = tabbing;
      tabbing = false;
      if (!tabbed || !narrow.matches || !$("sidebar").classList.contains("open")) return;
      const to = event.relatedTarget;
      if (!to || $("sidebar").contains(to) || $("rooms-toggle").contains(to)) return;
      closeSidebar();
    });
    // At phone width a tap beside the open menu closes it, and only that:
    // the room under it does not take the tap.
    document.addEventListener(
      "click",
      (event) => {
        if (!narrow.matches || !$("sidebar").classList.contains("open")) return;
        if ($("sidebar").contains(event.target) || $("rooms-toggle").contains(event.target)) return;
        event.preventDefault();
        event.stopPropagation();
        closeSidebar();
      },
      true,
    );
    $("new-room-form").addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.stopPropagation();
      toggleNewRoom(false);
      $("new-room-button").focus();
    });
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      if (!$("search-results").hidden) {
        $("search-results").hidden = true;
        $("search").focus();
      }
      if ($("sidebar").classList.contains("open")) {
        closeSidebar();
        $("rooms-toggle").focus();
      }
    });
    $("room-filter").addEventListener("input", renderSidebar);
    $("room-filter").addEventListener("keydown", filterKeys);
    $("log").addEventListener("keydown", moveInLog);
    $("new-below").addEventListener("click", goToNewest);
    $("log").addEventListener("focusin", (event) => {
      setCurrentMessage(event.target.closest(".msg"));
    });
    $("log").addEventListener("focusout", (event) => {
      if (!$("log").contains(event.relatedTarget)) setCurrentMessage(null);
    });
    // The log's height when the observer below last saw it.
    let logHeight = null;
    $("log").addEventListener("scroll", () => {
      // The event of a scroll to the bottom may come after the log shrank:
      // still pinned, for the observer below to scroll again. A scroll the
      // browser made because the log changed size meanwhile (grown, and
      // clamped to its end, then shrunk again, as when search results come)
      // says nothing of where the reader is: the observer, which follows in
      // the same frame, keeps the newest message in view if it was.
      if ($("log").clientHeight === logHeight) pinned = $("log").scrollTop === pinnedTop || nearBottom();
      if ($("log").scrollTop < 150) loadOlder();
      if (nearBottom()) hideNewBelow();
      if (pinned) markReadSoon();
    });
    // The log shrinks when the header grows (a topic), search results
    // show above it, or the window does: the newest message stays in view
    // if it was.
    new ResizeObserver(() => {
      logHeight = $("log").clientHeight;
      if (pinned && state.view) scrollToBottom();
    }).observe($("log"));
    window.addEventListener("focus", pageCameBack);
    // Rooms created by others (no event tells of them) and unread counts
    // read elsewhere: as often as who is active while the tab is in view,
    // so that a newcomer sees the rooms being made rather than make their
    // own; seldom while it is hidden (it asks again when shown).
    setInterval(() => {
      if (!state.sessionReady || !connection.isOpen) return;
      const every = document.visibilityState === "visible" ? ROOMS_EVERY_MS : ROOMS_HIDDEN_EVERY_MS;
      if (Date.now() - roomsAskedAt < every - ROOMS_EVERY_MS / 2) return;
      loadRooms({ reopen: true }).catch(() => {});
    }, ROOMS_EVERY_MS);
    // Who is active, more often: while the tab is hidden nobody sees the
    // list, and it is asked again when the tab is shown.
    setInterval(() => {
      if (!state.sessionReady || !connection.isOpen || document.visibilityState !== "visible") return;
      if (Date.now() - activeAskedAt < ACTIVE_EVERY_MS / 2) return;
      refreshActive();
    }, ACTIVE_EVERY_MS);
  }

  /**
   * A server with `--registration closed` marks its page so (the front
   * door: `data-registration` on the root element): no "Register", and no
   * rules of a new account under the fields; a sentence says where
   * accounts come from instead.
   */
  function offerRegistration() {
    if (document.documentElement.dataset.registration !== "closed") return;
    for (const id of ["register-button", "username-hint", "password-hint"]) $(id).remove();
    $("username").setAttribute("aria-describedby", "registration-closed login-error");
    $("password").setAttribute("aria-describedby", "login-error");
    $("registration-closed").hidden = false;
  }

  offerRegistration();
  dropMarkOnEdit();
  wire();
  renderEmpty();
  connect();
})();
