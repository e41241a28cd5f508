// The web client end to end: real server, real Chromium, real clicks.
// Run with `node --test tests/browser/` (tests/browser.rs does, in
// `cargo test`).

import assert from "node:assert/strict";
import { once } from "node:events";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";

import {
  ROOT,
  createRoomThroughPage,
  eventually,
  joinThroughPage,
  logInThroughPage,
  logTexts,
  memberOf,
  onePage,
  oneUnreadInRandom,
  passwordOf,
  sameAs,
  scene,
  sendThroughPage,
} from "./harness.mjs";

test("two browser users and a TCP client chat live", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const alice = await open.browser(server.url);
  const bob = await open.browser(server.url);
  const carol = await open.tcp(server);

  await logInThroughPage(alice.page, "alice");
  await createRoomThroughPage(alice.page, "general");
  await createRoomThroughPage(alice.page, "random");
  await alice.page.getByRole("button", { name: /^general/ }).click();

  await logInThroughPage(bob.page, "bob");
  await joinThroughPage(bob.page, "general");
  await bob.page.getByLabel("Message", { exact: true }).waitFor();

  await carol.registerAndLogin("carol");
  await carol.expect(200, "/joinChatroom", "general");
  await carol.expect(200, "/subscribe", "general");

  await sendThroughPage(alice.page, "hello from alice");
  await eventually("bob sees alice", () => logTexts(bob.page), (t) => t.includes("hello from alice"));
  // Shift+Enter adds a line; Enter sends both lines as one message.
  const box = bob.page.getByLabel("Message", { exact: true });
  await box.fill("hi alice");
  await box.press("Shift+Enter");
  await box.pressSequentially("second line | with a pipe");
  await box.press("Enter");
  const twoLines = "hi alice\nsecond line | with a pipe";
  await eventually("alice sees bob", () => logTexts(alice.page), (t) => t.includes(twoLines));
  await carol.expect(201, "/sendMessage", "general", "hello from the pipe");
  const expected = ["hello from alice", twoLines, "hello from the pipe"];
  await eventually("alice's log", () => logTexts(alice.page), sameAs(expected));
  await eventually("bob's log", () => logTexts(bob.page), sameAs(expected));
  // The TCP client got the browser users' messages as events.
  for (const text of expected.slice(0, 2)) {
    await carol.waitForEvent((e) => e.event === "message" && e.data.text === text);
  }
  // Senders and local times are shown.
  const first = alice.page.getByRole("log").locator(".msg").first();
  assert.equal(await first.locator(".sender").textContent(), "alice");
  assert.match(await first.locator("time").textContent(), /\d/);

  // A message in another room shows as unread in the sidebar.
  await carol.expect(200, "/joinChatroom", "random");
  await carol.expect(201, "/sendMessage", "random", "psst, over here");
  await alice.page.getByRole("button", { name: /^random 1 unread/ }).waitFor();
  // Members and who is active.
  await alice.page.getByRole("button", { name: /^Members/ }).click();
  const members = alice.page.getByRole("region", { name: "Members of this chatroom" });
  await eventually("members", () => members.locator("li").allTextContents(), (m) => m.length === 3);
  assert.match((await members.locator("li").allTextContents()).join(","), /alice.*active now.*bob.*active now.*carol.*active now/);

  fs.mkdirSync(path.join(ROOT, "docs"), { recursive: true });
  await alice.page.screenshot({ path: path.join(ROOT, "docs", "web-client.png") });
  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
});

test("over HTTPS the page chats through wss://", async (t) => {
  const open = scene(t);
  const server = await open.server({ tls: true });
  assert.match(server.url, /^https:\/\//);
  const alice = await open.browser(server.url);
  const bob = await open.browser(server.url);
  const sockets = [];
  alice.page.on("websocket", (socket) => sockets.push(socket.url()));
  await alice.page.reload();
  await logInThroughPage(alice.page, "alice");
  await createRoomThroughPage(alice.page, "secure");
  await logInThroughPage(bob.page, "bob");
  await joinThroughPage(bob.page, "secure");
  await bob.page.getByLabel("Message", { exact: true }).waitFor();
  await sendThroughPage(alice.page, "sealed end to end");
  await eventually("bob sees alice over wss", () => logTexts(bob.page), (t) => t.includes("sealed end to end"));
  assert.ok(sockets.length > 0 && sockets.every((url) => url.startsWith("wss://")), JSON.stringify(sockets));
  assert.deepEqual(alice.problems, []);
  assert.deepEqual(bob.problems, []);
});

test("older messages load when scrolling up, without gaps or duplicates", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const writer = await memberOf(open, server, "writer", ["history"]);
  const sent = [];
  for (let i = 1; i <= 230; i++) {
    sent.push(`message ${i}`);
    await writer.expect(201, "/sendMessage", "history", `message ${i}`);
  }
  const reader = await open.browser(server.url, { width: 1000, height: 700 });
  await logInThroughPage(reader.page, "reader");
  await joinThroughPage(reader.page, "history");
  const log = reader.page.getByRole("log");
  await eventually("the latest page", () => logTexts(reader.page), (t) => t.at(-1) === "message 230");
  const before = (await logTexts(reader.page)).length;
  assert.ok(before < 230, `all ${before} loaded at once; nothing to scroll back to`);
  await eventually(
    "every message after scrolling up",
    async () => {
      await log.evaluate((node) => {
        node.scrollTop = 0;
      });
      return logTexts(reader.page);
    },
    sameAs(sent),
  );
  await reader.page.getByText("This is the beginning of the conversation.").waitFor();
  assert.deepEqual(reader.problems, []);
});

test("a message text like <img src=x onerror=alert(1)> is shown as text and runs nothing", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const mallory = await memberOf(open, server, "mallory", ["<b>room</b>"]);
  const evil = "<img src=x onerror=alert(1)>";
  await mallory.expect(201, "/sendMessage", "<b>room</b>", evil);
  const victim = await open.browser(server.url);
  await logInThroughPage(victim.page, "victim");
  await joinThroughPage(victim.page, "<b>room</b>");
  await eventually("the text", () => logTexts(victim.page), sameAs([evil]));
  await mallory.expect(201, "/sendMessage", "<b>room</b>", `${evil} live`);
  await eventually("the live text", () => logTexts(victim.page), sameAs([evil, `${evil} live`]));
  assert.equal(await victim.page.locator("img, b").count(), 0, "markup from a user became elements");
  assert.equal(await victim.page.getByRole("heading", { name: "<b>room</b>" }).count(), 1);
  assert.deepEqual(victim.problems, []);
});

