// What the page shows: long texts stay inside the screen, the newest
// message stays in view, unread counts follow deletions and a hidden tab,
// right-to-left text reads right to left.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  contrast,
  createRoomThroughPage,
  eventually,
  joinThroughPage,
  logInThroughPage,
  logTexts,
  luminance,
  memberOf,
  onePage,
  oneUnreadInRandom,
  passwordOf,
  reloadLoggedInWatching,
  sameAs,
  scene,
  sendThroughPage,
} from "./harness.mjs";

/** Whether the page scrolls sideways, and where `selector`'s right edge is. */
function overflow(page, selector) {
  return page.evaluate((selector) => {
    const node = document.querySelector(selector);
    return {
      scrolls: document.documentElement.scrollWidth > window.innerWidth,
      right: node ? Math.ceil(node.getBoundingClientRect().right) : null,
      width: window.innerWidth,
    };
  }, selector);
}

const inside = (box) => !box.scrolls && box.right !== null && box.right <= box.width;

/** Pretends the tab is hidden (`true`) or shown again (`false`). */
function setHidden(page, hidden) {
  return page.evaluate((hidden) => {
    window.pretendHidden = hidden;
    if (!window.pretending) {
      window.pretending = true;
      Object.defineProperty(document, "visibilityState", {
        configurable: true,
        get: () => (window.pretendHidden ? "hidden" : "visible"),
      });
      Object.defineProperty(document, "hidden", { configurable: true, get: () => window.pretendHidden });
    }
    document.dispatchEvent(new Event("visibilitychange"));
  }, hidden);
}

/** `username`'s unread count in `room`, as the server has it. */
async function serverUnread(tcp, room) {
  const reply = await tcp.request("/getUnread");
  const entry = reply.data.find((e) => e.room === room);
  return entry ? entry.unread : null;
}

test("long topics, names and queries wrap instead of pushing the page sideways", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const dan = await memberOf(open, server, "dan", ["general"]);
  await dan.expect(200, "/setTopic", "general", "T".repeat(390));
  await dan.createAndJoin("links");
  await dan.expect(200, "/setTopic", "links", `Deploy notes: https://example.org/${"a".repeat(120)} and more after the link`);
  const longRoom = "Q".repeat(64);
  await dan.createAndJoin(longRoom);
  const longName = "carol_the_very_long_username_32x";
  assert.equal(longName.length, 32);
  const phone = await open.browser(server.url, { width: 375, height: 740 });
  const { page } = phone;
  await logInThroughPage(page, longName);
  for (const room of ["general", "links"]) {
    await page.getByRole("button", { name: "Chatrooms" }).click();
    await joinThroughPage(page, room);
    await page.locator("#room-topic").filter({ hasText: /\w/ }).waitFor();
    for (const width of [375, 1280]) {
      await page.setViewportSize({ width, height: 740 });
      await eventually(`${room} at ${width} px: Leave on screen`, () => overflow(page, "#leave-button"), inside);
    }
    await page.setViewportSize({ width: 375, height: 740 });
  }
  // The note about a room one is not in, with a 64-character name.
  await page.getByRole("button", { name: "Chatrooms" }).click();
  await page.getByRole("button", { name: new RegExp(`^${longRoom}`) }).click();
  await page.getByText("You are not a member of").waitFor();
  await eventually("the long room's note", () => overflow(page, "#room-note"), inside);
  // A search for one long word: "Close results" stays on screen.
  await page.getByLabel("Search").fill("supercalifragilisticexpialidocious");
  await page.getByLabel("Search").press("Enter");
  await page.getByRole("button", { name: "Close results" }).waitFor();
  await eventually("Close results on screen", () => overflow(page, "#search-close"), inside);
  await page.getByRole("button", { name: "Close results" }).click();
  // Just above phone width, a 32-character name leaves the search box usable.
  await page.setViewportSize({ width: 701, height: 740 });
  await eventually(
    "a usable search box",
    async () => Math.round((await page.getByLabel("Search").boundingBox()).width),
    (width) => width >= 120,
  );
  // Long names in "Active now" end in an ellipsis and keep their dot.
  const active = await page.evaluate((name) => {
    const item = [...document.querySelectorAll("#active-list li")].find((li) => li.textContent.includes(name));
    const [dot, label] = item.children;
    return {
      dot: Math.round(dot.getBoundingClientRect().width),
      ellipsis: getComputedStyle(label).textOverflow,
      inside: label.getBoundingClientRect().right <= document.querySelector("#sidebar").getBoundingClientRect().right,
    };
  }, longName);
  assert.deepEqual(active, { dot: Math.round(0.55 * 16), ellipsis: "ellipsis", inside: true });
  assert.deepEqual(phone.problems, []);
});

test("at phone width a room with a topic opens with its newest message in view", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const dan = await memberOf(open, server, "dan", ["general"]);
  await dan.expect(200, "/setTopic", "general", "Weekly sync every Monday 10:00, agenda in the shared doc, notes go to the wiki page for the team");
  for (let i = 1; i <= 30; i++) await dan.expect(201, "/sendMessage", "general", `general message ${i}`);
  const phone = await open.browser(server.url, { width: 375, height: 667 });
  const { page } = phone;
  await logInThroughPage(page, "alice");
  await page.getByRole("button", { name: "Chatrooms" }).click();
  await joinThroughPage(page, "general");
  await page.locator("#room-topic").filter({ hasText: "Weekly sync" }).waitFor();
  await eventually(
    "the newest message in view",
    () =>
      page.evaluate(() => {
        const log = document.getElementById("log");
        const last = log.querySelector(".msg:last-of-type");
        return {
          text: last && last.querySelector(".text").textContent,
          below: Math.round(last ? last.getBoundingClientRect().bottom - log.getBoundingClientRect().bottom : 999),
        };
      }),
    (seen) => seen.text === "general message 30" && seen.below <= 1,
  );
  assert.deepEqual(phone.problems, []);
});

test("a long topic takes two lines at most until clicked, then shows whole", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const dan = await memberOf(open, server, "dan", ["general"]);
  const long = "Weekly sync every Monday at ten. ".repeat(9).trim();
  await dan.expect(200, "/setTopic", "general", long);
  const phone = await open.browser(server.url, { width: 390, height: 844 });
  const { page } = phone;
  await logInThroughPage(page, "alice");
  await page.getByRole("button", { name: "Chatrooms" }).click();
  await joinThroughPage(page, "general");
  const topic = page.locator("#room-topic");
  const lines = () =>
    topic.evaluate((p) => Math.round(p.getBoundingClientRect().height / parseFloat(getComputedStyle(p).lineHeight)));
  // The room is read again once joined (the topic shown before the join
  // goes, then comes back with the room's details).
  await eventually("two lines", lines, (n) => n === 2);
  // All of it is there, for a screen reader and in its title.
  assert.equal(await topic.textContent(), long);
  assert.equal(await topic.getAttribute("title"), long);
  await topic.click();
  await eventually("whole", lines, (n) => n > 2);
  await topic.click();
  await eventually("two lines again", lines, (n) => n === 2);
  assert.deepEqual(phone.problems, []);
});

test("a deleted unread message stops counting at once", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice");
  const { tcp: carol, sent } = await oneUnreadInRandom(open, server, page, "carol", "oops, wrong room");
  assert.equal(await page.title(), "(1) general – pipechat");
  await carol.expect(200, "/deleteMessage", String(sent.id));
  await eventually("no badge", () => page.title(), (title) => title === "general – pipechat");
  assert.equal(await page.getByRole("button", { name: /unread/ }).count(), 0);
  assert.deepEqual(browser.problems, []);
});

test("messages that arrive while the tab is hidden count as unread until it is shown", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice");
  await createRoomThroughPage(page, "general");
  const bob = await open.tcp(server);
  await bob.registerAndLogin("bob");
  await bob.expect(200, "/joinChatroom", "general");
  await bob.expect(201, "/sendMessage", "general", "seen");
  await eventually("seen", () => logTexts(page), (texts) => texts.includes("seen"));
  const alice = await open.tcp(server);
  await alice.expect(200, "/login", "alice", passwordOf("alice"));
  await eventually("read", () => serverUnread(alice, "general"), (n) => n === 0);
  await setHidden(page, true);
  for (let i = 1; i <= 2; i++) await bob.expect(201, "/sendMessage", "general", `while hidden ${i}`);
  await eventually("both arrived", () => logTexts(page), (texts) => texts.at(-1) === "while hidden 2");
  await eventually("the title counts them", () => page.title(), (title) => title === "(2) general – pipechat");
  await page.getByRole("button", { name: /^general 2 unread/ }).waitFor();
  assert.equal(await serverUnread(alice, "general"), 2, "marked read while hidden");
  await setHidden(page, false);
  await eventually("the title clears", () => page.title(), (title) => title === "general – pipechat");
  await eventually("marked read once seen", () => serverUnread(alice, "general"), (n) => n === 0);
  assert.deepEqual(browser.problems, []);
});

