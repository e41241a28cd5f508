// Shared by the browser tests: the real pipechat-server on a temporary
// database, Debian's Chromium driven by playwright-core, and a TCP client
// speaking the pipe protocol.

import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/** How long any single wait may take. */
export const DEADLINE = 20_000;

/** An executable called `name` on the PATH, or null. */
export function onPath(name) {
  for (const dir of (process.env.PATH || "").split(path.delimiter)) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      /* next */
    }
  }
  return null;
}

export function chromiumPath() {
  const found = onPath("chromium") || onPath("chromium-browser");
  if (!found) throw new Error("chromium is not on the PATH (apt-get install -y chromium)");
  return found;
}

export function serverBinary() {
  const binary = process.env.PIPECHAT_SERVER || path.join(ROOT, "target", "debug", "pipechat-server");
  if (!fs.existsSync(binary)) throw new Error(`${binary} not found; cargo build first or set PIPECHAT_SERVER`);
  return binary;
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A running pipechat-server. */
export class Server {
  /** Starts the server on `db` (a fresh one by default). With `tls`, every
   * listener speaks TLS with the certificate that tests/browser.rs made
   * (PIPECHAT_TEST_TLS_CERT and _KEY). */
  static async start({ db, listen = "127.0.0.1:0", http = "127.0.0.1:0", args = [], tls = false } = {}) {
    const server = new Server();
    server.ownDir = !db;
    server.dir = db ? path.dirname(db) : tempDir("pipechat-browser-");
    server.db = db || path.join(server.dir, "chat.db");
    server.extra = args;
    if (tls) {
      const cert = process.env.PIPECHAT_TEST_TLS_CERT;
      const key = process.env.PIPECHAT_TEST_TLS_KEY;
      if (!cert || !key) throw new Error("PIPECHAT_TEST_TLS_CERT and PIPECHAT_TEST_TLS_KEY must name PEM files");
      server.extra = [...args, "--tls-cert", cert, "--tls-key", key];
    }
    await server.launch(listen, http);
    return server;
  }

  async launch(listen, http) {
    const log = fs.openSync(path.join(this.dir, "server.log"), "a");
    this.child = spawn(serverBinary(), ["--db", this.db, "--listen", listen, "--http", http, ...this.extra], {
      stdio: ["ignore", "pipe", log],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "info" },
    });
    fs.closeSync(log);
    const lines = [];
    let buffered = "";
    // `listening on`, `web on`, and one line for each IRC door asked for;
    // they may arrive in more than one chunk.
    const expected = 2 + this.extra.filter((arg) => arg === "--irc" || arg === "--ircs").length;
    const ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server did not start: ${lines.join(" / ")}`)), DEADLINE);
      this.child.stdout.on("data", (chunk) => {
        buffered += chunk;
        let end;
        while ((end = buffered.indexOf("\n")) >= 0) {
          lines.push(buffered.slice(0, end));
          buffered = buffered.slice(end + 1);
        }
        if (lines.length >= expected) {
          clearTimeout(timer);
          resolve();
        }
      });
      this.child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}: ${this.log()}`));
      });
    });
    await ready;
    this.addr = lines[0].replace(/^listening on /, "").split(" ")[0];
    const web = lines[1].match(/^web on (https?:\/\/[^/]+\/)$/);
    if (!web) throw new Error(`unexpected line ${lines[1]}`);
    this.url = web[1];
    this.webAddr = new URL(this.url).host;
    // With --irc, its address.
    const irc = lines.find((line) => line.startsWith("irc on "));
    this.ircAddr = irc ? irc.slice("irc on ".length).split(" ")[0] : null;
  }

  log() {
    try {
      return fs.readFileSync(path.join(this.dir, "server.log"), "utf8");
    } catch {
      return "";
    }
  }

  /** SIGTERM; resolves with the exit code. */
  async stop() {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode;
    const exited = once(this.child, "exit");
    this.child.kill("SIGTERM");
    const [code] = await exited;
    return code;
  }

  /** Stops and starts again on the same database and the same ports. */
  async restart({ beforeStart } = {}) {
    const code = await this.stop();
    if (beforeStart) await beforeStart();
    await this.launch(this.addr, this.webAddr);
    return code;
  }

  async tcp() {
    return TcpClient.connect(this.addr);
  }
}

/** The pipe protocol over TCP: one request line, one reply line. */
export class TcpClient {
  static async connect(addr) {
    const [host, port] = addr.split(":");
    const client = new TcpClient();
    client.socket = net.connect(Number(port), host);
    client.socket.setEncoding("utf8");
    client.events = [];
    client.waiters = [];
    client.eventWaiters = [];
    client.buffer = "";
    client.socket.on("data", (chunk) => client.onData(chunk));
    client.greeting = await new Promise((resolve) => client.waiters.push(resolve));
    return client;
  }

