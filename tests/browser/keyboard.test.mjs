// The page by keyboard alone: from the room list into a room, through a
// long conversation to the message box, to one message's buttons.

import assert from "node:assert/strict";
import { test } from "node:test";

import { eventually, logInThroughPage, logTexts, memberOf, sameAs, reloadLoggedInWatching, scene } from "./harness.mjs";

/** What has the focus: its id, or its role and name. */
function focused(page) {
  return page.evaluate(() => {
    const node = document.activeElement;
    if (!node || node === document.body) return "(nothing)";
    if (node.id) return `#${node.id}`;
    if (node.matches(".msg")) return `message: ${node.querySelector(".text").textContent}`;
    return `${node.tagName.toLowerCase()}: ${node.textContent.trim()}`;
  });
}

test("a room opened from the list by keyboard takes the focus, at any width", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const rooms = Array.from({ length: 40 }, (_, i) => `room-${String(i).padStart(2, "0")}`);
  await memberOf(open, server, "alice", rooms);
  const bob = await memberOf(open, server, "bob", ["not-yet"]);

  const desk = await open.browser(server.url, { width: 1280, height: 720 });
  const { page } = desk;
  await logInThroughPage(page, "alice", { register: false });
  await page.getByRole("button", { name: "room-05", exact: true }).focus();
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "room-05", exact: true }).waitFor();
  assert.equal(await focused(page), "#message", "the focus stayed in the room list");
  await page.keyboard.type("typed right away");
  await page.keyboard.press("Enter");
  await eventually("sent to room-05", () => logTexts(page), sameAs(["typed right away"]));
  // A room not joined yet: to its Join button, and from there to the box.
  await page.getByRole("button", { name: /^not-yet/ }).focus();
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "not-yet", exact: true }).waitFor();
  assert.equal(await focused(page), "#join-button");
  await page.keyboard.press("Enter");
  await eventually("joined, in the box", () => focused(page), (f) => f === "#message");

  // At phone width the menu closes: the focus goes to the conversation,
  // not back to the top of the page (and no on-screen keyboard pops up).
  const phone = await open.browser(server.url, { width: 390, height: 844 });
  await logInThroughPage(phone.page, "alice", { register: false });
  await phone.page.locator("#rooms-toggle").focus();
  await phone.page.keyboard.press("Enter");
  await phone.page.getByRole("button", { name: "room-07", exact: true }).focus();
  await phone.page.keyboard.press("Enter");
  await phone.page.getByRole("heading", { name: "room-07", exact: true }).waitFor();
  assert.equal(await focused(phone.page), "#log");
  await phone.page.keyboard.press("Tab");
  assert.equal(await focused(phone.page), "#message");
  assert.deepEqual(desk.problems, []);
  assert.deepEqual(phone.problems, []);
});

test("a short window opens a room into the message box with a mouse, into the conversation on a touch screen", async (t) => {
  const open = scene(t);
  const server = await open.server();
  await memberOf(open, server, "alice", ["room-01", "room-02"]);

  // 1280×480: a desktop window made short. It has the phone's layout (the
  // rooms behind "Chatrooms"), but a mouse and no on-screen keyboard.
  const desk = await open.browser(server.url, { width: 1280, height: 480 });
  await logInThroughPage(desk.page, "alice", { register: false });
  await desk.page.getByRole("heading", { name: "room-01", exact: true }).waitFor();
  await eventually("focused after logging in", () => focused(desk.page), (f) => f === "#message");
  await desk.page.getByRole("button", { name: /^Chatrooms/ }).click();
  await desk.page.getByRole("button", { name: "room-02", exact: true }).click();
  await desk.page.getByRole("heading", { name: "room-02", exact: true }).waitFor();
  assert.equal(await focused(desk.page), "#message");

  // 844×390, a touch screen: a phone on its side. The conversation, so
  // that no on-screen keyboard pops up.
  const phone = await open.browser(server.url, { width: 844, height: 390, hasTouch: true });
  await logInThroughPage(phone.page, "alice", { register: false });
  await phone.page.getByRole("heading", { name: "room-01", exact: true }).waitFor();
  await eventually("focused after logging in", () => focused(phone.page), (f) => f === "#log");
  await phone.page.getByRole("button", { name: /^Chatrooms/ }).tap();
  await phone.page.getByRole("button", { name: "room-02", exact: true }).tap();
  await phone.page.getByRole("heading", { name: "room-02", exact: true }).waitFor();
  assert.equal(await focused(phone.page), "#log");
  assert.deepEqual(desk.problems, []);
  assert.deepEqual(phone.problems, []);
});