test("someone joining or leaving the open room leaves a line in its log, as in the console", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice");
  await createRoomThroughPage(page, "general");
  const bob = await open.tcp(server);
  await bob.registerAndLogin("bob");
  await bob.expect(200, "/joinChatroom", "general");
  await bob.expect(201, "/sendMessage", "general", "hello");
  await bob.expect(200, "/exitChatroom", "general");
  const lines = () => page.locator("#log .log-event").allTextContents();
  await eventually("both lines", lines, (texts) => texts.includes("* bob left general"));
  assert.deepEqual(await lines(), ["* bob joined general", "* bob left general"]);
  assert.deepEqual(browser.problems, []);
});

test("right-to-left messages and topics read right to left", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice");
  await createRoomThroughPage(page, "general");
  await sendThroughPage(page, "hello, how are you?");
  await sendThroughPage(page, "מה שלומך?");
  const bob = await open.tcp(server);
  await bob.registerAndLogin("bob");
  await bob.expect(200, "/joinChatroom", "general");
  await bob.expect(200, "/setTopic", "general", "שיחה כללית!");
  await page.locator("#room-topic").filter({ hasText: "שיחה" }).waitFor();
  await eventually("both", () => logTexts(page), (texts) => texts.length === 2);
  const directions = await page.evaluate(() => ({
    messages: [...document.querySelectorAll("#log .msg .text")].map((n) => getComputedStyle(n).direction),
    topic: getComputedStyle(document.getElementById("room-topic")).direction,
  }));
  assert.deepEqual(directions, { messages: ["ltr", "rtl"], topic: "rtl" });
  // Search results too, edited or not: right to left, from the right edge.
  const sent = await bob.expect(201, "/sendMessage", "general", "שלומך טוב");
  await bob.expect(200, "/editMessage", String(sent.id), "שלומך טוב מאוד");
  await page.getByLabel("Search").fill("שלומך");
  await page.getByLabel("Search").press("Enter");
  await page.locator("#search-results-title").filter({ hasText: "2 results" }).waitFor();
  const hits = await page.evaluate(() =>
    [...document.querySelectorAll("#search-list .text")].map((node) => {
      const words = document.createRange();
      words.selectNodeContents(node.firstChild);
      return {
        direction: getComputedStyle(node).direction,
        edited: node.querySelector(".edited") !== null,
        // Where its words end: at the right of its box (but its padding).
        fromRight: Math.abs(
          Math.round(node.getBoundingClientRect().right - parseFloat(getComputedStyle(node).paddingRight) - words.getBoundingClientRect().right),
        ),
      };
    }),
  );
  assert.deepEqual(hits, [
    { direction: "rtl", edited: true, fromRight: 0 },
    { direction: "rtl", edited: false, fromRight: 0 },
  ]);
  assert.deepEqual(browser.problems, []);
});

/**
 * What is wrong with how the element `locator` names lays out its text:
 * text of the page's own (outside every isolating element within it) that
 * holds a bidirectional formatting character, or whose characters are not
 * placed left to right along their line; or none of it on screen.
 */
function bidiProblems(locator) {
  return locator.evaluate((root) => {
    const isolating = (node) => ["isolate", "isolate-override", "plaintext"].includes(getComputedStyle(node).unicodeBidi);
    const problems = [];
    let measured = 0;
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      let inIsolate = false;
      for (let up = node.parentElement; up && up !== root; up = up.parentElement) inIsolate ||= isolating(up);
      if (inIsolate) continue;
      if (/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(node.data)) problems.push(`not isolated: ${JSON.stringify(node.data)}`);
      let last = null;
      for (let i = 0; i < node.length; i++) {
        if (/\s/.test(node.data[i])) continue;
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const box = range.getBoundingClientRect();
        if (box.width === 0) continue;
        measured += 1;
        if (last && Math.abs(box.top - last.top) < 2 && box.left < last.left) {
          problems.push(`${JSON.stringify(node.data[i])} of ${JSON.stringify(node.data)} shows left of what comes before it`);
          break;
        }
        last = box;
      }
    }
    if (measured === 0) problems.push(`nothing of ${root.id || root.className} shown`);
    return problems;
  });
}

test("bidirectional formatting characters in a room's name, a topic or a query reorder none of the page's words", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice", { room: "general" });
  const bob = await open.tcp(server);
  await bob.registerAndLogin("bob");
  // U+202E shows what follows it right to left. The second name begins by
  // ending an isolate it did not open: the one the page puts it in, which
  // would let its U+202E out to the words after it.
  const rooms = ["\u202Eevil room", "\u2069\u202Eout"];
  const shown = (room) => room.replace(/^\u2069/, "");
  for (const room of rooms) await createRoomThroughPage(page, room);
  const entryOf = (room) => page.locator("#room-list button").filter({ hasText: shown(room) });
  for (const [i, room] of rooms.entries()) {
    await entryOf(room).click();
    await page.getByRole("heading", { name: room, exact: true }).waitFor();
    assert.equal(await page.title(), `\u2068${shown(room)}\u2069 – pipechat`);
    // "Topic of …"
    await page.getByRole("button", { name: "Topic", exact: true }).click();
    assert.deepEqual(await bidiProblems(page.locator("#topic-label")), []);
    await page.keyboard.press("Escape");
    // "* bob joined …", "* bob set the topic: …"
    await bob.expect(200, "/joinChatroom", room);
    const joined = page.locator(".log-event").filter({ hasText: "bob joined" });
    await joined.waitFor();
    assert.deepEqual(await bidiProblems(joined), []);
    await bob.expect(200, "/setTopic", room, `\u202Etopic ${i}, then more`);
    const topicSet = page.locator(".log-event").filter({ hasText: "bob set the topic" });
    await topicSet.waitFor();
    assert.deepEqual(await bidiProblems(topicSet), []);
    // "Keep only the last 30 days of …? Messages older than …"
    await page.getByRole("button", { name: "About", exact: true }).click();
    const panel = page.getByRole("region", { name: "About this chatroom" });
    await panel.locator("#about-retention").filter({ hasText: "forever" }).waitFor();
    await panel.getByLabel("Retention in days").fill("30");
    await panel.getByLabel("Retention in days").press("Enter");
    await panel.getByRole("button", { name: "Yes, shorten" }).waitFor();
    assert.deepEqual(await bidiProblems(page.locator("#retention-question")), []);
    await panel.getByRole("button", { name: "Keep as is" }).click();
    await page.getByRole("button", { name: "About", exact: true }).click();
    // A search result: "… · bob · 12:34"
    await bob.expect(201, "/sendMessage", room, `word${i} from bob`);
    await page.getByLabel("Search").fill(`word${i}`);
    await page.getByLabel("Search").press("Enter");
    const where = page.locator("#search-list .where").first();
    await where.waitFor();
    assert.deepEqual(await bidiProblems(where), []);
    await page.getByRole("button", { name: "Close results" }).click();
    // "You are not a member of …. Join it to read and write here."
    await page.getByRole("button", { name: "Leave", exact: true }).click();
    await page.getByRole("button", { name: "Join", exact: true }).waitFor();
    assert.deepEqual(await bidiProblems(page.locator("#room-note")), []);
    // "… exists already. You are not a member of …"
    await page.getByRole("button", { name: "New chatroom" }).click();
    await page.getByLabel("Chatroom name").fill(room);
    await page.getByRole("button", { name: "Create", exact: true }).click();
    await page.locator("#room-note").filter({ hasText: "exists already" }).waitFor();
    assert.deepEqual(await bidiProblems(page.locator("#room-note")), []);
    await page.getByRole("button", { name: "Join", exact: true }).click();
    await page.getByRole("button", { name: "Leave", exact: true }).waitFor();
  }
  // A query's: "No results for “…”".
  await page.getByLabel("Search").fill("\u202Enothing here");
  await page.getByLabel("Search").press("Enter");
  await page.locator("#search-results-title").filter({ hasText: "No results" }).waitFor();
  assert.deepEqual(await bidiProblems(page.locator("#search-results-title")), []);
  await page.getByRole("button", { name: "Close results" }).click();
  // In the list, a room's unread count stays right of its name.
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  for (const room of rooms) {
    await bob.expect(201, "/sendMessage", room, "unread");
    const entry = entryOf(room).filter({ has: page.locator(".badge") });
    await entry.waitFor();
    assert.deepEqual(await bidiProblems(entry), []);
    const [name, badge] = await Promise.all([entry.locator(".name").boundingBox(), entry.locator(".badge").boundingBox()]);
    assert.ok(badge.x >= name.x + name.width, `the count at ${badge.x}, the name ends at ${name.x + name.width}`);
  }
  assert.deepEqual(browser.problems, []);
});