test("web addresses in messages are links, without the punctuation after them, also edited and in search results", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice", { room: "general" });
  await page.setViewportSize({ width: 390, height: 844 });
  const bob = await open.tcp(server);
  await bob.registerAndLogin("bob");
  await bob.expect(200, "/joinChatroom", "general");
  const long = `https://example.com/${"very-long-path-segment/".repeat(12)}end`;
  const texts = [
    "see https://example.com/wiki/Foo_(bar). Or (http://example.org/x), and 'https://example.net/q?a=1&b=2'!",
    "not these: javascript:alert(1) data:text/html,hi ftp://example.com xhttps://example.com https:// nor <a href=javascript:alert(1)>x</a>",
    `a long one: ${long}`,
    "nothing to link yet",
  ];
  const sent = [];
  for (const text of texts) sent.push(await bob.expect(201, "/sendMessage", "general", text));
  await eventually("the messages", () => logTexts(page), sameAs(texts));
  const links = () =>
    page.getByRole("log").locator(".msg .text a").evaluateAll((all) =>
      all.map((a) => [a.textContent, a.getAttribute("href"), a.target, a.rel]),
    );
  const rel = "noopener noreferrer nofollow";
  const expected = [
    ["https://example.com/wiki/Foo_(bar)", "https://example.com/wiki/Foo_(bar)", "_blank", rel],
    ["http://example.org/x", "http://example.org/x", "_blank", rel],
    ["https://example.net/q?a=1&b=2", "https://example.net/q?a=1&b=2", "_blank", rel],
    [long, long, "_blank", rel],
  ];
  assert.deepEqual(await links(), expected);
  // The text reads as sent, links and all.
  assert.deepEqual(await logTexts(page), texts);
  // A long address wraps rather than widen the page on a phone.
  const widths = await page.getByRole("log").evaluate((log) => [log.scrollWidth, log.clientWidth, document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(widths[0] <= widths[1] && widths[2] <= widths[3], `wider than the screen: ${widths}`);

  // An edit's address is a link too.
  await bob.expect(200, "/editMessage", String(sent[3].id), "now https://example.com/edited, see?");
  await eventually("the edit", () => links(), (got) => got.length === 5 && got[4][1] === "https://example.com/edited");

  // Keyboard: the log is one Tab stop; a message's links are Tab stops once it has the focus.
  const tabStops = () => page.getByRole("log").locator(".text a").evaluateAll((all) => all.map((a) => a.tabIndex));
  assert.deepEqual(await tabStops(), [-1, -1, -1, -1, -1]);
  await page.getByRole("log").focus();
  await page.keyboard.press("End");
  await eventually("the focused message's link", () => tabStops(), sameAs([-1, -1, -1, -1, 0]));
  const focusedLink = () => page.evaluate(() => document.activeElement.getAttribute("href"));
  for (let presses = 0; presses < 4 && (await focusedLink()) === null; presses++) await page.keyboard.press("Tab");
  assert.equal(await focusedLink(), "https://example.com/edited", "Tab from the message reaches its link");

  // Search results link them too, with the words found marked inside.
  await page.getByLabel("Search").fill("example");
  await page.getByLabel("Search").press("Enter");
  const result = page.locator("#search-list li.hit").filter({ hasText: "wiki" });
  await result.waitFor();
  assert.deepEqual(await result.locator(".text a").evaluateAll((all) => all.map((a) => [a.textContent, a.getAttribute("href"), a.target, a.rel])), expected.slice(0, 3));
  assert.deepEqual(await result.locator(".text a mark").allTextContents(), ["example", "example", "example"]);
  // The result still opens its message, by its button (named by its text) or a click on the text.
  const button = page.getByRole("button", { name: /Foo_\(bar\)/ });
  assert.equal(await button.count(), 1);
  // On its first word, not on a link (the button takes the click there, so
  // Playwright would refuse to click the text itself).
  await result.scrollIntoViewIfNeeded();
  const box = await result.locator(".text").boundingBox();
  await page.mouse.click(box.x + 4, box.y + 6);
  await page.locator("#search-results").waitFor({ state: "hidden" });
  await page.locator(".msg.hit").waitFor();
  assert.equal(await page.locator("a[href^=javascript], a[href^=data], a[href^=ftp]").count(), 0);
  assert.deepEqual(browser.problems, []);
});

test("a page from another origin cannot open the WebSocket, unless allowed", async (t) => {
  const open = scene(t);
  // A foreign site: its page tries to reach the chat with the visitor's browser.
  const foreign = http.createServer((request, response) => {
    if (request.url.startsWith("/probe.js")) {
      response.writeHead(200, { "content-type": "text/javascript" });
      response.end(`
        const target = new URL(location.href).searchParams.get("ws");
        const socket = new WebSocket(target);
        window.outcome = new Promise((resolve) => {
          socket.onmessage = (m) => resolve("open: " + m.data);
          socket.onerror = () => resolve("refused");
        });`);
      return;
    }
    response.writeHead(200, { "content-type": "text/html" });
    response.end('<!doctype html><title>elsewhere</title><script src="/probe.js"></script>');
  });
  foreign.listen(0, "127.0.0.1");
  t.after(() => foreign.close());
  await new Promise((resolve) => foreign.once("listening", resolve));
  const origin = `http://127.0.0.1:${foreign.address().port}`;
  const server = await open.server();
  const allowing = await open.server({ args: ["--http-allow-origin", origin] });
  const browser = await open.browser(`${origin}/`);
  const probe = async (target) => {
    await browser.page.goto(`${origin}/?ws=${encodeURIComponent(`ws://${target.webAddr}/ws`)}`);
    return browser.page.evaluate(() => window.outcome);
  };
  assert.equal(await probe(server), "refused");
  assert.match(await probe(allowing), /^open: \{"status":200/);
  assert.match(server.log(), /WebSocket refused: origin/);
});

test("direct messages between two browser users", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const alice = await open.browser(server.url);
  const bob = await open.browser(server.url);
  await logInThroughPage(alice.page, "alice");
  await logInThroughPage(bob.page, "bob");
  await alice.page.getByLabel("Write to (user name)").fill("bob");
  await alice.page.getByRole("button", { name: "Open", exact: true }).click();
  await sendThroughPage(alice.page, "just between us");
  await bob.page.getByRole("button", { name: /^@alice/ }).click();
  await eventually("bob reads it", () => logTexts(bob.page), sameAs(["just between us"]));
  await sendThroughPage(bob.page, "agreed");
  await eventually("alice reads the answer", () => logTexts(alice.page), sameAs(["just between us", "agreed"]));
  assert.deepEqual(alice.problems, []);
});

test("direct messages notify when the user asks, unless their conversation is in view", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url);
  const { context, page } = browser;
  // The browser's notifications, recorded instead of shown.
  await context.addInitScript(() => {
    window.shownNotifications = [];
    window.Notification = class {
      static permission = "default";
      static async requestPermission() {
        this.permission = "granted";
        return "granted";
      }
      constructor(title, options) {
        window.shownNotifications.push({ title, body: options.body, tag: options.tag });
      }
      close() {}
    };
  });
  await page.reload();
  await logInThroughPage(page, "alice", { remember: true });
  await createRoomThroughPage(page, "general");
  const bob = await memberOf(open, server, "bob", []);
  await bob.expect(200, "/joinChatroom", "general");
  const shown = () => page.evaluate(() => window.shownNotifications);

  // Not asked for: none.
  await bob.expect(201, "/sendMessage", "@alice", "before asking");
  await page.getByRole("button", { name: /^@bob 1 unread/ }).waitFor();
  assert.deepEqual(await shown(), []);

  await page.getByLabel("Notify me when someone writes to me directly").check();
  await eventually("allowed", () => page.evaluate(() => Notification.permission), (p) => p === "granted");
  await bob.expect(201, "/sendMessage", "@alice", "are you there?");
  await eventually("notified", shown, sameAs([{ title: "bob", body: "are you there?", tag: "pipechat-dm-@bob" }]));

  // A room's message does not notify; a direct message in view does not either.
  await bob.expect(201, "/sendMessage", "general", "in the room");
  await eventually("in the log", () => logTexts(page), (texts) => texts.includes("in the room"));
  await page.getByRole("button", { name: /^@bob/ }).click();
  await page.getByRole("heading", { name: "bob (direct)" }).waitFor();
  await bob.expect(201, "/sendMessage", "@alice", "while you look");
  await eventually("in view", () => logTexts(page), (texts) => texts.includes("while you look"));
  assert.equal((await shown()).length, 1);

  // Another tab shows the choice, and unticked there it is off here too.
  const tab2 = await browser.context.newPage();
  await tab2.goto(server.url);
  await tab2.getByRole("button", { name: "Log out" }).waitFor();
  // The stand-in's permission is this page's own: grant it there too.
  await tab2.evaluate(() => Notification.requestPermission());
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByLabel("Notify me when someone writes to me directly").uncheck();
  await page.getByLabel("Notify me when someone writes to me directly").check();
  const box2 = tab2.getByLabel("Notify me when someone writes to me directly");
  await eventually("ticked in the other tab", () => box2.isChecked(), (checked) => checked);
  await box2.uncheck();
  await eventually("unticked here", () => page.getByLabel("Notify me when someone writes to me directly").isChecked(), (checked) => !checked);
  await bob.expect(201, "/sendMessage", "@alice", "after unticking");
  // What was in view when the user moved on counts as read.
  await page.getByRole("button", { name: /^@bob 1 unread/ }).waitFor();
  assert.equal((await shown()).length, 1);
  assert.deepEqual(browser.problems, []);
});

test("edits and deletions are seen live by the other side", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const alice = await open.browser(server.url);
  const bob = await open.browser(server.url);
  await logInThroughPage(alice.page, "alice");
  await createRoomThroughPage(alice.page, "general");
  await logInThroughPage(bob.page, "bob");
  await joinThroughPage(bob.page, "general");
  await sendThroughPage(alice.page, "frist");
  await sendThroughPage(alice.page, "to be deleted");
  await eventually("bob sees both", () => logTexts(bob.page), sameAs(["frist", "to be deleted"]));
  const first = alice.page.getByRole("log").locator(".msg").first();
  await first.getByRole("button", { name: "Edit" }).click();
  const edit = alice.page.getByLabel("Edited text");
  await edit.fill("first");
  await edit.press("Enter");
  await eventually("bob sees the edit", () => logTexts(bob.page), sameAs(["first", "to be deleted"]));
  const bobsFirst = bob.page.getByRole("log").locator(".msg").first();
  await bobsFirst.getByText("(edited)").waitFor();
  assert.equal(await bob.page.getByRole("log").getByText("(edited)").count(), 1);
  const second = alice.page.getByRole("log").locator(".msg").nth(1);
  await second.getByRole("button", { name: "Delete" }).click();
  await second.getByRole("button", { name: "Yes, delete" }).click();
  await eventually("bob sees the deletion", () => logTexts(bob.page), sameAs(["first"]));
  assert.equal(await bob.page.getByRole("log").getByRole("button", { name: "Edit" }).count(), 0);
});

test("an open edit survives a server restart, an edit saved offline stays open, and no edit empties a message", async (t) => {
  const { server, browser, page } = await onePage(t, "alice", { room: "general" });
  await sendThroughPage(page, "frist");
  const first = page.getByRole("log").locator(".msg").first();
  await first.getByRole("button", { name: "Edit" }).click();
  const edit = page.getByLabel("Edited text");
  await edit.fill("   ");
  await edit.press("Enter");
  await first.getByRole("alert").filter({ hasText: "A message cannot be empty; Delete removes it." }).waitFor();
  await edit.fill("first, half");

  await server.stop();
  await page.getByRole("status").filter({ hasText: /Offline|Reconnecting/ }).waitFor();
  await edit.press("Enter");
  await first.getByRole("alert").filter({ hasText: "Not saved: offline." }).waitFor();
  await server.restart();
  await page.getByRole("status").filter({ hasText: "Connected" }).waitFor();
  // Read again on the reconnection, the message still has its edit open,
  // with what was typed, and the focus.
  await eventually("the log read again", () => page.locator("#log .msg").count(), (n) => n === 1);
  assert.equal(await edit.inputValue(), "first, half");
  assert.ok(await edit.evaluate((area) => area === document.activeElement));
  await edit.fill("first");
  await edit.press("Enter");
  await edit.waitFor({ state: "detached" });
  await eventually("saved", () => logTexts(page), sameAs(["first"]));
  assert.deepEqual(browser.problems, []);
});

test("Members counts the open room's members, also of a room one has not joined", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const alice = await memberOf(open, server, "alice", ["Café Lounge"]);
  const { page } = await open.browser(server.url);
  await logInThroughPage(page, "bob");
  await createRoomThroughPage(page, "general");
  for (const name of ["carol", "dave"]) {
    const other = await memberOf(open, server, name, []);
    await other.expect(200, "/joinChatroom", "general");
  }
  const members = page.getByRole("button", { name: /^Members/ });
  await eventually("general's three", () => members.textContent(), (text) => text === "Members (3)");
  await page.getByRole("button", { name: /^Café Lounge/ }).click();
  await page.getByRole("button", { name: "Join", exact: true }).waitFor();
  await eventually("the lounge's one", () => members.textContent(), (text) => text === "Members (1)");
  await members.click();
  assert.deepEqual(await page.locator("#member-list .name").allTextContents(), ["alice"]);
  alice.close();
});