test("a refresh of the list that changes nothing leaves the focused room's button as it is", async (t) => {
  const open = scene(t);
  const server = await open.server();
  await memberOf(open, server, "alice", ["room-01", "room-02", "room-03"]);
  const bob = await memberOf(open, server, "bob", []);
  await bob.expect(200, "/joinChatroom", "room-02");
  const browser = await open.browser(server.url, { width: 1280, height: 720 });
  const { page } = browser;
  const wire = await reloadLoggedInWatching(page, "alice", "room-01");
  await page.getByRole("button", { name: "room-03", exact: true }).focus();
  await page.evaluate(() => {
    window.keptButton = document.activeElement;
  });
  // The refresh the list has every 10 s, which the window's focus asks for too.
  const from = wire.sent.length;
  await page.evaluate(() => window.dispatchEvent(new Event("focus")));
  await eventually("refreshed", () => wire.sent.slice(from).includes("/getAllChatrooms") && wire.settled(), Boolean);
  // The same button, not a new one focused in its place (which a screen
  // reader would read out again).
  const kept = () => page.evaluate(() => ({ focused: document.activeElement === window.keptButton, inPage: window.keptButton.isConnected }));
  assert.deepEqual(await kept(), { focused: true, inPage: true });
  // A change shows, and the focus stays on room-03.
  await bob.expect(201, "/sendMessage", "room-02", "something new");
  await page.getByRole("button", { name: /^room-02 1 unread/ }).waitFor();
  assert.equal(await focused(page), "button: room-03");
  assert.deepEqual(browser.problems, []);
});

test("the first Tab stop skips to the message box, past the header and a long room list", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url, { width: 1280, height: 720 });
  const { page } = browser;
  await memberOf(open, server, "alice", ["general", "a", "b", "c", "d", "e"]);
  await logInThroughPage(page, "alice", { register: false });
  await page.locator("#message").waitFor();
  // Tab from the top of the page, as after loading it.
  await page.evaluate(() => {
    const top = document.createElement("span");
    top.tabIndex = -1;
    document.body.prepend(top);
    top.focus();
  });
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "#skip-to-message");
  assert.ok(await page.locator("#skip-to-message").isVisible(), "shown once it has the focus");
  await page.keyboard.press("Enter");
  assert.equal(await focused(page), "#message");
  assert.deepEqual(browser.problems, []);
});

test("a long conversation is one Tab stop; arrow keys go from message to message", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url, { width: 1280, height: 720 });
  const { page } = browser;
  const alice = await memberOf(open, server, "alice", ["mine"]);
  const bob = await open.tcp(server);
  await bob.registerAndLogin("bob");
  await bob.expect(200, "/joinChatroom", "mine");
  // Alice owns the room: every message has a Delete button, hers an Edit too.
  for (let i = 1; i <= 130; i++) {
    const [who, text] = i % 3 === 0 ? [alice, `alice ${i}`] : [bob, `bob ${i}`];
    await who.expect(201, "/sendMessage", "mine", text);
  }
  await logInThroughPage(page, "alice", { register: false });
  await eventually("the messages", () => logTexts(page), (texts) => texts.at(-1) === "bob 130");
  assert.ok((await page.getByRole("log").getByRole("button", { name: "Delete" }).count()) >= 100);

  // From the log, Tab goes to the message box, and Shift+Tab back.
  await page.getByRole("log").focus();
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "#message", "Tab went through the messages' buttons");
  await page.keyboard.press("Shift+Tab");
  assert.equal(await focused(page), "#log");

  // Up from the log: the newest message, then the one before it.
  await page.keyboard.press("ArrowUp");
  assert.equal(await focused(page), "message: bob 130");
  // Named for a screen reader as who, when, what.
  const name = await page.evaluate(() => {
    const parts = document.activeElement.getAttribute("aria-labelledby").split(" ");
    return parts.map((id) => document.getElementById(id).textContent).join(" ");
  });
  assert.match(name, /^bob \d{1,2}:\d{2}.* bob 130$/);
  await page.keyboard.press("ArrowUp");
  assert.equal(await focused(page), "message: alice 129");
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("ArrowDown");
  assert.equal(await focused(page), "message: alice 129");
  // Its buttons are the next Tab stops, then the message box.
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "button: Edit");
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "button: Delete");
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "#message");

  // Back from the box: the log, and from there her message's Edit.
  await page.keyboard.press("Shift+Tab");
  assert.equal(await focused(page), "#log");
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("Tab");
  assert.equal(await focused(page), "button: Edit");
  await page.keyboard.press("Enter");
  const edit = page.getByLabel("Edited text");
  await edit.fill("alice 129, edited");
  await edit.press("Enter");
  await eventually("edited", () => logTexts(page), (texts) => texts.at(-2) === "alice 129, edited");
  // The edit's event may show the new text before its reply closes the
  // form and gives the focus back (PostgreSQL's NOTIFY can be first).
  await eventually("the focus back on Edit", () => focused(page), (now) => now === "button: Edit");

  // Home goes to the first message loaded; older ones load as it scrolls up.
  await page.getByRole("log").focus();
  await eventually(
    "every message by Home",
    async () => {
      await page.keyboard.press("Home");
      return (await logTexts(page)).length;
    },
    (n) => n === 130,
  );
  await page.keyboard.press("Home");
  assert.equal(await focused(page), "message: bob 1");
  assert.deepEqual(browser.problems, []);
});