test("an action (/me waves) shows as a line about its author, and edits as typed", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice");
  await createRoomThroughPage(page, "general");
  await sendThroughPage(page, "/me waves");
  const bob = await open.tcp(server);
  await bob.registerAndLogin("bob");
  await bob.expect(200, "/joinChatroom", "general");
  await bob.expect(201, "/sendMessage", "general", "/me nods | twice");
  await bob.expect(201, "/sendMessage", "general", "/meh not an action");
  await eventually(
    "the three",
    () => logTexts(page),
    (texts) => texts.length === 3,
  );
  assert.deepEqual(await logTexts(page), ["* alice waves", "* bob nods | twice", "/meh not an action"]);
  const styles = await page.evaluate(() =>
    [...document.querySelectorAll("#log .msg .text")].map((n) => getComputedStyle(n).fontStyle),
  );
  assert.deepEqual(styles, ["italic", "italic", "normal"]);
  // Editing starts from the text as sent.
  await page.locator("#log .msg").first().getByRole("button", { name: "Edit" }).click();
  assert.equal(await page.getByLabel("Edited text").inputValue(), "/me waves");
  assert.deepEqual(browser.problems, []);
});

test("at phone width the Chatrooms button says when another room has unread messages", async (t) => {
  const { open, server, browser: phone, page } = await onePage(t, "alice", { size: { width: 390, height: 844 } });
  const menu = page.locator("#rooms-toggle");
  for (const name of ["general", "random"]) {
    await menu.click();
    await createRoomThroughPage(page, name);
  }
  const bob = await open.tcp(server);
  await bob.registerAndLogin("bob");
  await bob.expect(200, "/joinChatroom", "general");
  await bob.expect(201, "/sendMessage", "general", "over here, alice");
  // The room list is hidden behind the button: the button tells, in words too.
  await page.getByRole("button", { name: "Chatrooms, 1 unread" }).waitFor();
  assert.ok(await menu.locator(".badge").isVisible(), "no visible count on the Chatrooms button");
  await menu.click();
  await page.getByRole("button", { name: /^general 1 unread/ }).click();
  await eventually("read", () => logTexts(page), (texts) => texts.includes("over here, alice"));
  await eventually("the count goes", () => menu.textContent(), (text) => text === "Chatrooms");
  assert.equal(await page.getByRole("button", { name: "Chatrooms", exact: true }).count(), 1);
  assert.deepEqual(phone.problems, []);
});

test("at phone width a direct message is named under the top bar, not counted on Chatrooms, and opens from there", async (t) => {
  const { open, server, browser: phone, page } = await onePage(t, "alice", { size: { width: 390, height: 844 } });
  await page.locator("#rooms-toggle").click();
  await createRoomThroughPage(page, "general");
  const bob = await open.tcp(server);
  await bob.registerAndLogin("bob");
  await bob.expect(201, "/sendMessage", "@alice", "a word in private?");
  await bob.expect(201, "/sendMessage", "@alice", "when you have a minute");
  // In sight with the menu closed, right under the top bar, saying who wrote.
  const strip = page.locator("#direct-waiting");
  await page.getByRole("button", { name: /^Direct messages from bob 2 unread$/ }).waitFor();
  const [bar, box] = await Promise.all([page.locator(".topbar").boundingBox(), strip.boundingBox()]);
  assert.ok(box.y >= bar.y + bar.height - 1 && box.y < bar.y + bar.height + 20, `strip at ${box.y}, top bar ends at ${bar.y + bar.height}`);
  assert.ok(box.x >= 0 && box.x + box.width <= 390, "the strip is wider than the screen");
  // "Chatrooms" counts what waits in chatrooms (none): not a room's message.
  assert.equal(await page.locator("#rooms-toggle .badge").count(), 0);
  assert.equal(await page.getByRole("button", { name: "Chatrooms", exact: true }).count(), 1);
  // The tab's title counts everything, as on a desktop.
  assert.equal(await page.title(), "(2) general – pipechat");
  await strip.click();
  await page.getByRole("heading", { name: "bob (direct)", exact: true }).waitFor();
  await eventually("bob's messages", () => logTexts(page), (texts) => texts.includes("when you have a minute"));
  await strip.waitFor({ state: "hidden" });
  await eventually("read", () => page.title(), (title) => title === "bob (direct) – pipechat");
  // Unread in the open conversation (the tab hidden): the title counts it;
  // neither the strip (it is open) nor "Chatrooms" (not a room's).
  await setHidden(page, true);
  await bob.expect(201, "/sendMessage", "@alice", "are you there?");
  await eventually("counted", () => page.title(), (title) => title === "(1) bob (direct) – pipechat");
  assert.equal(await page.locator("#rooms-toggle .badge").count(), 0);
  assert.equal(await page.getByRole("button", { name: "Chatrooms", exact: true }).count(), 1);
  assert.equal(await strip.isVisible(), false);
  await setHidden(page, false);
  await eventually("read", () => page.title(), (title) => title === "bob (direct) – pipechat");

  // Another, while a room is open: one message, one sender.
  await page.locator("#rooms-toggle").click();
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await bob.expect(201, "/sendMessage", "@alice", "one more thing");
  await page.getByRole("button", { name: /^Direct message from bob 1 unread$/ }).waitFor();
  // A desktop shows it in the sidebar's list, as before: no strip.
  await page.setViewportSize({ width: 1280, height: 800 });
  await strip.waitFor({ state: "hidden" });
  assert.ok(await page.getByRole("button", { name: /^@bob 1 unread/ }).isVisible());
  assert.deepEqual(phone.problems, []);
});

test("a room's owner opens a long room at its first unread message, kept in sight, and it counts as read at the end", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const owner = await memberOf(open, server, "owner", ["busy"]);
  const bob = await open.tcp(server);
  await bob.registerAndLogin("bob");
  await bob.expect(200, "/joinChatroom", "busy");
  for (let i = 1; i <= 120; i++) await bob.expect(201, "/sendMessage", "busy", `bob says ${i}`);
  assert.equal(await serverUnread(owner, "busy"), 120);
  const browser = await open.browser(server.url, { width: 1280, height: 720 });
  const { page } = browser;
  await logInThroughPage(page, "owner", { register: false });
  const log = page.getByRole("log");
  await log.getByText("New since you last read", { exact: true }).waitFor();
  // The owner's Delete buttons on everyone's messages come once the page
  // knows who owns the room, after the messages are on screen: the first
  // unread message stays in sight under the line all the same.
  await log.getByRole("button", { name: "Delete", exact: true }).first().waitFor({ state: "attached" });
  const firstInSight = () =>
    page.evaluate(() => {
      const log = document.getElementById("log").getBoundingClientRect();
      const first = [...document.querySelectorAll("#log .text")].find((text) => text.textContent === "bob says 1");
      const box = first.getBoundingClientRect();
      return box.top >= log.top && box.bottom <= log.bottom;
    });
  await eventually("the first unread in sight", firstInSight, Boolean);
  assert.equal(await serverUnread(owner, "busy"), 120, "read before it was seen");
  await log.getByText("bob says 120", { exact: true }).scrollIntoViewIfNeeded();
  await eventually(
    "scrolled to the newest, all read",
    async () => ({
      below: await page.evaluate(() => {
        const log = document.getElementById("log");
        return log.scrollHeight - log.scrollTop - log.clientHeight;
      }),
      unread: await serverUnread(owner, "busy"),
      title: await page.title(),
    }),
    (seen) => seen.below <= 1 && seen.unread === 0 && seen.title === "busy – pipechat",
  );
  assert.deepEqual(browser.problems, []);
});