/**
 * Alice on the page in "general" of a server with IRC guests, and an IRC
 * guest called `nick`, welcomed: `irc.write` sends it lines, `irc.heard()`
 * is all it was sent.
 */
async function aliceAndAnIrcGuest(t, nick) {
  const open = scene(t);
  const server = await open.server({ args: ["--irc", "127.0.0.1:0", "--irc-guests"] });
  const { page } = await open.browser(server.url);
  await logInThroughPage(page, "alice");
  await createRoomThroughPage(page, "general");
  const [host, port] = server.ircAddr.split(":");
  const socket = net.connect(Number(port), host);
  t.after(() => socket.destroy());
  let heard = "";
  socket.on("data", (bytes) => {
    heard += bytes.toString("utf8");
  });
  const irc = { write: (lines) => socket.write(lines), heard: () => heard };
  irc.write(`NICK ${nick}\r\nUSER g 0 * :${nick}\r\n`);
  await eventually("welcomed", irc.heard, (text) => / 001 /.test(text));
  return { page, irc };
}

test("an IRC guest's message names its sender as a guest, which opens no conversation", async (t) => {
  const { page, irc } = await aliceAndAnIrcGuest(t, "Trudy");
  irc.write("JOIN #general\r\n");
  await eventually("joined", irc.heard, (text) => / 366 /.test(text));
  irc.write("PRIVMSG #general :hello from irc\r\n");
  await eventually("the message", () => logTexts(page), sameAs(["hello from irc"]));
  const sender = page.getByRole("log").locator(".msg .sender").first();
  assert.equal(await sender.textContent(), "Trudy (guest)");
  assert.equal(await page.getByRole("log").getByRole("button", { name: /Trudy/ }).count(), 0);
});

test("a direct conversation with an IRC guest goes from the list once the guest has left", async (t) => {
  const { page, irc } = await aliceAndAnIrcGuest(t, "visitor");
  irc.write("PRIVMSG alice :psst\r\n");
  const entry = page.getByRole("button", { name: /^@visitor 1 unread/ });
  await entry.waitFor();
  irc.write("QUIT :bye\r\n");
  // Gone at the next refresh of the list (every few seconds).
  await entry.waitFor({ state: "detached" });
  assert.equal(await page.getByRole("button", { name: /visitor/ }).count(), 0);
  assert.equal(await page.title(), "general – pipechat");
});

test("search finds a message and opens the room at it", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const writer = await memberOf(open, server, "writer", ["ops"]);
  for (let i = 1; i <= 300; i++) {
    const text = i === 42 ? "the deployment of the café finished" : `filler ${i}`;
    await writer.expect(201, "/sendMessage", "ops", text);
  }
  const reader = await open.browser(server.url);
  await logInThroughPage(reader.page, "reader");
  await joinThroughPage(reader.page, "ops");
  // Searching only finds the rooms one is a member of: wait for the join.
  await reader.page.getByRole("button", { name: "Join", exact: true }).waitFor({ state: "hidden" });
  await eventually("the room's messages", () => logTexts(reader.page), (t) => t.length > 0);
  await reader.page.getByLabel("Search").fill("cafe deplo*");
  await reader.page.getByLabel("Search").press("Enter");
  const result = reader.page.getByRole("button", { name: /the deployment of the café finished/ });
  await result.click();
  const hit = reader.page.getByRole("log").getByText("the deployment of the café finished");
  await hit.waitFor();
  assert.ok(await hit.isVisible());
  await writer.expect(201, "/sendMessage", "ops", "after the search");
  await eventually("live after the jump", () => logTexts(reader.page), (t) => t.at(-1) === "after the search");
});

/** What the page's live regions hold: those that say so, and those whose role makes them one. */
function heard(page) {
  return page
    .locator("[aria-live=polite], [aria-live=assertive], [role=status], [role=alert], [role=log]:not([aria-live=off])")
    .allTextContents()
    .then((texts) => texts.join(" | "));
}

test("a screen reader hears a direct message meant for it elsewhere, and no longer a deleted message", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice", { room: "general" });
  const bob = await memberOf(open, server, "bob", []);
  await bob.expect(200, "/joinChatroom", "general");
  const sent = await bob.expect(201, "/sendMessage", "general", "a secret I will delete");
  await eventually("heard", () => heard(page), (text) => text.includes("bob: a secret I will delete"));
  await bob.expect(200, "/deleteMessage", String(sent.id));
  // At once, well before lines are removed anyway (15 s after being said).
  await eventually("no longer readable", () => heard(page), (text) => !text.includes("a secret"), { within: 3000 });
  await bob.expect(201, "/sendMessage", "@alice", "psst");
  await eventually("the direct message", () => heard(page), (text) => text.includes("New direct message from bob."));
  assert.ok(!(await heard(page)).includes("psst"), "the text is for the conversation, not read elsewhere");
  assert.deepEqual(browser.problems, []);
});

test("a search that finds nothing says so to a screen reader too", async (t) => {
  const { browser, page } = await onePage(t, "alice", { room: "general" });
  await sendThroughPage(page, "hello there");
  await eventually("sent", () => logTexts(page), sameAs(["hello there"]));
  const search = async (query) => {
    await page.getByLabel("Search").fill(query);
    await page.getByLabel("Search").press("Enter");
  };
  await search("zebra");
  await page.getByRole("heading", { name: "No results for “zebra”" }).waitFor();
  await eventually("heard", () => heard(page), (text) => text.includes("No results for “zebra”."));
  // Found, it says how many; the same search again is said again.
  await search("hello");
  await eventually("heard", () => heard(page), (text) => text.includes("1 result for “hello”.") && !text.includes("zebra"));
  await search("zebra");
  await eventually("heard again", () => heard(page), (text) => text.includes("No results for “zebra”."));
  assert.deepEqual(browser.problems, []);
});

test("a search hit's mark goes at the next key or click, or after a few seconds", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const writer = await memberOf(open, server, "writer", ["ops"]);
  for (let i = 1; i <= 30; i++) await writer.expect(201, "/sendMessage", "ops", i === 7 ? "the needle" : `hay ${i}`);
  const browser = await open.browser(server.url);
  const { page } = browser;
  await logInThroughPage(page, "reader");
  await joinThroughPage(page, "ops");
  // Searching only finds the rooms one is a member of: wait for the join.
  await page.getByRole("button", { name: "Join", exact: true }).waitFor({ state: "hidden" });
  const marked = page.getByRole("log").locator(".msg.hit");
  const openTheHit = async () => {
    await page.getByLabel("Search").fill("needle");
    await page.getByLabel("Search").press("Enter");
    await page.getByRole("button", { name: /the needle/ }).click();
    await eventually("marked", () => marked.allTextContents(), (texts) => texts.length === 1 && /the needle/.test(texts[0]));
  };
  // A key: the mark goes at once.
  await openTheHit();
  await page.keyboard.press("ArrowDown");
  assert.equal(await marked.count(), 0, "still marked after a key");
  // A click: the same.
  await openTheHit();
  await page.getByRole("log").click({ position: { x: 5, y: 5 } });
  assert.equal(await marked.count(), 0, "still marked after a click");
  // Nothing: it goes by itself.
  await openTheHit();
  await eventually("unmarked in time", () => marked.count(), (n) => n === 0);
  assert.deepEqual(browser.problems, []);
});

test("a reload keeps you logged in when you chose so", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url);
  await logInThroughPage(browser.page, "alice", { remember: true });
  await createRoomThroughPage(browser.page, "general");
  await sendThroughPage(browser.page, "before the reload");
  await browser.page.reload();
  await browser.page.getByRole("button", { name: "Log out" }).waitFor();
  await eventually("the room again", () => logTexts(browser.page), sameAs(["before the reload"]));
  assert.ok(await browser.page.evaluate(() => localStorage.getItem("pipechat.token") !== null));
  // Logging out forgets the token: a reload asks for the password.
  await browser.page.getByRole("button", { name: "Log out" }).click();
  await browser.page.reload();
  await browser.page.getByRole("button", { name: "Log in" }).waitFor();
  assert.equal(await browser.page.evaluate(() => localStorage.getItem("pipechat.token")), null);
  // Without "keep me logged in", the token lives in this tab only.
  await logInThroughPage(browser.page, "alice", { register: false });
  assert.equal(await browser.page.evaluate(() => localStorage.getItem("pipechat.token")), null);
  const other = await browser.context.newPage();
  await other.goto(server.url);
  await other.getByRole("button", { name: "Log in" }).waitFor();
});

/**
 * Stops the server while `page` is in `room`, sends `during` right after it
 * is back (the page is still reconnecting), and returns what was sent.
 */
async function restartMidConversation(server, page, room) {
  const tcp = await server.tcp();
  await tcp.registerAndLogin("writer");
  await tcp.expect(200, "/joinChatroom", room);
  await tcp.expect(201, "/sendMessage", room, "before the restart");
  await eventually("the page has it", () => logTexts(page), (t) => t.includes("before the restart"));
  tcp.close();
  const code = await server.stop();
  assert.equal(code, 0);
  await page.getByRole("status").filter({ hasText: /Offline|Reconnecting/ }).waitFor();
  // Who was active before is not shown as active now.
  const active = () => page.locator("#active-list").innerText();
  await eventually("who is active is unknown", active, (t) => t.trim() === "Not known while offline.");
  await server.restart();
  const again = await server.tcp();
  await again.expect(200, "/login", "writer", passwordOf("writer"));
  const during = [];
  for (let i = 1; i <= 5; i++) {
    during.push(`while you were away ${i}`);
    await again.expect(201, "/sendMessage", room, `while you were away ${i}`);
  }
  return { tcp: again, during };
}