  onData(chunk) {
    this.buffer += chunk;
    let end;
    while ((end = this.buffer.indexOf("\n")) >= 0) {
      const value = JSON.parse(this.buffer.slice(0, end));
      this.buffer = this.buffer.slice(end + 1);
      if ("status" in value) {
        const waiter = this.waiters.shift();
        if (waiter) waiter(value);
      } else {
        this.events.push(value);
        for (const check of [...this.eventWaiters]) check();
      }
    }
  }

  /** Sends `/command|fields...` (escaped) and resolves with the reply. */
  request(command, ...fields) {
    const escaped = fields.map((f) => String(f).replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\n/g, "\\n"));
    const line = [command, ...escaped].join("|");
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.socket.write(`${line}\n`);
    });
  }

  /** Like request, failing unless the reply has `status`. */
  async expect(status, command, ...fields) {
    const reply = await this.request(command, ...fields);
    if (reply.status !== status) throw new Error(`${command}: expected ${status}, got ${JSON.stringify(reply)}`);
    return reply.data;
  }

  async registerAndLogin(username) {
    await this.expect(201, "/register", username, passwordOf(username));
    return this.expect(200, "/login", username, passwordOf(username));
  }

  /** Creates chatroom `name`, owned by this client's user, and joins it. */
  async createAndJoin(name) {
    await this.expect(201, "/createChatroom", name);
    await this.expect(200, "/joinChatroom", name);
  }

  /** Waits until an event matching `predicate` has arrived; returns it. */
  waitForEvent(predicate) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.events.find(predicate);
        if (found) {
          this.eventWaiters = this.eventWaiters.filter((c) => c !== check);
          clearTimeout(timer);
          resolve(found);
        }
      };
      const timer = setTimeout(() => {
        this.eventWaiters = this.eventWaiters.filter((c) => c !== check);
        reject(new Error(`no such event in time; got ${JSON.stringify(this.events)}`));
      }, DEADLINE);
      this.eventWaiters.push(check);
      check();
    });
  }

  close() {
    this.socket.destroy();
  }
}

export const passwordOf = (username) => `pw-of-${username}-123`;

/**
 * Polls `read` until `check(value)` holds; fails with the last value, after
 * DEADLINE or the shorter `within` (ms) when how soon matters.
 */