test("counts, focus rings, field borders and text stand out enough to see (WCAG AA), in light and dark colours", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice");
  await oneUnreadInRandom(open, server, page, "carol", "unread, to show a count");
  const measure = () =>
    page.evaluate(() => {
      // The colours, as computed, of what must stand out and what is
      // around it; their ratios are worked out here (contrast), not in the page.
      const pair = (a, b) => [a, b];
      const style = (node) => getComputedStyle(node);
      const badge = document.querySelector("#room-list .badge");
      const search = document.getElementById("search");
      search.focus({ focusVisible: true });
      const onWhite = pair(style(search).outlineColor, style(document.querySelector(".topbar")).backgroundColor);
      const room = document.querySelector("#room-list button");
      room.focus({ focusVisible: true });
      const onSidebar = pair(style(room).outlineColor, style(document.getElementById("sidebar")).backgroundColor);
      const box = document.getElementById("message");
      const roomView = style(document.getElementById("room-view")).backgroundColor;
      const pairs = {
        // Small bold text: 4.5:1.
        badge: pair(style(badge).color, style(badge).backgroundColor),
        // A focus ring and a field's edge: 3:1 against what is around them.
        onWhite,
        onSidebar,
        field: pair(style(box).borderTopColor, roomView),
        // Text and the dim text of times and notes: 4.5:1.
        text: pair(style(document.getElementById("room-name")).color, roomView),
        dim: pair(style(document.getElementById("composer-hint")).color, roomView),
      };
      return { pairs, roomView };
    });
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    const { pairs, roomView } = await measure();
    const ratios = Object.fromEntries(
      Object.entries(pairs).map(([name, [a, b]]) => [name, Math.round(contrast(a, b) * 100) / 100]),
    );
    const roomLuminance = luminance(roomView);
    const enough = Object.fromEntries(
      Object.entries(ratios).map(([name, r]) => [name, r >= (["onWhite", "onSidebar", "field"].includes(name) ? 3 : 4.5)]),
    );
    const all = Object.fromEntries(Object.keys(ratios).map((name) => [name, true]));
    assert.deepEqual(enough, all, `${scheme}: ${JSON.stringify(ratios)}`);
    // The dark colours are taken when the system asks for them.
    assert.equal(roomLuminance < 0.05, scheme === "dark", `${scheme}: the room's luminance is ${roomLuminance}`);
  }
  assert.deepEqual(browser.problems, []);
});

test("at phone width a long name, its buttons and the delete question fit the screen", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const phone = await open.browser(server.url, { width: 390, height: 844 });
  const { page } = phone;
  const longName = "a_rather_long_username_for_phone";
  await logInThroughPage(page, longName);
  await page.locator("#rooms-toggle").click();
  await createRoomThroughPage(page, "general");
  await sendThroughPage(page, "to be deleted, maybe");
  const message = page.locator("#log .msg").first();
  await message.waitFor();
  const fits = () =>
    page.evaluate(() => {
      const log = document.getElementById("log");
      const edge = log.getBoundingClientRect().right;
      const parts = [...log.querySelectorAll(".msg, .msg .sender, .msg button, .msg .confirm")];
      return {
        sideways: log.scrollWidth > log.clientWidth || document.documentElement.scrollWidth > window.innerWidth,
        outside: parts.filter((n) => n.getBoundingClientRect().right > edge + 0.5).map((n) => n.textContent.slice(0, 30)),
      };
    });
  assert.deepEqual(await fits(), { sideways: false, outside: [] });
  await message.getByRole("button", { name: "Delete" }).click();
  await message.getByRole("button", { name: "Yes, delete" }).waitFor();
  assert.deepEqual(await fits(), { sideways: false, outside: [] });
  await page.keyboard.press("Escape");
  assert.deepEqual(await fits(), { sideways: false, outside: [] });
  assert.deepEqual(phone.problems, []);
});

test("at phone width the room's buttons keep to one line, and About and its question fit the screen", async (t) => {
  const { browser: phone, page } = await onePage(t, "alice", { size: { width: 390, height: 780 } });
  await page.locator("#rooms-toggle").click();
  await createRoomThroughPage(page, "general");
  await page.getByRole("button", { name: "About", exact: true }).click();
  const box = page.getByLabel("Retention in days");
  await box.fill("30");
  await box.press("Enter");
  await page.getByRole("button", { name: "Yes, shorten" }).waitFor();
  const layout = await page.evaluate(() => {
    const header = document.getElementById("room-header");
    const edge = header.getBoundingClientRect().right - parseFloat(getComputedStyle(header).paddingRight);
    const buttons = [...document.querySelectorAll(".room-actions button:not([hidden])")];
    const parts = [...buttons, ...document.querySelectorAll("#about dd, #about button, #about input, #about p")];
    return {
      buttons: buttons.map((b) => b.textContent),
      lines: new Set(buttons.map((b) => Math.round(b.getBoundingClientRect().top))).size,
      sideways: document.documentElement.scrollWidth > window.innerWidth,
      outside: parts.filter((n) => n.getBoundingClientRect().right > edge + 0.5).map((n) => n.textContent.slice(0, 30)),
    };
  });
  assert.deepEqual(layout, { buttons: ["Topic", "Members (1)", "About", "Leave"], lines: 1, sideways: false, outside: [] });
  assert.deepEqual(phone.problems, []);
});

test("at phone width tabbing out of the open menu closes it, so the focus is in sight", async (t) => {
  const { browser: phone, page } = await onePage(t, "alice", { size: { width: 390, height: 844 } });
  const menu = page.locator("#rooms-toggle");
  await menu.click();
  await createRoomThroughPage(page, "general");
  await menu.press("Enter");
  const sidebar = page.getByRole("navigation", { name: "Chatrooms and conversations" });
  await sidebar.waitFor();
  await page.locator("#sidebar").evaluate((side) => [...side.querySelectorAll("button, input")].filter((n) => n.offsetParent).at(-1).focus());
  await page.keyboard.press("Tab");
  await sidebar.waitFor({ state: "hidden" });
  assert.equal(await menu.getAttribute("aria-expanded"), "false");
  // Whatever has the focus now is on screen, not under the menu.
  const seen = await page.evaluate(() => {
    const box = document.activeElement.getBoundingClientRect();
    const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return hit === document.activeElement || document.activeElement.contains(hit);
  });
  assert.ok(seen, "the focused control is covered");
  assert.deepEqual(phone.problems, []);
});

for (const hasTouch of [false, true]) {
  test(`at phone width a ${hasTouch ? "tap" : "click"} beside the open menu closes it, and does nothing else`, async (t) => {
    const { browser: phone, page } = await onePage(t, "alice", { size: { width: 390, height: 844, hasTouch } });
    const menu = page.locator("#rooms-toggle");
    const press = (where) => (hasTouch ? where.tap() : where.click());
    await press(menu);
    await createRoomThroughPage(page, "general");
    await press(menu);
    const sidebar = page.getByRole("navigation", { name: "Chatrooms and conversations" });
    await sidebar.waitFor();
    // The strip of the room still showing right of the menu, where "Leave" is.
    const leave = await page.getByRole("button", { name: "Leave" }).boundingBox();
    const menuBox = await sidebar.boundingBox();
    assert.ok(leave.x + leave.width > menuBox.x + menuBox.width + 5, "Leave is all under the menu");
    const [x, y] = [leave.x + leave.width - 4, leave.y + leave.height / 2];
    if (hasTouch) await page.touchscreen.tap(x, y);
    else await page.mouse.click(x, y);
    await sidebar.waitFor({ state: "hidden" });
    assert.equal(await menu.getAttribute("aria-expanded"), "false");
    assert.equal(await page.getByRole("button", { name: "Join", exact: true }).isVisible(), false, "the tap left the room");
    assert.ok(await page.getByRole("button", { name: "Leave" }).isVisible());
    assert.deepEqual(phone.problems, []);
  });
}