test("after a server restart the page has its own and others' messages once each, in order", async (t) => {
  const { server, browser, page } = await onePage(t, "alice");
  await createRoomThroughPage(page, "general");
  await sendThroughPage(page, "mine, before");
  const { tcp, during } = await restartMidConversation(server, page, "general");
  await page.getByRole("status").filter({ hasText: "Connected" }).waitFor();
  const active = () => page.locator("#active-list").innerText();
  await eventually("who is active is asked again", active, (t) => t.includes("alice") && t.includes("writer"));
  await sendThroughPage(page, "mine, after");
  const expected = ["mine, before", "before the restart", ...during, "mine, after"];
  await eventually("caught up", () => logTexts(page), sameAs(expected));
  await tcp.expect(201, "/sendMessage", "general", "live again");
  await eventually("live again", () => logTexts(page), sameAs([...expected, "live again"]));
  tcp.close();
  assert.deepEqual(browser.problems, []);
});

test("after a server restart the page resumes its session by itself and catches up", async (t) => {
  const { server, page } = await onePage(t, "alice");
  await createRoomThroughPage(page, "general");
  const { tcp, during } = await restartMidConversation(server, page, "general");
  const expected = ["before the restart", ...during];
  await eventually("caught up without a login", () => logTexts(page), sameAs(expected));
  assert.equal(await page.getByRole("button", { name: "Log in" }).isVisible(), false);
  await tcp.expect(201, "/sendMessage", "general", "live again");
  await eventually("live again", () => logTexts(page), sameAs([...expected, "live again"]));
  tcp.close();
});

/**
 * A TCP proxy on 127.0.0.1 to `target` (`host:port`) whose `cut` stops
 * passing bytes, both ways, on the connections open then, closing nothing:
 * a link gone silent (a laptop asleep, a NAT forgetting it). Connections
 * made after pass again.
 */
async function cuttableProxy(t, target) {
  const url = new URL(`http://${target}`);
  const links = [];
  const control = {
    /** While true, a WebSocket's opening request is answered by closing it. */
    refuseWebSockets: false,
  };
  const proxy = net.createServer((client) => {
    if (control.refuseWebSockets) {
      client.once("data", (bytes) => {
        if (bytes.toString("latin1").startsWith("GET /ws")) client.destroy();
        else link(client, bytes);
      });
    } else {
      link(client);
    }
  });
  const link = (client, first) => {
    const upstream = net.connect(Number(url.port), url.hostname);
    const link = { cut: false, client, upstream };
    links.push(link);
    if (first) upstream.write(first);
    client.on("data", (bytes) => link.cut || upstream.write(bytes));
    upstream.on("data", (bytes) => link.cut || client.write(bytes));
    for (const [one, other] of [[client, upstream], [upstream, client]]) {
      one.on("error", () => {});
      one.on("close", () => other.destroy());
    }
  };
  proxy.listen(0, "127.0.0.1");
  await once(proxy, "listening");
  t.after(() => {
    for (const link of links) link.client.destroy();
    proxy.close();
  });
  return {
    url: `http://127.0.0.1:${proxy.address().port}/`,
    control,
    cut() {
      for (const link of links) link.cut = true;
    },
  };
}

/**
 * Once the way to the server is open again: "Reconnect now", unless the
 * page's own retry comes first (the button goes while a retry is under
 * way, and for good once one succeeds, so a click alone can miss it).
 */
async function connectedAgain(page) {
  const now = page.getByRole("button", { name: "Reconnect now" });
  const connected = page.getByRole("status").filter({ hasText: "Connected" });
  await eventually(
    "connected again",
    async () => {
      if (await now.isVisible()) await now.click({ timeout: 500 }).catch(() => {});
      return (await connected.count()) > 0;
    },
    Boolean,
  );
}

/**
 * alice's page in `general` through a `cuttableProxy` to `server`, the
 * page's liveness waits shortened (in seconds, not tens of seconds).
 */
async function aliceThroughProxy(t, open, server) {
  const proxy = await cuttableProxy(t, server.webAddr);
  const { context, page } = await open.browser(proxy.url);
  await context.addInitScript(() => {
    window.PIPECHAT_LIVENESS = { quietMs: 3000, waitedMs: 500, pingAnswerMs: 1500, checkEveryMs: 200 };
  });
  await page.reload();
  await logInThroughPage(page, "alice");
  await joinThroughPage(page, "general");
  return { proxy, page };
}

test("a link gone silent is noticed: the message comes back to its box, and the page reconnects and catches up", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const writer = await memberOf(open, server, "writer", ["general"]);
  const { proxy, page } = await aliceThroughProxy(t, open, server);
  await writer.expect(201, "/sendMessage", "general", "before the cut");
  await eventually("the page has it", () => logTexts(page), sameAs(["before the cut"]));

  proxy.cut();
  await writer.expect(201, "/sendMessage", "general", "while the link was cut");
  const box = page.getByLabel("Message", { exact: true });
  await box.fill("into the void");
  await box.press("Enter");
  await page.getByRole("status").filter({ hasText: "Sending…" }).waitFor();
  // Given up (the offline moment between is too short to wait for).
  await page.getByRole("alert").filter({ hasText: "It may have been sent: the connection was lost before the server answered." }).waitFor();
  assert.equal(await box.inputValue(), "into the void");
  assert.equal(await page.locator("#sending").isVisible(), false);

  await page.getByRole("status").filter({ hasText: "Connected" }).waitFor();
  await eventually("caught up", () => logTexts(page), sameAs(["before the cut", "while the link was cut"]));
  // The room read again on reconnecting keeps the sentence for the user to read.
  assert.match(await page.locator("#room-error").textContent(), /^It may have been sent: the connection was lost/);
  await box.press("Enter");
  await eventually("sent once back", () => logTexts(page), sameAs(["before the cut", "while the link was cut", "into the void"]));
  const stored = await writer.expect(200, "/fetchMessages", "general");
  assert.deepEqual(
    stored.map((m) => m.text),
    ["before the cut", "while the link was cut", "into the void"],
  );
});

test("after an outage the open room shows where what came meanwhile begins, scrolled there", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const writer = await memberOf(open, server, "writer", ["general"]);
  for (let i = 1; i <= 30; i++) await writer.expect(201, "/sendMessage", "general", `before ${i}`);
  const { proxy, page } = await aliceThroughProxy(t, open, server);
  await eventually("the room", () => logTexts(page), (texts) => texts.at(-1) === "before 30");

  proxy.control.refuseWebSockets = true;
  proxy.cut();
  await page.getByRole("status").filter({ hasText: /Offline|Reconnecting/ }).waitFor();
  // More than one page (100) of the latest messages.
  for (let i = 1; i <= 150; i++) await writer.expect(201, "/sendMessage", "general", `away ${i}`);
  proxy.control.refuseWebSockets = false;
  await connectedAgain(page);

  const line = page.getByRole("log").getByText("New while you were away");
  await line.waitFor();
  const around = await line.evaluate((node) => [
    node.previousElementSibling.querySelector(".text").textContent,
    node.nextElementSibling.querySelector(".text").textContent,
  ]);
  assert.deepEqual(around, ["before 30", "away 1"]);
  // In the log's scrolled view, not only on the page.
  const inSight = (text) =>
    page.getByRole("log").getByText(text, { exact: true }).evaluate((node) => {
      const seen = node.closest("[role=log]").getBoundingClientRect();
      const at = node.getBoundingClientRect();
      return at.top >= seen.top && at.bottom <= seen.bottom;
    });
  assert.equal(await inSight("away 1"), true, "the first message of the outage is in sight");
  assert.equal(await inSight("away 150"), false, "the newest is further down");
  // Not seen yet: all of them unread, until scrolled to.
  await page.getByRole("button", { name: /^general 150 unread/ }).waitFor();
  await page.getByRole("log").getByText("away 150", { exact: true }).scrollIntoViewIfNeeded();
  await eventually("read once scrolled to", () => page.getByRole("button", { name: /unread/ }).count(), (n) => n === 0);
  const texts = await logTexts(page);
  assert.equal(new Set(texts).size, texts.length, "each message once");
  assert.ok(texts.indexOf("before 30") + 151 === texts.length, "all of the outage, in order, after the last seen");
});

/** Whether `text`'s message is within the log's scrolled view, not only on the page. */
function inSightOf(page) {
  return (text) =>
    page.getByRole("log").getByText(text, { exact: true }).evaluate((node) => {
      const seen = node.closest("[role=log]").getBoundingClientRect();
      const at = node.getBoundingClientRect();
      return at.top >= seen.top && at.bottom <= seen.bottom;
    });
}

/** The texts of the messages either side of `line` in the log. */
const around = (line) =>
  line.evaluate((node) => [
    node.previousElementSibling.querySelector(".text").textContent,
    node.nextElementSibling.querySelector(".text").textContent,
  ]);