test("a message deleted elsewhere while it has the focus hands it to its neighbour", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const bob = await memberOf(open, server, "bob", ["general"]);
  const alice = await open.tcp(server);
  await alice.registerAndLogin("alice");
  await alice.expect(200, "/joinChatroom", "general");
  const ids = [];
  for (const text of ["first", "second", "third"]) {
    ids.push((await bob.expect(201, "/sendMessage", "general", text)).id);
  }
  const browser = await open.browser(server.url);
  const { page } = browser;
  await logInThroughPage(page, "alice", { register: false });
  await eventually("the messages", () => logTexts(page), sameAs(["first", "second", "third"]));
  await page.getByRole("log").focus();
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("ArrowUp");
  assert.equal(await focused(page), "message: second");
  await bob.expect(200, "/deleteMessage", String(ids[1]));
  await eventually("gone", () => logTexts(page), sameAs(["first", "third"]));
  assert.equal(await focused(page), "message: third");
  // The last one goes to the one before it.
  await bob.expect(200, "/deleteMessage", String(ids[2]));
  await eventually("gone too", () => logTexts(page), sameAs(["first"]));
  assert.equal(await focused(page), "message: first");
  assert.deepEqual(browser.problems, []);
});

test("a screen reader hears each message others send, not the earlier ones a room opens with", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url);
  const { page } = browser;
  const bob = await memberOf(open, server, "bob", ["general"]);
  for (let i = 1; i <= 40; i++) await bob.expect(201, "/sendMessage", "general", `earlier ${i}`);
  await logInThroughPage(page, "alice");
  // Every live region: those that say so, and those whose role makes them one.
  const live = () =>
    page.locator(
      "[aria-live=polite], [aria-live=assertive], [role=status], [role=alert], [role=log]:not([aria-live=off])",
    );
  const heard = async () => (await live().allTextContents()).join(" | ");
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByRole("button", { name: "Join", exact: true }).click();
  await eventually("the history", () => logTexts(page), (texts) => texts.at(-1) === "earlier 40");
  // The log is not a live region: its forty messages were not read out.
  assert.equal(await page.getByRole("log").getAttribute("aria-live"), "off");
  assert.doesNotMatch(await heard(), /earlier/);

  const hello = await bob.expect(201, "/sendMessage", "general", "hello alice");
  await eventually("heard", heard, (text) => text.includes("bob: hello alice"));
  await bob.expect(200, "/editMessage", String(hello.id), "hello again, alice");
  await eventually("the edit heard", heard, (text) => text.includes("bob edited a message: hello again, alice"));
  // One's own message is not read back.
  const box = page.getByLabel("Message", { exact: true });
  await box.fill("hi bob");
  await box.press("Enter");
  await eventually("sent", () => logTexts(page), (texts) => texts.at(-1) === "hi bob");
  assert.doesNotMatch(await heard(), /hi bob/);
  assert.deepEqual(browser.problems, []);
});

test("after logging in, registering or a reload, the focus is in the chat, not lost on the page", async (t) => {
  const open = scene(t);
  const server = await open.server();
  await memberOf(open, server, "alice", ["general"]);
  const desk = await open.browser(server.url, { width: 1280, height: 720 });
  const { page } = desk;
  // Logged in: the open room's message box.
  await logInThroughPage(page, "alice", { register: false, remember: true });
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await eventually("focused after logging in", () => focused(page), (f) => f === "#message");
  // The saved login resumed by a reload: the same.
  await page.reload();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await eventually("focused after a reload", () => focused(page), (f) => f === "#message");
  // Registered, in no chatroom yet: the first chatroom, to join.
  const newcomer = await open.browser(server.url, { width: 1280, height: 720 });
  await logInThroughPage(newcomer.page, "bob");
  await eventually("focused after registering", () => focused(newcomer.page), (f) => f === "button: general (not joined)");
  // At phone width: the conversation, so that no on-screen keyboard pops up.
  const phone = await open.browser(server.url, { width: 390, height: 844 });
  await logInThroughPage(phone.page, "alice", { register: false });
  await phone.page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await eventually("focused at phone width", () => focused(phone.page), (f) => f === "#log");
  for (const browser of [desk, newcomer, phone]) assert.deepEqual(browser.problems, []);
});

test("Escape closes the Members panel and gives the focus back to its button", async (t) => {
  const open = scene(t);
  const server = await open.server();
  await memberOf(open, server, "alice", ["general"]);
  const browser = await open.browser(server.url);
  const { page } = browser;
  await logInThroughPage(page, "alice", { register: false });
  const button = page.getByRole("button", { name: /^Members/ });
  await button.click();
  const panel = page.getByRole("region", { name: "Members of this chatroom" });
  await panel.waitFor();
  await page.keyboard.press("Escape");
  await panel.waitFor({ state: "hidden" });
  assert.equal(await button.getAttribute("aria-expanded"), "false");
  assert.equal(await focused(page), "#members-button");
  assert.deepEqual(browser.problems, []);
});