test("while offline the status says so once, not each second of the countdown", async (t) => {
  const { server, browser, page } = await onePage(t, "alice");
  assert.equal(await server.stop(), 0);
  const status = page.getByRole("status").and(page.locator("#connection"));
  // What shows and what is heard, read as one: a reading that straddles the
  // countdown's end (the status becomes "Reconnecting…") is not steady.
  const read = async () => {
    const heard = await status.ariaSnapshot();
    const shown = await status.textContent();
    return { shown, heard, steady: heard === (await status.ariaSnapshot()) };
  };
  // Wait for a countdown long enough to tick (the delays double), then for its tick.
  const counting = (s) => s.steady && /in \d+ s/.test(s.shown);
  const before = await eventually("a countdown of some seconds", read, (s) => counting(s) && /in [3-9]\d* s/.test(s.shown));
  const after = await eventually("the next second", read, (s) => counting(s) && s.shown !== before.shown);
  assert.match(before.heard, /Offline/);
  // What a screen reader hears (the live region's text) did not change.
  assert.equal(after.heard, before.heard);
  assert.deepEqual(browser.problems, []);
});

test("an outage is said once, not again at each try to reconnect", async (t) => {
  const { server, browser, page } = await onePage(t, "alice");
  await page.evaluate(() => {
    const box = document.getElementById("connection");
    window.outage = { said: [], tries: 0 };
    new MutationObserver(() => {
      const said = box.querySelector(".said")?.textContent;
      if (said && said !== window.outage.said.at(-1)) window.outage.said.push(said);
      if (box.dataset.state === "connecting") window.outage.tries += 1;
    }).observe(box, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  assert.equal(await server.stop(), 0);
  // The waits double from half a second: a few tries come within seconds.
  await eventually("two tries", () => page.evaluate(() => window.outage.tries), (n) => n >= 2);
  const { said } = await page.evaluate(() => window.outage);
  assert.equal(said.length, 1, JSON.stringify(said));
  assert.match(said[0], /^Offline.*Reconnecting$/);
  assert.deepEqual(browser.problems, []);
});

test("just above phone width a room's title and topic keep their width beside the buttons", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const dan = await memberOf(open, server, "dan", ["general"]);
  await dan.expect(200, "/setTopic", "general", "Weekly sync every Monday 10:00");
  const browser = await open.browser(server.url, { width: 720, height: 700 });
  const { page } = browser;
  await logInThroughPage(page, "alice");
  await joinThroughPage(page, "general");
  const topic = page.locator("#room-topic").filter({ hasText: "Weekly sync" });
  await topic.waitFor();
  await page.getByRole("button", { name: "Topic", exact: true }).waitFor();
  // One line, not a word a line in a column squeezed by Topic, Members, Leave.
  const box = await topic.boundingBox();
  assert.ok(box.height < 30, `the topic is ${box.height} px high`);
  assert.deepEqual(browser.problems, []);
});

/** Where the log is scrolled to, and whether it shows its newest message. */
function logScroll(page) {
  return page.getByRole("log").evaluate((log) => ({
    top: Math.round(log.scrollTop),
    atBottom: log.scrollHeight - log.scrollTop - log.clientHeight < 2,
  }));
}

test("new messages below a reader scrolled up: a button counts them, takes the reader down, and they are read", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const writer = await memberOf(open, server, "writer", ["long"]);
  for (let i = 1; i <= 60; i++) await writer.expect(201, "/sendMessage", "long", `line ${i}`);
  const browser = await open.browser(server.url, { width: 1000, height: 700 });
  const { page } = browser;
  await logInThroughPage(page, "reader");
  await joinThroughPage(page, "long");
  await eventually("the latest", () => logTexts(page), (texts) => texts.at(-1) === "line 60");
  const reader = await open.tcp(server);
  await reader.expect(200, "/login", "reader", passwordOf("reader"));
  await eventually("read at the bottom", () => serverUnread(reader, "long"), (n) => n === 0);
  const newBelow = page.getByRole("button", { name: /new messages?$/ });
  assert.equal(await newBelow.count(), 0);

  // Scrolled up to read: what arrives does not move the log, the button counts it.
  const scrollUp = () => page.getByRole("log").evaluate((log) => log.scrollTo(0, 200));
  await scrollUp();
  await writer.expect(201, "/sendMessage", "long", "new 1");
  await page.getByRole("button", { name: "1 new message", exact: true }).waitFor();
  await writer.expect(201, "/sendMessage", "long", "new 2");
  await page.getByRole("button", { name: "2 new messages", exact: true }).waitFor();
  assert.equal((await logScroll(page)).top, 200, "the log moved under the reader");
  assert.equal(await page.locator("#new-below-said").textContent(), "New messages below.");
  assert.equal(await serverUnread(reader, "long"), 2, "marked read while scrolled up");

  // The button takes the reader to the newest; it goes, and they are read.
  await newBelow.click();
  await newBelow.waitFor({ state: "hidden" });
  assert.ok((await logScroll(page)).atBottom);
  assert.equal(await page.locator("#new-below-said").textContent(), "");
  await eventually("read once seen", () => serverUnread(reader, "long"), (n) => n === 0);
  assert.notEqual(await focusedId(page), "", "the focus fell to the page");

  // Scrolling down by oneself does as much.
  await scrollUp();
  await writer.expect(201, "/sendMessage", "long", "new 3");
  await page.getByRole("button", { name: "1 new message", exact: true }).waitFor();
  await page.getByRole("log").evaluate((log) => log.scrollTo(0, log.scrollHeight));
  await newBelow.waitFor({ state: "hidden" });
  await eventually("read once scrolled down", () => serverUnread(reader, "long"), (n) => n === 0);

  // One's own messages (sent elsewhere) are not news.
  await scrollUp();
  const self = await open.tcp(server);
  await self.expect(200, "/login", "reader", passwordOf("reader"));
  await self.expect(201, "/sendMessage", "long", "mine, from the console");
  await eventually("mine arrived", () => logTexts(page), (texts) => texts.at(-1) === "mine, from the console");
  assert.equal(await newBelow.count(), 0);
  assert.deepEqual(browser.problems, []);
});

/** The id of what has the focus; "" for the page itself. */
function focusedId(page) {
  return page.evaluate(() => (document.activeElement === document.body ? "" : document.activeElement.id || "?"));
}

/** Whether `locator`'s box lies within the window and within `area`'s box. */
async function shownWithin(locator, area) {
  const [box, around] = await Promise.all([locator.boundingBox(), area.boundingBox()]);
  const height = await locator.page().evaluate(() => window.innerHeight);
  return Boolean(box && around) && box.y >= around.y - 1 && box.y + box.height <= Math.min(around.y + around.height, height) + 1;
}

test("many chatrooms: a filter above them, and the rest of the sidebar stays on screen", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const names = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => `room-${String(from + i).padStart(2, "0")}`);
  const alice = await memberOf(open, server, "alice", names(1, 12));
  const browser = await open.browser(server.url, { width: 1280, height: 720 });
  const { page } = browser;
  await logInThroughPage(page, "alice", { register: false });
  await page.getByRole("button", { name: "room-12", exact: true }).waitFor();
  const filter = page.getByLabel("Filter chatrooms");
  assert.equal(await filter.isVisible(), false, "a filter for twelve rooms");

  for (const name of names(13, 50)) await alice.createAndJoin(name);
  await memberOf(open, server, "bob", ["Café talk"]);
  await page.evaluate(() => window.dispatchEvent(new Event("focus")));
  await filter.waitFor();
  await page.getByRole("button", { name: "room-50", exact: true }).waitFor({ state: "attached" });
  // The rooms scroll in their own area; the sections under them stay on screen.
  const sidebar = page.getByRole("navigation");
  for (const below of [page.getByRole("heading", { name: "Active now" }), page.getByRole("button", { name: "Change password" })]) {
    assert.ok(await shownWithin(below, sidebar), `${await below.textContent()} is off screen`);
  }
  assert.ok(await page.locator("#rooms").evaluate((area) => area.scrollHeight > area.clientHeight + 100));

  // Typing filters, ignoring case and accents; other rooms too.
  const listed = () => page.locator("#rooms button").allTextContents();
  await filter.fill("CAFE");
  await eventually("the café", listed, sameAs(["Café talk (not joined)"]));
  await filter.fill("room-4");
  await eventually("room-4x", listed, sameAs(names(40, 49)));
  await filter.fill("no such room");
  await eventually("nothing", listed, sameAs([]));
  assert.equal(await page.locator("#room-filter-note").textContent(), "No chatroom matches “no such room”.");

  // By keyboard: Escape empties it, ↓ goes to the first room shown, Enter opens it.
  await filter.press("Escape");
  assert.equal(await filter.inputValue(), "");
  assert.equal((await listed()).length, 51);
  await filter.fill("room-3");
  await filter.press("ArrowDown");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "room-30");
  await filter.focus();
  await filter.fill("room-37");
  await filter.press("Enter");
  await page.getByRole("heading", { name: "room-37", exact: true }).waitFor();

  // Reloaded in the fortieth room, its entry shows in the list.
  await filter.fill("");
  await page.getByRole("button", { name: "room-45", exact: true }).click();
  await page.getByRole("heading", { name: "room-45", exact: true }).waitFor();
  await page.reload();
  await page.getByRole("heading", { name: "room-45", exact: true }).waitFor();
  const entry = page.getByRole("button", { name: "room-45", exact: true });
  await eventually("room-45 in view", () => shownWithin(entry, page.locator("#rooms")), (shown) => shown);
  assert.deepEqual(browser.problems, []);
});