test("opening a room with unread messages shows where they begin, scrolled there, read once scrolled to", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const writer = await memberOf(open, server, "writer", ["general", "team"]);
  const carol = await open.tcp(server);
  await carol.registerAndLogin("carol");
  for (const room of ["general", "team"]) await carol.expect(200, "/joinChatroom", room);
  for (let i = 1; i <= 20; i++) await writer.expect(201, "/sendMessage", "team", `read ${i}`);
  // Sending moves one's read position: one's own message is never unread.
  await carol.expect(201, "/sendMessage", "team", "my reply");
  for (let i = 1; i <= 30; i++) await writer.expect(201, "/sendMessage", "team", `unread ${i}`);
  const { page, problems } = await open.browser(server.url);
  await logInThroughPage(page, "carol", { register: false });
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await page.getByRole("button", { name: /^team 30 unread/ }).click();

  const line = page.getByRole("log").getByText("New since you last read", { exact: true });
  await line.waitFor();
  assert.deepEqual(await around(line), ["my reply", "unread 1"]);
  const inSight = inSightOf(page);
  assert.equal(await inSight("unread 1"), true, "the first unread message is in sight");
  assert.equal(await inSight("unread 30"), false, "the newest is further down");
  await eventually("heard", () => heard(page), (text) => text.includes("30 unread messages, shown from the first."));
  // Not read yet: still counted, on the page and on the server.
  await page.getByRole("button", { name: /^team 30 unread/ }).waitFor();
  const [team] = (await carol.expect(200, "/getUnread")).filter((entry) => entry.room === "team");
  assert.equal(team.unread, 30);
  // From the log, the arrow keys go to the first unread message.
  await page.getByRole("log").focus();
  await page.keyboard.press("ArrowDown");
  assert.equal(await page.evaluate(() => document.activeElement.querySelector(".text")?.textContent), "unread 1");

  // Read once scrolled to; the line stays while the room is open, also
  // when another message comes.
  await page.getByRole("log").getByText("unread 30", { exact: true }).scrollIntoViewIfNeeded();
  await eventually("read once scrolled to", () => page.getByRole("button", { name: /unread/ }).count(), (n) => n === 0);
  await eventually(
    "marked read on the server",
    async () => (await carol.expect(200, "/getUnread")).find((entry) => entry.room === "team").unread,
    (n) => n === 0,
  );
  await writer.expect(201, "/sendMessage", "team", "one more");
  await eventually("the live message", () => logTexts(page), (texts) => texts.at(-1) === "one more");
  assert.deepEqual(await around(line), ["my reply", "unread 1"]);

  // Opened again with nothing unread: no line, at the newest, as ever.
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await page.getByRole("button", { name: /^team/ }).click();
  await page.getByRole("heading", { name: "team", exact: true }).waitFor();
  await eventually("the room", () => logTexts(page), (texts) => texts.at(-1) === "one more");
  await eventually("at the newest", () => inSight("one more"), Boolean);
  assert.equal(await page.locator(".log-divider").count(), 0);

  // With the line on screen, left and joined again with nothing unread:
  // the line does not come back.
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await writer.expect(201, "/sendMessage", "team", "unread again");
  await page.getByRole("button", { name: /^team 1 unread/ }).click();
  await line.waitFor();
  await page.getByRole("log").getByText("unread again", { exact: true }).scrollIntoViewIfNeeded();
  await eventually("read", () => page.getByRole("button", { name: /unread/ }).count(), (n) => n === 0);
  await page.getByRole("button", { name: "Leave", exact: true }).click();
  await page.getByRole("button", { name: "Join", exact: true }).click();
  await page.getByLabel("Message").waitFor();
  await eventually("the room again", () => logTexts(page), (texts) => texts.at(-1) === "unread again");
  assert.equal(await page.locator(".log-divider").count(), 0);
  assert.deepEqual(problems, []);
});

test("a direct conversation with more unread messages than a page opens at the first of them", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const bob = await memberOf(open, server, "bob", []);
  const carol = await memberOf(open, server, "carol", ["general"]);
  const seen = await bob.expect(201, "/sendMessage", "@carol", "seen already");
  await carol.expect(200, "/markRead", "@bob", String(seen.id));
  // More than the latest 100 that a conversation opens with.
  for (let i = 1; i <= 150; i++) await bob.expect(201, "/sendMessage", "@carol", `dm ${i}`);
  const { page, problems } = await open.browser(server.url, { width: 390, height: 844 });
  await logInThroughPage(page, "carol", { register: false });
  // At phone width the strip under the top bar names who wrote and opens it.
  await page.getByRole("button", { name: /^Direct messages from bob 150 unread$/ }).click();
  const line = page.getByRole("log").getByText("New since you last read", { exact: true });
  await line.waitFor();
  assert.deepEqual(await around(line), ["seen already", "dm 1"]);
  const inSight = inSightOf(page);
  assert.equal(await inSight("dm 1"), true, "the first unread message is in sight");
  assert.equal(await inSight("dm 150"), false, "the newest is further down");
  // Still unread: the title counts them; "Chatrooms" counts chatrooms' only.
  await eventually("the title", () => page.title(), (title) => title === "(150) bob (direct) – pipechat");
  assert.equal(await page.getByRole("button", { name: "Chatrooms", exact: true }).count(), 1);
  const texts = await logTexts(page);
  assert.deepEqual(texts.slice(texts.indexOf("seen already")), ["seen already", ...Array.from({ length: 150 }, (_, i) => `dm ${i + 1}`)]);
  assert.deepEqual(problems, []);
});

test("a page whose WebSocket cannot connect shows the login form saying so, and logs in once it can", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const proxy = await cuttableProxy(t, server.webAddr);
  proxy.control.refuseWebSockets = true;
  const { page } = await open.browser(proxy.url);
  const note = page.locator("#login-error");
  await eventually("the note", () => note.textContent(), (text) => text.startsWith("The server cannot be reached yet."));
  assert.ok(await page.getByLabel("Username").isVisible());
  proxy.control.refuseWebSockets = false;
  await connectedAgain(page);
  await eventually("the note gone", () => note.textContent(), (text) => text === "");
  await logInThroughPage(page, "alice");
});

test("at phone width the chatrooms sit behind a Chatrooms button", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const tcp = await memberOf(open, server, "bob", ["general"]);
  await tcp.expect(201, "/sendMessage", "general", "Phones work too. Long lines wrap instead of overflowing the screen sideways.");
  const phone = await open.browser(server.url, { width: 390, height: 780 });
  const { page } = phone;
  await logInThroughPage(page, "alice");
  await page.getByRole("button", { name: /^general/ }).waitFor({ state: "hidden" });
  await page.getByRole("button", { name: "Chatrooms" }).click();
  await joinThroughPage(page, "general");
  await sendThroughPage(page, "from my phone");
  await eventually("the log", () => logTexts(page), (t) => t.at(-1) === "from my phone");
  for (const name of ["Send", "Log out", "Chatrooms"]) {
    assert.ok(await page.getByRole("button", { name, exact: true }).isVisible(), name);
  }
  assert.ok(await page.getByLabel("Search").isVisible());
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  assert.equal(overflow, false, "the page scrolls sideways");
  await page.screenshot({ path: path.join(ROOT, "docs", "web-client-phone.png") });
  assert.deepEqual(phone.problems, []);
});

test("after a reconnection the open room shows what changed meanwhile, also when it was only fetched", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const writer = await memberOf(open, server, "writer", ["quiet"]);
  await writer.expect(201, "/sendMessage", "quiet", "kept");
  const doomed = await writer.expect(201, "/sendMessage", "quiet", "deleted while away");
  const browser = await open.browser(server.url);
  const { page } = browser;
  await logInThroughPage(page, "reader");
  await joinThroughPage(page, "quiet");
  await eventually("fetched, none pushed", () => logTexts(page), sameAs(["kept", "deleted while away"]));
  // Offline until the changes are made, so that none of them is pushed.
  await browser.context.setOffline(true);
  assert.equal(await server.stop(), 0);
  await server.restart();
  const again = await server.tcp();
  await again.expect(200, "/login", "writer", passwordOf("writer"));
  await again.expect(200, "/deleteMessage", String(doomed.id));
  await again.expect(201, "/sendMessage", "quiet", "sent while away");
  await browser.context.setOffline(false);
  await eventually("caught up", () => logTexts(page), sameAs(["kept", "sent while away"]));
  again.close();
  assert.deepEqual(browser.problems, []);
});

test("logging out leaves nothing of the user on the page for the next one", async (t) => {
  const { browser, page } = await onePage(t, "alice");
  await createRoomThroughPage(page, "general");
  await sendThroughPage(page, "a secret plan");
  await page.getByLabel("Search").fill("secret");
  await page.getByLabel("Search").press("Enter");
  await page.getByRole("button", { name: /a secret plan/ }).waitFor();
  await page.getByLabel("Message", { exact: true }).fill("an unsent draft");
  await page.getByRole("button", { name: "Log out" }).click();
  await logInThroughPage(page, "bob");
  assert.equal(await page.getByRole("button", { name: /a secret plan/ }).count(), 0);
  assert.equal(await page.getByLabel("Search").inputValue(), "");
  assert.equal(await page.locator("#message").inputValue(), "");
  assert.deepEqual(browser.problems, []);
});

test("a password change in another session sends the page back to the login form", async (t) => {
  const { open, server, browser, page } = await onePage(t, "carol");
  await createRoomThroughPage(page, "general");
  const elsewhere = await open.tcp(server);
  await elsewhere.expect(200, "/login", "carol", passwordOf("carol"));
  await elsewhere.expect(200, "/changePassword", passwordOf("carol"), "a new password 1");
  await sendThroughPage(page, "are you there?");
  await page.getByRole("button", { name: "Log in" }).waitFor();
  // No newer login on this device to speak of: the page's own was for this tab only.
  assert.equal(
    await page.locator("#login-error").textContent(),
    "You were logged out (was your password changed in another session?). Log in again.",
  );
  assert.deepEqual(browser.problems, []);
});

test("a room's owner deletes anyone's message from the page, and only there", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url);
  const { page } = browser;
  const bob = await memberOf(open, server, "bob", ["bobs"]);
  await bob.expect(201, "/sendMessage", "bobs", "bob in his own room");
  await logInThroughPage(page, "owner");
  await createRoomThroughPage(page, "mine");
  await bob.expect(200, "/joinChatroom", "mine");
  await bob.expect(201, "/sendMessage", "mine", "from bob, out of line");
  await eventually("bob's message", () => logTexts(page), sameAs(["from bob, out of line"]));
  const message = page.getByRole("log").locator(".msg").first();
  assert.equal(await message.getByRole("button", { name: "Edit" }).count(), 0, "only its author edits");
  await message.getByRole("button", { name: "Delete" }).click();
  await message.getByRole("button", { name: "Yes, delete" }).click();
  await eventually("deleted", () => logTexts(page), sameAs([]));
  // Not the owner of bob's room: no Delete on his messages there.
  await joinThroughPage(page, "bobs");
  await eventually("bob's room", () => logTexts(page), sameAs(["bob in his own room"]));
  assert.equal(await page.getByRole("log").getByRole("button", { name: "Delete" }).count(), 0);
  assert.deepEqual(browser.problems, []);
});