export async function eventually(what, read, check, { within = DEADLINE } = {}) {
  const until = Date.now() + within;
  let value;
  for (;;) {
    value = await read();
    if (check(value)) return value;
    if (Date.now() > until) throw new Error(`${what}: last saw ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export const sameAs = (expected) => (got) => JSON.stringify(got) === JSON.stringify(expected);

/**
 * WCAG 2's relative luminance of a colour as getComputedStyle gives it
 * ("rgb(r, g, b)" or "rgba(…)", whose alpha is not looked at).
 */
export function luminance(css) {
  const [r, g, b] = css.match(/[\d.]+/g).slice(0, 3).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2's contrast ratio of two such colours, 1 to 21, in whichever order. */
export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * A browser of its own (fresh --user-data-dir, so its own storage) with
 * one page open at `url`; with `hasTouch`, a touch screen and no mouse (as
 * the media queries `pointer` and `hover` see it).
 */
export async function openBrowser(url, { width = 1280, height = 800, hasTouch = false } = {}) {
  const userDataDir = tempDir("pipechat-chromium-");
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath(),
    headless: true,
    // The HTTPS test's certificate is self-signed.
    ignoreHTTPSErrors: true,
    viewport: { width, height },
    hasTouch,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-quic",
      "--no-first-run",
      "--disable-sync",
    ],
  });
  context.setDefaultTimeout(DEADLINE);
  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("dialog", (dialog) => {
    problems.push(`unexpected dialog: ${dialog.message()}`);
    dialog.dismiss();
  });
  await page.goto(url);
  return {
    context,
    page,
    problems,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Opens what test `t` needs (servers, browsers, TCP clients) and closes it
 * all when the test ends, last opened first: also when the test fails half
 * way through opening.
 */
export function scene(t) {
  const opened = [];
  t.after(async () => {
    const failures = [];
    for (const close of opened.reverse()) {
      try {
        await close();
      } catch (error) {
        failures.push(error);
      }
    }
    if (failures.length > 0) throw failures[0];
  });
  return {
    async server(options) {
      const server = await Server.start(options);
      opened.push(async () => {
        await server.stop();
        // Its database and log, unless they were given.
        if (server.ownDir) fs.rmSync(server.dir, { recursive: true, force: true });
      });
      return server;
    },
    async browser(url, viewport) {
      const browser = await openBrowser(url, viewport);
      opened.push(() => browser.close());
      return browser;
    },
    async tcp(server) {
      const client = await server.tcp();
      opened.push(() => client.close());
      return client;
    },
  };
}

/** `username` over TCP, logged in, member of `rooms` (created by them). */
export async function memberOf(open, server, username, rooms) {
  const tcp = await open.tcp(server);
  await tcp.registerAndLogin(username);
  for (const room of rooms) await tcp.createAndJoin(room);
  return tcp;
}

/**
 * A server, and one browser on it registered (or, with `register: false`,
 * logged in) as `username` through the page's form, "Keep me logged in"
 * ticked when `remember`; with `room`, that chatroom created and open; the
 * window `size` as `open.browser` takes it.
 */
export async function onePage(t, username, { register = true, remember = false, room, size } = {}) {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url, size);
  await logInThroughPage(browser.page, username, { register, remember });
  if (room !== undefined) await createRoomThroughPage(browser.page, room);
  return { open, server, browser, page: browser.page };
}

/** Registers (or logs in) through the page's form. */
export async function logInThroughPage(page, username, { register = true, remember = false } = {}) {
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password", { exact: true }).fill(passwordOf(username));
  if (remember) await page.getByLabel("Keep me logged in").check();
  await page.getByRole("button", { name: register ? "Register" : "Log in" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor();
}

/** Creates a chatroom through the page; it opens, joined. */
export async function createRoomThroughPage(page, name) {
  await page.getByRole("button", { name: "New chatroom" }).click();
  await page.getByLabel("Chatroom name").fill(name);
  await page.getByRole("button", { name: "Create", exact: true }).click();
  await page.getByRole("heading", { name, exact: true }).waitFor();
  await page.getByLabel("Message").waitFor();
}

/** Opens chatroom `name` from the page's list and joins it there. */
export async function joinThroughPage(page, name) {
  const escaped = name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  await page.getByRole("button", { name: new RegExp(`^${escaped}`) }).click();
  await page.getByRole("button", { name: "Join", exact: true }).click();
}

/**
 * Chatrooms `general` (open on the page) and `random`, where `sender`,
 * registered now over TCP, has sent `text`: one unread for the page's user.
 */
export async function oneUnreadInRandom(open, server, page, sender, text) {
  await createRoomThroughPage(page, "general");
  await createRoomThroughPage(page, "random");
  await page.getByRole("button", { name: /^general/ }).click();
  const tcp = await open.tcp(server);
  await tcp.registerAndLogin(sender);
  await tcp.expect(200, "/joinChatroom", "random");
  const sent = await tcp.expect(201, "/sendMessage", "random", text);
  await page.getByRole("button", { name: /^random 1 unread/ }).waitFor();
  return { tcp, sent };
}

/**
 * Watches the requests `page` sends over its WebSocket, from the next one it
 * opens (reload the page after this): the latest socket's request lines in
 * `sent`, in order; `settled()` once each has its reply and nothing went
 * either way for `quietMs`, so that a chain of requests (each sent on the
 * reply to the one before) is seen whole.
 */
export function watchRequests(page) {
  const wire = {
    sent: [],
    answered: 0,
    lastAt: Date.now(),
    settled(quietMs = 300) {
      return this.answered === this.sent.length && Date.now() - this.lastAt >= quietMs;
    },
  };
  page.on("websocket", (socket) => {
    if (!socket.url().endsWith("/ws")) return;
    wire.sent = [];
    wire.answered = 0;
    wire.lastAt = Date.now();
    let greeted = false;
    socket.on("framesent", ({ payload }) => {
      wire.sent.push(String(payload));
      wire.lastAt = Date.now();
    });
    socket.on("framereceived", ({ payload }) => {
      wire.lastAt = Date.now();
      let value;
      try {
        value = JSON.parse(String(payload));
      } catch {
        return;
      }
      // Replies carry a status, events do not; the first reply is the greeting.
      if (!("status" in value)) return;
      if (greeted) wire.answered += 1;
      greeted = true;
    });
  });
  return wire;
}

/**
 * Reloads `page` and logs `username` in through it, watching its requests
 * from the new page's socket (`watchRequests`); returns the watch once
 * `firstRoom` is open and the login's requests are answered.
 * `beforeReload` runs once the watch is set (to install the page's clock).
 */
export async function reloadLoggedInWatching(page, username, firstRoom, { beforeReload } = {}) {
  const wire = watchRequests(page);
  if (beforeReload) await beforeReload();
  await page.reload();
  await logInThroughPage(page, username, { register: false });
  await page.getByRole("heading", { name: firstRoom, exact: true }).waitFor();
  await eventually("the login's requests answered", () => wire.settled(), Boolean);
  return wire;
}

/** Types a message into the composer and sends it with Enter. */
export async function sendThroughPage(page, text) {
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
}

/** The texts of the open room's log, in order. */
export async function logTexts(page) {
  return page.getByRole("log").locator(".msg .text").allTextContents();
}