test("many chatrooms: a room with unread messages out of sight in the list is pointed to", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const names = Array.from({ length: 40 }, (_, i) => `room-${String(i + 1).padStart(2, "0")}`);
  await memberOf(open, server, "alice", names);
  const bob = await memberOf(open, server, "bob", []);
  for (const name of ["room-02", "room-40"]) await bob.expect(200, "/joinChatroom", name);
  const browser = await open.browser(server.url, { width: 1280, height: 720 });
  const { page } = browser;
  await logInThroughPage(page, "alice", { register: false });
  await page.getByLabel("Filter chatrooms").waitFor();
  const hint = page.locator("#unread-hint");
  const sidebar = page.locator("#rooms");
  assert.equal(await hint.isVisible(), false, "a hint with nothing unread");

  // The last room, out of sight below: the hint points down and takes the reader there.
  await bob.expect(201, "/sendMessage", "room-40", "down here");
  await page.getByRole("button", { name: "Unread below" }).waitFor();
  const last = page.getByRole("button", { name: /^room-40 1 unread/ });
  assert.equal(await shownWithin(last, sidebar), false);
  await page.getByRole("button", { name: "Unread below" }).click();
  assert.ok(await shownWithin(last, sidebar), "room-40 is still out of sight");
  assert.equal(await last.evaluate((button) => button === document.activeElement), true);
  await hint.waitFor({ state: "hidden" });

  // The second room (the first is open), now scrolled out of sight above.
  await bob.expect(201, "/sendMessage", "room-02", "up here");
  await page.getByRole("button", { name: "Unread above" }).waitFor();
  // Scrolled up there by hand, the hint follows: room-40, still unread, is below now.
  await sidebar.evaluate((area) => area.scrollTo(0, 0));
  await page.getByRole("button", { name: "Unread below" }).waitFor();
  assert.deepEqual(browser.problems, []);

  // On a phone the list is behind "Chatrooms": opening it shows the hint.
  const phone = await open.browser(server.url, { width: 390, height: 780 });
  await logInThroughPage(phone.page, "alice", { register: false });
  await phone.page.getByRole("button", { name: /^Chatrooms/ }).click();
  await phone.page.getByRole("button", { name: "Unread below" }).waitFor();
  assert.deepEqual(phone.problems, []);
});

/** Whether two boxes (as `boundingBox` gives them) share some area. */
const overlap = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

test("the connection state covers nothing on a short window or a phone, however long its sentence", async (t) => {
  const open = scene(t);
  // Two connections at most: once restarted, two TCP clients fill the
  // server and the page is refused with a sentence that wraps.
  const server = await open.server({ args: ["--max-connections", "2"] });
  await memberOf(open, server, "alice", ["bob", "general", "padded", "study group"]);
  const browser = await open.browser(server.url, { width: 1000, height: 600 });
  const { page } = browser;
  await logInThroughPage(page, "dave");
  await joinThroughPage(page, "general");
  await page.getByRole("button", { name: "Leave" }).waitFor();
  const status = page.getByRole("status").and(page.locator("#connection"));
  assert.equal(await server.stop(), 0);
  // Restarted while the page waits some seconds, so that the clients come first.
  await eventually("a countdown of some seconds", () => status.textContent(), (s) => /in [3-9]\d* s/.test(s));
  await server.restart();
  await open.tcp(server);
  await open.tcp(server);
  await eventually("refused", () => status.textContent(), (s) => /^Offline \(the server is full.*\)\. Reconnecting in \d+ s…Reconnect now$/.test(s));

  const sidebar = page.locator("#sidebar");
  const notify = page.locator("label").filter({ hasText: "Notify me when someone writes to me directly" });
  for (const size of [{ width: 1000, height: 600 }, { width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    await page.setViewportSize(size);
    const phone = size.width < 700;
    if (phone) await page.getByRole("button", { name: "Chatrooms" }).click();
    for (const end of ["top", "bottom"]) {
      await sidebar.evaluate((s, end) => s.scrollTo(0, end === "top" ? 0 : s.scrollHeight), end);
      const where = `${size.width}×${size.height}, the sidebar scrolled to its ${end}`;
      const pill = await status.boundingBox();
      for (const [name, area] of [["sidebar", sidebar], ["room", page.locator("#room-view")]]) {
        const box = await area.boundingBox();
        assert.ok(box && !overlap(pill, box), `${where}: the state covers the ${name}: ${JSON.stringify({ pill, box })}`);
      }
      // Scrolled down, the last thing in the sidebar shows, uncovered.
      if (end === "bottom") {
        const [box, within] = [await notify.boundingBox(), await sidebar.boundingBox()];
        assert.ok(box.y >= within.y && box.y + box.height <= within.y + within.height, `${where}: the notify box is out of sight`);
        assert.ok(!overlap(pill, box), `${where}: the state covers the notify box: ${JSON.stringify({ pill, box })}`);
      }
      // All of it on screen, none of its sentence cut off.
      assert.ok(pill.y >= 0 && pill.y + pill.height <= size.height && pill.x + pill.width <= size.width, where);
      assert.ok(await status.evaluate((s) => s.scrollHeight <= s.clientHeight && s.scrollWidth <= s.clientWidth), where);
    }
    if (phone) await page.keyboard.press("Escape");
  }
  assert.deepEqual(browser.problems, []);
});

test("the room's error line starts where the message box does, on a desktop and a phone", async (t) => {
  const { browser, page } = await onePage(t, "alice", { room: "general" });
  await page.getByLabel("Message", { exact: true }).fill("x".repeat(5000));
  await page.getByRole("button", { name: "Send", exact: true }).click();
  const error = page.getByRole("alert").filter({ hasText: "A message has at most" });
  await error.waitFor();
  for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    await page.setViewportSize(size);
    const left = async (locator) => Math.round((await locator.boundingBox()).x);
    assert.equal(await left(error), await left(page.getByLabel("Message", { exact: true })), `at ${size.width} px`);
  }
  assert.deepEqual(browser.problems, []);
});

/** The line under "Chatrooms" when there is no chatroom, and when the user is in none of those there are. */
const NO_ROOM_AT_ALL = "You are in no chatroom yet. Chatrooms others make show here within seconds, for you to join; or make one with “New chatroom”.";
const NO_ROOM_OF_MINE = "You are in no chatroom yet. Join one of those below, or make a new one with “New chatroom”.";

test("in no chatroom, a line under \"Chatrooms\" says what to do, until one is joined", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url);
  const { page } = browser;
  await logInThroughPage(page, "dave");
  const sidebar = page.getByRole("navigation");
  const line = sidebar.locator("#no-rooms");
  // No chatroom on the server at all.
  await eventually("the line", () => line.textContent(), sameAs(NO_ROOM_AT_ALL));
  assert.ok(await line.isVisible());
  // It follows the heading, before any list.
  const order = await page.evaluate(() => {
    const heading = [...document.querySelectorAll("#sidebar h2")].find((h) => h.textContent === "Chatrooms");
    const line = document.getElementById("no-rooms");
    return Boolean(heading.compareDocumentPosition(line) & Node.DOCUMENT_POSITION_FOLLOWING);
  });
  assert.ok(order, "the line comes after the heading");
  // Another user's chatroom: one to pick below.
  await memberOf(open, server, "alice", ["general"]);
  await page.evaluate(() => window.dispatchEvent(new Event("focus")));
  await eventually("the line", () => line.textContent(), sameAs(NO_ROOM_OF_MINE));
  await joinThroughPage(page, "general");
  await line.waitFor({ state: "hidden" });
  await page.getByRole("button", { name: "Leave" }).click();
  await line.waitFor({ state: "visible" });
  // Joined again and reloaded: no line.
  await joinThroughPage(page, "general");
  await line.waitFor({ state: "hidden" });
  await page.reload();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  assert.equal(await line.isVisible(), false);
  assert.deepEqual(browser.problems, []);
});