test("what you read in another client stops counting as unread when the page comes back", async (t) => {
  const { open, server, browser, page } = await onePage(t, "dana");
  const { sent } = await oneUnreadInRandom(open, server, page, "erin", "read me elsewhere");
  // Dana reads it in another client; no event tells the page.
  const elsewhere = await open.tcp(server);
  await elsewhere.expect(200, "/login", "dana", passwordOf("dana"));
  await elsewhere.expect(200, "/markRead", "random", String(sent.id));
  await page.evaluate(() => window.dispatchEvent(new Event("focus")));
  await eventually(
    "the badge goes",
    () => page.getByRole("button", { name: /^random/ }).textContent(),
    (text) => !/unread/.test(text),
  );
  assert.deepEqual(browser.problems, []);
});

test("coming back into view while reconnecting keeps the saved login", async (t) => {
  const { server, browser, page } = await onePage(t, "alice", { remember: true, room: "general" });
  // The page comes back into view right after the reconnection's /help,
  // before its /resume has logged it in again.
  await page.evaluate(() => {
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      send.call(this, data);
      if (String(data).startsWith("/help")) window.dispatchEvent(new Event("focus"));
    };
  });
  assert.equal(await server.stop(), 0);
  await page.getByRole("status").filter({ hasText: /Offline|Reconnecting/ }).waitFor();
  await server.restart();
  await page.getByRole("status").filter({ hasText: "Connected" }).waitFor();
  await page.getByRole("button", { name: "Log out" }).waitFor();
  assert.ok(await page.evaluate(() => localStorage.getItem("pipechat.token") !== null));
  await page.reload();
  await page.getByRole("button", { name: "Log out" }).waitFor();
  assert.deepEqual(browser.problems, []);
});

test("a draft stays with its conversation: switching rooms never sends it to another", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice");
  const bob = await open.tcp(server);
  await bob.registerAndLogin("bob");
  await createRoomThroughPage(page, "general");
  await createRoomThroughPage(page, "random");
  const box = page.getByLabel("Message", { exact: true });
  await box.fill("for random only");
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  assert.equal(await box.inputValue(), "", "random's draft is in general's box");
  // A direct conversation has its own too.
  await page.getByLabel("Write to (user name)").fill("bob");
  await page.getByRole("button", { name: "Open", exact: true }).click();
  await page.getByRole("heading", { name: "bob (direct)" }).waitFor();
  assert.equal(await box.inputValue(), "");
  await box.fill("a private word for bob");
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  assert.equal(await box.inputValue(), "", "bob's draft is in general's box");
  await sendThroughPage(page, "hello general");
  await eventually("sent in general", () => logTexts(page), sameAs(["hello general"]));
  // Each draft is back where it was typed; a sent one is gone.
  await page.getByRole("button", { name: /^random/ }).click();
  await page.getByRole("heading", { name: "random", exact: true }).waitFor();
  assert.equal(await box.inputValue(), "for random only");
  await page.getByRole("button", { name: /^@bob/ }).click();
  await page.getByRole("heading", { name: "bob (direct)" }).waitFor();
  assert.equal(await box.inputValue(), "a private word for bob");
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  assert.equal(await box.inputValue(), "");
  assert.deepEqual(browser.problems, []);
});

test("a member sets and clears a room's topic from the page", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice");
  await createRoomThroughPage(page, "general");
  const bob = await open.tcp(server);
  await bob.registerAndLogin("bob");
  await bob.expect(200, "/joinChatroom", "general");
  await bob.expect(200, "/subscribe", "general");
  const topicButton = page.getByRole("button", { name: "Topic", exact: true });
  await topicButton.click();
  const box = page.getByLabel("Topic of general");
  await box.fill("Deploys on Fridays: <b>never</b>");
  await box.press("Enter");
  await page.locator("#room-topic").filter({ hasText: "Deploys on Fridays: <b>never</b>" }).waitFor();
  await bob.waitForEvent((e) => e.event === "topic" && e.data.topic === "Deploys on Fridays: <b>never</b>");
  // The pushed event can show the topic before the reply closes the form.
  await box.waitFor({ state: "hidden" });
  assert.equal(await page.locator("#room-topic b").count(), 0);
  // Escape leaves it as it was, back on the button.
  await topicButton.click();
  assert.equal(await box.inputValue(), "Deploys on Fridays: <b>never</b>");
  await box.fill("not this");
  await box.press("Escape");
  assert.equal(await box.isVisible(), false);
  assert.equal(await page.evaluate(() => document.activeElement.id), "topic-button");
  assert.equal(await page.locator("#room-topic").textContent(), "Deploys on Fridays: <b>never</b>");
  // Emptied, it clears the topic.
  await topicButton.click();
  await box.fill("");
  await page.getByRole("button", { name: "Save topic" }).click();
  await eventually("cleared", () => page.locator("#room-topic").textContent(), (text) => text === "");
  const info = await bob.expect(200, "/getRoomInfo", "general");
  assert.equal(info.topic, "");
  assert.deepEqual(browser.problems, []);
});

test("a topic set or cleared by someone else leaves a line in the log, said politely, not counted unread", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice", { room: "general" });
  const bob = await memberOf(open, server, "bob", []);
  await bob.expect(200, "/joinChatroom", "general");
  await bob.expect(201, "/sendMessage", "general", "hi all");
  await eventually("bob's message", () => logTexts(page), sameAs(["hi all"]));
  const lines = () => page.getByRole("log").locator(".log-event").allTextContents();
  await bob.expect(200, "/setTopic", "general", "Standup at 10, <b>sharp</b>");
  // Bob's joining left its line first.
  const joined = "* bob joined general";
  await eventually("the line", lines, sameAs([joined, "* bob set the topic: Standup at 10, <b>sharp</b>"]));
  await page.locator("#room-topic").filter({ hasText: "Standup at 10" }).waitFor();
  await eventually("heard", () => heard(page), (text) => text.includes("bob set the topic: Standup at 10, <b>sharp</b>"));
  await bob.expect(200, "/setTopic", "general", "");
  await eventually("cleared", lines, sameAs([joined, "* bob set the topic: Standup at 10, <b>sharp</b>", "* bob cleared the topic"]));
  await eventually("heard", () => heard(page), (text) => text.includes("bob cleared the topic"));
  // After the message, in order; no message of its own, nothing unread, no markup made.
  const order = await page.getByRole("log").evaluate((log) => [...log.querySelectorAll(".msg, .log-event")].map((n) => n.className));
  assert.deepEqual(order, ["log-event", "msg", "log-event", "log-event"]);
  assert.deepEqual(await logTexts(page), ["hi all"]);
  assert.equal(await page.title(), "general – pipechat");
  assert.equal(await page.locator("#sidebar .badge").count(), 0);
  assert.equal(await page.getByRole("log").locator("b").count(), 0);
  // A message after it comes after it.
  await bob.expect(201, "/sendMessage", "general", "thanks");
  await eventually("after", () => logTexts(page), sameAs(["hi all", "thanks"]));
  const after = await page.getByRole("log").evaluate((log) => [...log.querySelectorAll(".msg, .log-event")].map((n) => n.className));
  assert.deepEqual(after, ["log-event", "msg", "log-event", "log-event", "msg"]);
  assert.deepEqual(browser.problems, []);
});

test("About shows a room's owner, age, counts and how long messages are kept, kept current; the owner is marked among members", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice");
  await createRoomThroughPage(page, "general");
  const bob = await memberOf(open, server, "bob", []);
  await bob.expect(200, "/joinChatroom", "general");
  await bob.expect(201, "/sendMessage", "general", "one");
  await bob.expect(201, "/sendMessage", "general", "two");
  await eventually("bob's messages", () => logTexts(page), sameAs(["one", "two"]));
  // The owner is marked in the member list, and only the owner.
  await page.getByRole("button", { name: /^Members/ }).click();
  const members = page.getByRole("region", { name: "Members of this chatroom" });
  await eventually("members", () => members.locator("li").allTextContents(), (m) => m.length === 2);
  const [first, second] = await members.locator("li").allTextContents();
  assert.match(first, /^alice \(owner\)/);
  assert.doesNotMatch(second, /owner/);
  const about = page.getByRole("button", { name: "About", exact: true });
  assert.equal(await about.getAttribute("aria-expanded"), "false");
  await about.click();
  assert.equal(await about.getAttribute("aria-expanded"), "true");
  const panel = page.getByRole("region", { name: "About this chatroom" });
  const facts = () => panel.locator("dl").evaluate((dl) => [...dl.querySelectorAll("dt")].map((dt) => `${dt.textContent}: ${dt.nextElementSibling.textContent}`));
  await eventually("the room's facts", facts, (f) => f.includes("Owner: alice") && f.includes("Members: 2") && f.includes("Messages: 2") && f.includes("Messages kept: forever"));
  const created = await panel.locator("time").getAttribute("datetime");
  assert.equal(created, (await bob.expect(200, "/getRoomInfo", "general")).created_at);
  // Joins, exits and messages while it is open change it.
  const carol = await memberOf(open, server, "carol", []);
  await carol.expect(200, "/joinChatroom", "general");
  await carol.expect(201, "/sendMessage", "general", "three");
  await eventually("carol counted", facts, (f) => f.includes("Members: 3") && f.includes("Messages: 3"));
  await carol.expect(200, "/exitChatroom", "general");
  await eventually("carol gone", facts, (f) => f.includes("Members: 2"));
  // Escape closes it, back on its button.
  await panel.getByLabel("Retention in days").focus();
  await page.keyboard.press("Escape");
  await panel.waitFor({ state: "hidden" });
  assert.equal(await page.evaluate(() => document.activeElement.id), "about-button");
  assert.deepEqual(browser.problems, []);
});

test("the owner sets how long messages are kept, confirming a shortening; others only see it", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const bob = await memberOf(open, server, "bob", ["random"]);
  await bob.expect(200, "/setRetention", "random", "7");
  const browser = await open.browser(server.url);
  const { page } = browser;
  await logInThroughPage(page, "alice");
  await createRoomThroughPage(page, "general");
  await bob.expect(200, "/joinChatroom", "general");
  const retention = async (room) => (await bob.expect(200, "/getRoomInfo", room)).retention_days;
  await page.getByRole("button", { name: "About", exact: true }).click();
  const panel = page.getByRole("region", { name: "About this chatroom" });
  const kept = panel.locator("#about-retention");
  await kept.filter({ hasText: "forever" }).waitFor();
  const box = panel.getByLabel("Retention in days");
  assert.equal(await box.inputValue(), "0");
  assert.match(await panel.textContent(), /deleted within the hour and cannot be recovered/);
  // Shortening asks first; "Keep as is" (or Escape) changes nothing.
  await box.fill("30");
  await box.press("Enter");
  const yes = panel.getByRole("button", { name: "Yes, shorten" });
  await yes.waitFor();
  assert.match(await panel.locator("#retention-confirm").textContent(), /older than 30 days.*cannot be recovered/);
  await page.keyboard.press("Escape");
  await yes.waitFor({ state: "hidden" });
  assert.equal(await page.evaluate(() => document.activeElement.id), "retention-input");
  assert.equal(await retention("general"), 0);
  await panel.getByRole("button", { name: "Save retention" }).click();
  await yes.click();
  await kept.filter({ hasText: "30 days" }).waitFor();
  assert.equal(await retention("general"), 30);
  assert.equal(await page.evaluate(() => document.activeElement.id), "retention-input");
  // Longer, or forever, deletes nothing: no question.
  await box.fill("0");
  await box.press("Enter");
  await kept.filter({ hasText: "forever" }).waitFor();
  assert.equal(await retention("general"), 0);
  // The server's sentence for a refused value.
  await box.fill("36501");
  await box.press("Enter");
  await eventually("refused", () => panel.getByRole("alert").textContent(), (text) => /Days must be from 0 \(keep forever\) to 36500\.$/.test(text));
  assert.equal(await retention("general"), 0);

  // A room of someone else's: the value, no control; read again at each opening.
  await joinThroughPage(page, "random");
  const about = page.getByRole("button", { name: "About", exact: true });
  await about.click();
  await kept.filter({ hasText: "7 days" }).waitFor();
  assert.equal(await panel.getByRole("textbox", { name: "Retention in days" }).count(), 0);
  assert.equal(await panel.getByRole("button", { name: "Save retention" }).count(), 0);
  assert.match(await panel.textContent(), /Only bob, its owner, can change/);
  await about.click();
  await bob.expect(200, "/setRetention", "random", "1");
  await about.click();
  await kept.filter({ hasText: "1 day" }).waitFor();
  assert.deepEqual(browser.problems, []);
});

test("search results mark the words found, as text, and show a long message around them", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice");
  await createRoomThroughPage(page, "ops");
  const bob = await open.tcp(server);
  await bob.registerAndLogin("bob");
  await bob.expect(200, "/joinChatroom", "ops");
  const filler = "lorem ipsum dolor sit amet ".repeat(70);
  await bob.expect(201, "/sendMessage", "ops", `${filler}and then the DEPLOYMENT finished. ${filler}`);
  await bob.expect(201, "/sendMessage", "ops", "<img src=x onerror=alert(1)> café <b>deploy</b> now");
  await bob.expect(201, "/sendMessage", "ops", "nothing to see: a category, not a cat");
  await page.getByLabel("Search").fill("cafe deplo*");
  await page.getByLabel("Search").press("Enter");
  const results = page.locator("#search-list li");
  await eventually("one result", () => results.count(), (n) => n === 1);
  assert.deepEqual(await results.locator("mark").allTextContents(), ["café", "deploy"]);
  assert.equal(await results.first().locator(".text").textContent(), "<img src=x onerror=alert(1)> café <b>deploy</b> now");
  assert.equal(await page.locator("#search-list img, #search-list b").count(), 0, "markup from a user became elements");

  await page.getByLabel("Search").fill("deplo*");
  await page.getByLabel("Search").press("Enter");
  await eventually("two results", () => results.count(), (n) => n === 2);
  // The long one (newest first: second) shows where the word is, not the
  // first lines of almost four thousand characters.
  const long = results.nth(1).locator(".text");
  assert.deepEqual(await long.locator("mark").allTextContents(), ["DEPLOYMENT"]);
  const shown = await long.textContent();
  assert.ok(shown.length < 400, `${shown.length} characters shown`);
  assert.match(shown, /^….*and then the DEPLOYMENT finished\..*…$/);
  assert.ok(await long.locator("mark").isVisible());

  await page.getByLabel("Search").fill("cat");
  await page.getByLabel("Search").press("Enter");
  await eventually("the cat", () => results.locator("mark").allTextContents(), sameAs(["cat"]));

  // An edited message says so among the results too.
  const [cat] = await bob.expect(200, "/search", "cat");
  await bob.expect(200, "/editMessage", String(cat.id), "nothing to see: a category, not a cat (really)");
  await page.getByLabel("Search").press("Enter");
  await eventually("the edit found", () => results.locator(".text").textContent(), (text) => text.includes("(really)"));
  assert.equal(await results.locator(".text .edited").textContent(), "(edited)");
  assert.deepEqual(browser.problems, []);
});

test("a reply with /msg from a room clears that conversation's unread count at once", async (t) => {
  const { open, server, page } = await onePage(t, "carol", { room: "general" });
  const alice = await open.tcp(server);
  await alice.registerAndLogin("alice");
  await alice.expect(201, "/sendMessage", "@carol", "are you there?");
  await page.getByRole("button", { name: /^@alice 1 unread/ }).waitFor();
  await sendThroughPage(page, "/msg alice yes, here");
  // Sooner than the list's refresh (every 10 s) would.
  await eventually(
    "no unread",
    () => page.getByRole("button", { name: /unread/ }).count(),
    (n) => n === 0,
    { within: 3000 },
  );
});

test("a new chatroom's name is taken without the spaces around it", async (t) => {
  const { browser, page } = await onePage(t, "alice");
  await page.getByRole("button", { name: "New chatroom" }).click();
  await page.getByLabel("Chatroom name").fill("  team room ");
  await page.getByLabel("Chatroom name").press("Enter");
  await page.getByRole("heading", { name: "team room", exact: true }).waitFor();
  assert.equal(await page.locator("#new-room-error").textContent(), "");
  assert.deepEqual(browser.problems, []);
});

test("a send that fails comes back before what was typed after it, which is kept", async (t) => {
  const { server, browser, page } = await onePage(t, "alice", { remember: true, room: "general" });
  // From the reload on, the page's WebSocket goes through this route: the
  // first /sendMessage is held, and the socket is closed once more is typed.
  let holding = true;
  let pageSide = null;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => {
      if (holding && String(message).startsWith("/sendMessage|")) {
        holding = false;
        pageSide = ws;
        return;
      }
      server.send(message);
    });
    server.onMessage((message) => ws.send(message));
  });
  await page.reload();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  const box = page.getByLabel("Message", { exact: true });
  await box.fill("the first one");
  await box.press("Enter");
  await eventually("the send is held", () => pageSide !== null, (held) => held);
  await box.fill("typed after it");
  await pageSide.close();
  await eventually("both are in the box", () => box.inputValue(), (value) => value === "the first one\ntyped after it");
  // Sent, its answer lost with the connection: it may have been stored.
  assert.match(await page.locator("#room-error").textContent(), /^It may have been sent: the connection was lost/);
  assert.deepEqual(browser.problems, []);
});

test("the error under \"Write to\" goes when the name is edited or another place is opened", async (t) => {
  const { browser, page } = await onePage(t, "alice", { room: "general" });
  await createRoomThroughPage(page, "random");
  const field = page.getByLabel("Write to (user name)");
  const error = page.getByRole("alert").filter({ hasText: "user 'nosuchuser' does not exist" });
  const failToWrite = async () => {
    await field.fill("nosuchuser");
    await field.press("Enter");
    await error.waitFor();
  };
  // Another room opened.
  await failToWrite();
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await error.waitFor({ state: "detached" });
  // A search.
  await failToWrite();
  await page.getByLabel("Search").fill("anything");
  await page.getByLabel("Search").press("Enter");
  await page.getByRole("button", { name: "Close results" }).waitFor();
  await error.waitFor({ state: "detached" });
  await page.getByRole("button", { name: "Close results" }).click();
  // The name edited.
  await failToWrite();
  await field.press("Backspace");
  await error.waitFor({ state: "detached" });
  assert.equal(await page.locator("#dm-error").textContent(), "");
  assert.deepEqual(browser.problems, []);
});

test("logging out says so on the login form, not as an error, until the next thing typed", async (t) => {
  const { browser, page } = await onePage(t, "alice");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in" }).waitFor();
  const said = page.locator("#login-error");
  assert.equal(await said.textContent(), "You are logged out.");
  assert.ok(await said.isVisible());
  const colours = await page.evaluate(() => {
    const probe = document.createElement("p");
    probe.className = "error";
    document.getElementById("login-form").append(probe);
    const red = getComputedStyle(probe).color;
    probe.remove();
    return { red, said: getComputedStyle(document.getElementById("login-error")).color };
  });
  assert.notEqual(colours.said, colours.red, "said in the colour of an error");
  await page.getByLabel("Username").fill("b");
  assert.equal(await said.textContent(), "");
  // An error is still an error, in red, and stays while typing.
  await page.getByRole("button", { name: "Log in" }).click();
  assert.equal(await said.textContent(), "Enter a username and a password.");
  assert.equal(await said.evaluate((node) => getComputedStyle(node).color), colours.red);
  await page.getByLabel("Username").fill("bo");
  assert.equal(await said.textContent(), "Enter a username and a password.");
  assert.deepEqual(browser.problems, []);
});