test("a chatroom someone else makes is listed within the ten seconds of \"Active now\", not half a minute later", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url);
  const { page } = browser;
  await logInThroughPage(page, "dave");
  const line = page.locator("#no-rooms");
  await line.waitFor();
  // Made over TCP: no event tells the page, and it is not brought back into view.
  await memberOf(open, server, "alice", ["general"]);
  const listed = () => page.locator("#other-room-list button").allTextContents();
  await eventually("general listed", listed, sameAs(["general (not joined)"]), { within: 12_000 });
  assert.equal(await line.textContent(), NO_ROOM_OF_MINE);
  assert.deepEqual(browser.problems, []);
});

test("the list's refresh asks for the rooms and the counts, and subscribes only to rooms joined since", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const names = Array.from({ length: 30 }, (_, i) => `room-${String(i + 1).padStart(2, "0")}`);
  const alice = await memberOf(open, server, "alice", names);
  const bob = await memberOf(open, server, "bob", ["fresh"]);
  await bob.expect(200, "/joinChatroom", "room-01");
  const browser = await open.browser(server.url);
  const { page } = browser;
  const wire = await reloadLoggedInWatching(page, "alice", "room-01");
  const subscribes = (from) => wire.sent.slice(from).filter((line) => line.startsWith("/subscribe|")).sort();
  // The login subscribes to every room joined, and to direct messages.
  assert.deepEqual(subscribes(0), ["/subscribe|@", ...names.map((name) => `/subscribe|${name}`)]);

  // Two refreshes (every 10 s while the tab is in view): the list and the
  // counts, no subscription again.
  const from = wire.sent.length;
  const refreshes = () => wire.sent.slice(from).filter((line) => line === "/getAllChatrooms").length;
  await eventually("two refreshes", () => refreshes() >= 2 && wire.settled(), Boolean, { within: 30_000 });
  const asked = wire.sent.slice(from).filter((line) => /^\/(subscribe|getAllChatrooms|getUnread)(\||$)/.test(line));
  assert.deepEqual(asked, ["/getAllChatrooms", "/getUnread", "/getAllChatrooms", "/getUnread"]);

  // Left in another client (the page hears its exit; the server ends its
  // subscription) and joined again there, and another room joined there
  // (the page hears neither join): the next refresh (here: the window
  // focused) subscribes to those two, and their messages arrive live.
  const before = wire.sent.length;
  await alice.expect(200, "/exitChatroom", "room-01");
  await page.getByRole("button", { name: "Join", exact: true }).waitFor();
  await alice.expect(200, "/joinChatroom", "room-01");
  await alice.expect(200, "/joinChatroom", "fresh");
  await page.evaluate(() => window.dispatchEvent(new Event("focus")));
  await page.getByLabel("Message", { exact: true }).waitFor();
  await eventually("subscribed again", () => subscribes(before), sameAs(["/subscribe|fresh", "/subscribe|room-01"]));
  await eventually("the refresh's requests answered", () => wire.settled(), Boolean);
  await bob.expect(201, "/sendMessage", "room-01", "live in room-01 again");
  await eventually("live in room-01", () => logTexts(page), (texts) => texts.includes("live in room-01 again"));
  await page.getByRole("button", { name: "fresh", exact: true }).click();
  await page.getByRole("heading", { name: "fresh", exact: true }).waitFor();
  await eventually("fresh opened", () => wire.settled(), Boolean);
  await bob.expect(201, "/sendMessage", "fresh", "live in fresh");
  await eventually("live in fresh", () => logTexts(page), sameAs(["live in fresh"]));
  assert.deepEqual(subscribes(before), ["/subscribe|fresh", "/subscribe|room-01"]);
  assert.deepEqual(browser.problems, []);
});

test("every ten minutes the list's refresh subscribes to every room again", async (t) => {
  const open = scene(t);
  const server = await open.server();
  await memberOf(open, server, "alice", ["room-01", "room-02"]);
  const browser = await open.browser(server.url);
  const { page } = browser;
  // The page's clock, to jump ten minutes ahead; it runs as usual until then.
  const wire = await reloadLoggedInWatching(page, "alice", "room-01", {
    beforeReload: () => page.clock.install(),
  });
  const from = wire.sent.length;
  // As after a laptop's lid was closed ten minutes: the refresh's timer fires once.
  await page.clock.fastForward("10:00");
  await eventually("a refresh", () => wire.sent.slice(from).includes("/getAllChatrooms") && wire.settled(), Boolean);
  const asked = wire.sent.slice(from).filter((line) => /^\/(subscribe|getAllChatrooms|getUnread)(\||$)/.test(line));
  assert.deepEqual(asked, [
    "/getAllChatrooms",
    "/getUnread",
    "/subscribe|room-01",
    "/subscribe|room-02",
    "/subscribe|@",
    "/getUnread",
  ]);
  assert.deepEqual(browser.problems, []);
});

test("search results push the room down: nothing under them, the newest message still in view, Close clear of the first result's focus ring", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice", { room: "general" });
  const alice = await open.tcp(server);
  await alice.expect(200, "/login", "alice", passwordOf("alice"));
  for (let i = 1; i <= 14; i++) await alice.expect(201, "/sendMessage", "general", `hello number ${i}${i === 14 ? ", fourteen" : ""}`);
  await eventually("all 14", () => logTexts(page), (texts) => texts.length === 14);
  const geometry = () =>
    page.evaluate(() => {
      const box = (node) => {
        const r = node.getBoundingClientRect();
        return { x: r.x, y: r.y, width: r.width, height: r.height };
      };
      const first = document.querySelector("#search-list button");
      const style = getComputedStyle(first);
      const grow = parseFloat(style.outlineWidth) + parseFloat(style.outlineOffset);
      const b = box(first);
      const list = document.getElementById("search-list");
      const log = document.getElementById("log");
      const last = log.querySelector(".msg:last-of-type");
      return {
        panel: box(document.getElementById("search-results")),
        under: Object.fromEntries(["room-header", "log", "composer"].map((id) => [id, box(document.getElementById(id))])),
        close: box(document.getElementById("search-close")),
        ring: { x: b.x - grow, y: b.y - grow, width: b.width + 2 * grow, height: b.height + 2 * grow },
        // Where the list's scrolling cuts what is in it.
        clip: { top: list.getBoundingClientRect().top + list.clientTop, bottom: list.getBoundingClientRect().top + list.clientTop + list.clientHeight },
        focused: document.activeElement === first && first.matches(":focus-visible"),
        window: { width: window.innerWidth, height: window.innerHeight },
        newest: last.querySelector(".text").textContent,
        newestBelow: last.getBoundingClientRect().bottom - log.getBoundingClientRect().bottom,
      };
    });
  // Searched again at each size with the results open, as one does.
  for (const size of [{ width: 1280, height: 800 }, { width: 1000, height: 600 }, { width: 390, height: 844 }]) {
    await page.setViewportSize(size);
    await page.getByLabel("Search").fill("hello");
    await page.getByLabel("Search").press("Enter");
    await eventually("14 results", () => page.locator("#search-list li").count(), (n) => n === 14);
    const where = `at ${size.width}×${size.height}`;
    const seen = await eventually(`${where}: the newest message in view`, geometry, (g) => g.focused && g.newestBelow <= 1);
    for (const [id, box] of Object.entries(seen.under)) {
      assert.ok(!overlap(seen.panel, box), `${where}: the results cover #${id}: ${JSON.stringify({ panel: seen.panel, box })}`);
    }
    assert.ok(seen.panel.y >= 0 && seen.panel.y + seen.panel.height <= seen.window.height, `${where}: the results leave the window`);
    assert.ok(seen.close.x + seen.close.width <= seen.window.width, `${where}: Close results off screen`);
    assert.ok(!overlap(seen.ring, seen.close), `${where}: Close results is on the focus ring: ${JSON.stringify(seen)}`);
    assert.ok(seen.ring.y >= seen.clip.top && seen.ring.y + seen.ring.height <= seen.clip.bottom, `${where}: the focus ring is cut`);
    assert.equal(seen.newest, "hello number 14, fourteen", where);
  }
  // From one result to many: the list emptied (the log grows, and the
  // browser scrolls it back to its new end), then filled (it shrinks, and
  // Chrome puts the scroll back where it was). Those scrolls are no
  // reader's: the newest message stays in view.
  await page.setViewportSize({ width: 1280, height: 800 });
  for (const [query, count] of [["fourteen", 1], ["hello", 14]]) {
    await page.getByLabel("Search").fill(query);
    await page.getByLabel("Search").press("Enter");
    await eventually(`${count} results`, () => page.locator("#search-list li").count(), (n) => n === count);
  }
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  const after = await geometry();
  assert.ok(after.newestBelow <= 1, `the newest message went out of view: ${after.newestBelow} px below`);
  await page.getByRole("button", { name: "Close results" }).click();
  await page.locator("#search-results").waitFor({ state: "hidden" });
  assert.deepEqual(browser.problems, []);
});