test("the login form tells the rules of a new username and password beside the fields", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url);
  const { page } = browser;
  await page.getByLabel("Username").waitFor();
  // What a screen reader says of each field after its label, and whether it shows.
  const described = (id) =>
    page.evaluate((id) => {
      const field = document.getElementById(id);
      const ids = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
      // The hint, and the form's error once there is one.
      const notes = ids.map((i) => document.getElementById(i)).filter((n) => n && n.textContent.trim());
      return { text: notes.map((n) => n.textContent).join(" "), shown: notes.length > 0 && notes.every((n) => n.checkVisibility()) };
    }, id);
  const name = await described("username");
  assert.equal(name.shown, true);
  assert.match(name.text, /1 to 32/);
  assert.match(name.text, /A–Z a–z 0–9 _ \. -/);
  const password = await described("password");
  assert.equal(password.shown, true);
  assert.match(password.text, /at least 8 characters/);
  // Registering as they say works.
  await logInThroughPage(page, "new_user.1-x");
  assert.deepEqual(browser.problems, []);
});

test("old error notes go when they no longer apply, and stay while the input is being fixed", async (t) => {
  const { browser, page } = await onePage(t, "alice", { room: "general" });
  await createRoomThroughPage(page, "random");
  const note = page.locator("#room-note");
  // A room that exists already: the note goes with the next thing done in it.
  await page.getByRole("button", { name: "New chatroom" }).click();
  await page.getByLabel("Chatroom name").fill("general");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  await note.getByText("general exists already.").waitFor();
  await sendThroughPage(page, "after the note");
  await eventually("the note gone after a message", () => note.textContent(), (text) => text === "");
  // A name refused: the error stays while the name is being fixed, and goes
  // when the form is closed, or another conversation opened.
  const error = page.locator("#new-room-error");
  const refuse = async () => {
    if (await page.getByLabel("Chatroom name").isHidden()) await page.getByRole("button", { name: "New chatroom" }).click();
    await page.getByLabel("Chatroom name").fill("x".repeat(65));
    await page.getByRole("button", { name: "Create", exact: true }).click();
    await error.getByText("64 characters").waitFor();
  };
  await refuse();
  await page.getByLabel("Chatroom name").press("Backspace");
  assert.match(await error.textContent(), /64 characters/);
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("button", { name: "New chatroom" }).click();
  assert.equal(await error.textContent(), "");
  await refuse();
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  assert.equal(await error.textContent(), "");
  // Asked again for a room that exists: the same note, gone when joining.
  await page.getByLabel("Chatroom name").fill("random");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  await note.getByText("random exists already.").waitFor();
  await page.getByRole("button", { name: "New chatroom" }).click();
  assert.equal(await note.textContent(), "");
  assert.deepEqual(browser.problems, []);
});

test("a refusal under Change password scrolls into view in a sidebar taller than the window", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice", { room: "general" });
  // Eleven more rooms (a filter box comes only after twelve): the sidebar scrolls.
  await memberOf(open, server, "bob", Array.from({ length: 11 }, (_, i) => `room-${i + 1}`));
  await page.getByRole("button", { name: /^room-11/ }).waitFor();
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByLabel("Current password").fill("not-my-password-1");
  await page.getByLabel("New password", { exact: true }).fill("another-password-1");
  await page.getByLabel("New password again").fill("another-password-1");
  await page.getByRole("button", { name: "Change", exact: true }).click();
  const error = page.locator("#password-error");
  await error.getByText("wrong", { exact: false }).waitFor();
  const inSight = () =>
    page.evaluate(() => {
      const side = document.getElementById("sidebar").getBoundingClientRect();
      const said = document.getElementById("password-error").getBoundingClientRect();
      // Within a pixel: the sidebar's height has fractions.
      return { scrolls: document.getElementById("sidebar").scrollHeight > side.height + 100, top: said.top >= side.top, bottom: said.bottom <= side.bottom + 1 };
    });
  await eventually("the error in sight", inSight, sameAs({ scrolls: true, top: true, bottom: true }));
  assert.deepEqual(browser.problems, []);
});

test("a login reopens the conversation the user last had open on this device, never another user's", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice", { room: "alpha" });
  await createRoomThroughPage(page, "beta");
  const heading = (name) => page.getByRole("heading", { name, exact: true });
  const logOutAndIn = async (username, { register = false, remember = true } = {}) => {
    await page.getByRole("button", { name: "Log out" }).click();
    await logInThroughPage(page, username, { register, remember });
  };
  // Without "Keep me logged in" (a shared computer) nothing is kept.
  await logOutAndIn("alice");
  await heading("alpha").waitFor();
  await page.getByRole("button", { name: /^beta/ }).click();
  await heading("beta").waitFor();
  // With it, the last room, not the first one listed.
  await logOutAndIn("alice");
  await heading("beta").waitFor();
  // Bob, in both rooms, on the same browser: the first room, not alice's.
  await logOutAndIn("bob", { register: true });
  await joinThroughPage(page, "alpha");
  await joinThroughPage(page, "beta");
  await page.getByRole("button", { name: /^alpha/ }).click();
  await logOutAndIn("alice");
  await heading("beta").waitFor();
  // A direct conversation.
  await page.getByLabel("Write to (user name)").fill("bob");
  await page.getByLabel("Write to (user name)").press("Enter");
  await heading("bob (direct)").waitFor();
  await sendThroughPage(page, "hi bob");
  await eventually("sent", () => logTexts(page), sameAs(["hi bob"]));
  await logOutAndIn("alice");
  await heading("bob (direct)").waitFor();
  // A room left meanwhile (in another client): the first room again.
  await page.getByRole("button", { name: /^beta/ }).click();
  await heading("beta").waitFor();
  await page.getByRole("button", { name: "Log out" }).click();
  const tcp = await open.tcp(server);
  await tcp.expect(200, "/login", "alice", passwordOf("alice"));
  await tcp.expect(200, "/exitChatroom", "beta");
  await logInThroughPage(page, "alice", { register: false });
  await heading("alpha").waitFor();
  // Bob's choice was his own.
  await logOutAndIn("bob");
  await heading("alpha").waitFor();
  assert.deepEqual(browser.problems, []);
});

test("About gives the day a room was created without the year when it is this one", async (t) => {
  const { browser, page } = await onePage(t, "alice", { room: "general" });
  await page.getByRole("button", { name: "About" }).click();
  const created = page.locator("#about-created");
  await created.filter({ hasText: /\d/ }).waitFor();
  const text = await created.textContent();
  assert.ok(!text.includes(String(new Date().getFullYear())), text);
  assert.match(text, new RegExp(String(new Date().getDate())));
  assert.deepEqual(browser.problems, []);
});

test("with registration closed the login page offers no Register and says who makes accounts", async (t) => {
  const open = scene(t);
  const server = await open.server({ args: ["--registration", "closed"] });
  const tcp = await open.tcp(server);
  const browser = await open.browser(server.url);
  const { page } = browser;
  await page.getByLabel("Username").waitFor();
  assert.equal(await page.getByRole("button", { name: "Register" }).count(), 0);
  assert.equal(await page.getByText("To register").count(), 0);
  await page.getByText("New accounts are made by this server's operator").waitFor();
  // The fields are described by no rule of a registration.
  for (const id of ["username", "password"]) {
    const described = await page.evaluate((id) => {
      const ids = document.getElementById(id).getAttribute("aria-describedby").split(/\s+/);
      return ids.map((i) => document.getElementById(i)?.textContent || "").join(" ");
    }, id);
    assert.doesNotMatch(described, /register/i);
  }
  // Logging in is as ever (the account from the operator: here refused over the wire).
  assert.equal((await tcp.request("/register", "alice", passwordOf("alice"))).status, 403);
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("Password", { exact: true }).fill(passwordOf("alice"));
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator("#login-error").filter({ hasText: /\w/ }).waitFor();
  assert.deepEqual(browser.problems, []);
});

test("at phone width Delete's question comes first, its answers in a row after it", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice", { room: "general" });
  const bob = await open.tcp(server);
  await bob.registerAndLogin("a_rather_long_name_bob");
  await bob.expect(200, "/joinChatroom", "general");
  await bob.expect(201, "/sendMessage", "general", "a message alice may delete as the owner");
  await sendThroughPage(page, "her own");
  await eventually("both shown", () => logTexts(page), (texts) => texts.length === 2);
  await page.setViewportSize({ width: 390, height: 844 });
  for (const message of await page.getByRole("log").locator(".msg").all()) {
    await message.focus();
    await message.getByRole("button", { name: "Delete", exact: true }).click();
    const question = message.getByText("Delete this message?");
    await question.waitFor();
    const yes = message.getByRole("button", { name: "Yes, delete" });
    const keep = message.getByRole("button", { name: "Keep" });
    const [q, y, k] = await Promise.all([question, yes, keep].map((n) => n.boundingBox()));
    // The question before its answers (above them, or on their line to their left).
    assert.ok(q.y + q.height <= y.y + 1 || (Math.abs(q.y + q.height / 2 - (y.y + y.height / 2)) < 4 && q.x < y.x), JSON.stringify({ q, y }));
    assert.ok(Math.abs(y.y - k.y) < 2 && y.x < k.x, JSON.stringify({ y, k }));
    // No button of the message's own above the question.
    for (const button of await message.locator(".msg-actions > button").all()) {
      assert.equal(await button.isVisible(), false);
    }
    await keep.click();
    await expectFocusOn(page, message.getByRole("button", { name: "Delete", exact: true }));
  }
  assert.deepEqual(browser.problems, []);
});

/** Waits until `locator` has the focus. */
async function expectFocusOn(page, locator) {
  await eventually("the focus", () => locator.evaluate((node) => node === document.activeElement), Boolean);
}