test("Active now follows logins: at once when someone not listed writes, and when the tab is shown again", async (t) => {
  const open = scene(t);
  const server = await open.server();
  // Bob made the room and went away.
  const away = await memberOf(open, server, "bob", ["general"]);
  await away.expect(200, "/logout");
  await memberOf(open, server, "carol", []).then((carol) => carol.expect(200, "/logout"));
  const browser = await open.browser(server.url);
  const { page } = browser;
  await logInThroughPage(page, "alice");
  await joinThroughPage(page, "general");
  await page.getByRole("button", { name: "Leave" }).waitFor();
  const active = () => page.locator("#active-list li").allTextContents();
  await eventually("alice alone", active, sameAs(["alice"]));
  // Bob logs in again (no event tells the page) and writes.
  const bob = await open.tcp(server);
  await bob.expect(200, "/login", "bob", passwordOf("bob"));
  await bob.expect(201, "/sendMessage", "general", "back again");
  await eventually("bob's message", () => logTexts(page), (texts) => texts.includes("back again"));
  await eventually("bob listed soon after", active, sameAs(["alice", "bob"]), { within: 4000 });
  // Carol logs in while the tab is hidden; she shows once it is shown.
  await setHidden(page, true);
  const carol = await open.tcp(server);
  await carol.expect(200, "/login", "carol", passwordOf("carol"));
  await setHidden(page, false);
  await eventually("carol listed once shown", active, sameAs(["alice", "bob", "carol"]), { within: 4000 });
  assert.deepEqual(browser.problems, []);
});

test("editing the newest message, or asking to delete it, brings the form or the question into view, with the message", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const alice = await memberOf(open, server, "alice", ["general"]);
  for (let i = 1; i <= 20; i++) await alice.expect(201, "/sendMessage", "general", `message number ${i}`);
  // What of the newest message (its edit form, the question, its text) is
  // out of the log's sight, above or below.
  const outOfSight = (page) =>
    page.evaluate(() => {
      const log = document.getElementById("log");
      const box = log.getBoundingClientRect();
      const message = log.querySelector("article.msg:last-of-type");
      const parts = [...message.querySelectorAll(".edit-form textarea, .edit-form button, .confirm, .text:not([hidden])")];
      const out = (n) => n.getBoundingClientRect().top < box.top - 0.5 || n.getBoundingClientRect().bottom > box.bottom + 0.5;
      return { parts: parts.length, out: parts.filter(out).map((n) => n.textContent || n.tagName.toLowerCase()) };
    });
  for (const size of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    const where = `at ${size.width}×${size.height}`;
    const browser = await open.browser(server.url, size);
    const { page } = browser;
    await logInThroughPage(page, "alice", { register: false });
    await eventually(`${where}: the messages`, () => logTexts(page), (texts) => texts.at(-1) === "message number 20");
    const newest = page.locator("#log article.msg").last();
    await newest.getByRole("button", { name: "Edit" }).click();
    await newest.getByRole("button", { name: "Save" }).waitFor();
    // The text area, Save and Cancel.
    await eventually(`${where}: the edit form in view`, () => outOfSight(page), sameAs({ parts: 3, out: [] }));
    await page.keyboard.press("Escape");
    await newest.locator(".edit-form").waitFor({ state: "detached" });
    await newest.getByRole("button", { name: "Delete" }).click();
    await newest.getByRole("button", { name: "Yes, delete" }).waitFor();
    // The question and the message's own text.
    await eventually(`${where}: the question and the text in view`, () => outOfSight(page), sameAs({ parts: 2, out: [] }));
    assert.deepEqual(browser.problems, []);
  }
});

test("a phone on its side gets the phone's layout: the conversation keeps its room, also with the on-screen keyboard up", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const alice = await memberOf(open, server, "alice", ["general"]);
  await alice.expect(200, "/setTopic", "general", "Weekly sync every Monday at 10:00");
  for (let i = 1; i <= 20; i++) await alice.expect(201, "/sendMessage", "general", `message number ${i}`);
  // 844×390: a phone on its side; 844×200: the same with its keyboard up.
  const browser = await open.browser(server.url, { width: 844, height: 390 });
  const { page } = browser;
  await logInThroughPage(page, "alice", { register: false });
  await eventually("the messages", () => logTexts(page), (texts) => texts.at(-1) === "message number 20");
  const layout = () =>
    page.evaluate(() => {
      const box = (id) => document.getElementById(id).getBoundingClientRect();
      return {
        menu: getComputedStyle(document.getElementById("rooms-toggle")).display !== "none",
        sidebar: getComputedStyle(document.getElementById("sidebar")).display !== "none",
        log: Math.round(box("log").height),
        box: { top: Math.round(box("message").top), bottom: Math.round(box("message").bottom) },
        height: window.innerHeight,
      };
    });
  const side = await layout();
  assert.equal(side.menu, true, "no Chatrooms button");
  assert.equal(side.sidebar, false, "the sidebar takes the room's width");
  assert.ok(side.log >= 150, `the conversation is ${side.log} px high`);
  await page.setViewportSize({ width: 844, height: 200 });
  await page.getByLabel("Message", { exact: true }).focus();
  const typing = await eventually("the layout at 200 px", layout, (l) => l.height === 200);
  assert.ok(typing.box.top >= 0 && typing.box.bottom <= typing.height, `the message box is off screen: ${JSON.stringify(typing)}`);
  assert.ok(typing.log >= 40, `the conversation is ${typing.log} px high`);
  assert.deepEqual(browser.problems, []);
});

test("at 320 px wide, and at 400 % zoom, the room's buttons wrap and nothing scrolls sideways", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const alice = await memberOf(open, server, "alice", ["general"]);
  await alice.expect(201, "/sendMessage", "general", "hello");
  const browser = await open.browser(server.url, { width: 320, height: 568 });
  const { page } = browser;
  await logInThroughPage(page, "alice", { register: false });
  await page.getByRole("button", { name: "Leave" }).waitFor();
  // 320×568: a small phone; 320×200: 1280×800 at 400 % zoom.
  for (const size of [{ width: 320, height: 568 }, { width: 320, height: 200 }]) {
    await page.setViewportSize(size);
    const where = `at ${size.width}×${size.height}`;
    const seen = await page.evaluate(() => {
      const buttons = [...document.querySelectorAll(".topbar button, .room-actions button:not([hidden])")];
      return {
        sideways: document.documentElement.scrollWidth > window.innerWidth || document.body.scrollWidth > window.innerWidth,
        outside: buttons.filter((b) => b.getBoundingClientRect().right > window.innerWidth + 0.5).map((b) => b.textContent),
      };
    });
    assert.deepEqual(seen, { sideways: false, outside: [] }, where);
  }
  // The buttons on two lines leave the message box below: the room
  // scrolls, and the box comes into view when focused.
  await page.getByLabel("Message", { exact: true }).focus();
  const box = await page.evaluate(() => {
    const r = document.getElementById("message").getBoundingClientRect();
    return { top: r.top, bottom: r.bottom, height: window.innerHeight };
  });
  assert.ok(box.top >= 0 && box.bottom <= box.height, `the message box is off screen: ${JSON.stringify(box)}`);
  assert.deepEqual(browser.problems, []);
});
