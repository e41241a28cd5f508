// The message box's commands (/msg, /topic, /help, an unknown /word),
// refusals worded as sentences, "Show more" search results, drafts kept
// across a reload, "Reconnect now", fields without a silent maxlength,
// people's names that open the conversation with them, and a new
// chatroom's name that exists already.
// Run with `node --test tests/browser/` (tests/browser.rs does, in
// `cargo test`).

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  createRoomThroughPage,
  eventually,
  logInThroughPage,
  logTexts,
  memberOf,
  onePage,
  passwordOf,
  sameAs,
  scene,
  sendThroughPage,
  watchRequests,
} from "./harness.mjs";

/** alice on the page in "general", which she made, and bob there over TCP. */
async function aliceWithBobInGeneral(t) {
  const alice = await onePage(t, "alice", { room: "general" });
  const bob = await memberOf(alice.open, alice.server, "bob", []);
  await bob.expect(200, "/joinChatroom", "general");
  return { ...alice, bob };
}

/** The texts of a conversation's messages, as a pipe client fetches them. */
async function textsOver(tcp, conversation) {
  return (await tcp.expect(200, "/fetchMessages", conversation)).map((m) => m.text);
}

/** The page's own lines in the open log (`* ...`), in order. */
function logLines(page) {
  return page.getByRole("log").locator(".log-event").allTextContents();
}

/** A refusal as the page shows it: a sentence, without the pipe request syntax. */
function assertSentence(text, what) {
  assert.match(text, /^[A-Z][\s\S]*\.$/, `${what}: not a sentence: ${JSON.stringify(text)}`);
  assert.doesNotMatch(text, /usage:/i, `${what}: request syntax shown: ${JSON.stringify(text)}`);
}

test("the message box runs /msg, /topic and /help, refuses an unknown /word, and posts //text and /usr/bin", async (t) => {
  const { open, server, browser, page, bob } = await aliceWithBobInGeneral(t);
  const box = page.getByLabel("Message", { exact: true });
  const roomError = page.locator("#room-error");

  // /msg: to bob alone, said in the open log, nothing in the room.
  await sendThroughPage(page, "/msg bob hello there");
  await eventually("bob has it directly", () => textsOver(bob, "@alice"), sameAs(["hello there"]));
  await eventually("said in the log", () => logLines(page), (lines) => lines.includes("* to @bob: hello there"));
  assert.equal(await box.inputValue(), "");
  await page.getByRole("button", { name: /^@bob/ }).waitFor();
  assert.deepEqual(await logTexts(page), []);
  assert.deepEqual(await textsOver(bob, "general"), []);

  // /topic TEXT sets it: the header, and another member, see it; /topic - clears it.
  await sendThroughPage(page, "/topic New topic");
  await eventually("the header", () => page.locator("#room-topic").textContent(), (topic) => topic === "New topic");
  await eventually("bob sees it", async () => (await bob.expect(200, "/getRoomInfo", "general")).topic, (topic) => topic === "New topic");
  assert.equal(await box.inputValue(), "");
  await sendThroughPage(page, "/topic -");
  await eventually("the header cleared", () => page.locator("#room-topic").textContent(), (topic) => topic === "");
  await eventually("bob sees it cleared", async () => (await bob.expect(200, "/getRoomInfo", "general")).topic || "", (topic) => topic === "");
  // /topic alone opens "Topic".
  await sendThroughPage(page, "/topic");
  await page.getByLabel("Topic of general").waitFor();
  await page.getByRole("button", { name: "Cancel" }).click();

  // An unknown /word is refused and stays in the box.
  await sendThroughPage(page, "/frobnicate x");
  await eventually("refused", () => roomError.textContent(), (text) => text.includes("/frobnicate is not a command here"));
  assert.equal(await box.inputValue(), "/frobnicate x");
  // Also when a line break, not a space, follows the word.
  await sendThroughPage(page, "/frobnicat\nx");
  await eventually("refused", () => roomError.textContent(), (text) => text.includes("/frobnicat is not a command here"));
  assert.equal(await box.inputValue(), "/frobnicat\nx");

  // //text is the message /text; a line that only starts with a slash is a message.
  await sendThroughPage(page, "//literal");
  await eventually("/literal posted", () => logTexts(page), sameAs(["/literal"]));
  await sendThroughPage(page, "/usr/bin is full");
  await eventually("/usr/bin posted", () => logTexts(page), sameAs(["/literal", "/usr/bin is full"]));
  // Sent after the refusal over the same socket: had /frobnicate (or /msg, or
  // /topic) been posted, it would be here.
  assert.deepEqual(await textsOver(bob, "general"), ["/literal", "/usr/bin is full"]);

  // /help lists the commands in the log.
  await sendThroughPage(page, "/help");
  await eventually(
    "help",
    () => logLines(page),
    (lines) => lines.some((l) => l.startsWith("* /msg NAME TEXT")) && lines.some((l) => l.startsWith("* /topic TEXT")),
  );
  assert.equal(await box.inputValue(), "");
  assert.deepEqual(await textsOver(bob, "general"), ["/literal", "/usr/bin is full"]);
  assert.deepEqual(browser.problems, []);
});

test("refusals are sentences: the page's own for retention, the server's without request syntax", async (t) => {
  const { open, server, browser, page, bob } = await aliceWithBobInGeneral(t);
  // The requests from here on (the session resumes after the reload).
  const wire = watchRequests(page);
  await page.reload();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await eventually("the resume's requests answered", () => wire.settled(), Boolean);

  // Not a whole number: the page says so itself, and sends nothing.
  await page.getByRole("button", { name: "About", exact: true }).click();
  const panel = page.getByRole("region", { name: "About this chatroom" });
  const retention = panel.getByLabel("Retention in days");
  await eventually("the retention", () => retention.inputValue(), (value) => value === "0");
  const retentionError = panel.locator("#retention-error");
  await retention.fill("abc");
  await retention.press("Enter");
  await eventually("refused by the page", () => retentionError.textContent(), (text) => text.startsWith("Enter a whole number of days"));
  assertSentence(await retentionError.textContent(), "retention abc");
  assert.ok(!wire.sent.some((line) => line.startsWith("/setRetention")), JSON.stringify(wire.sent));

  // Digits the server refuses (a 400 with the request's usage): its sentence, no syntax.
  await retention.fill("99999999999999999999");
  await retention.press("Enter");
  await eventually("refused by the server", () => retentionError.textContent(), (text) => /^Days must be/.test(text));
  assertSentence(await retentionError.textContent(), "retention too large");
  assert.ok(wire.sent.some((line) => line.startsWith("/setRetention")), JSON.stringify(wire.sent));
  assert.equal((await bob.expect(200, "/getRoomInfo", "general")).retention_days, 0);

  // A direct conversation with no such user, from the form and from /msg.
  await page.getByLabel("Write to (user name)").fill("nosuchuser");
  await page.getByRole("button", { name: "Open", exact: true }).click();
  const dmError = page.locator("#dm-error");
  await eventually("no such user", () => dmError.textContent(), (text) => text !== "");
  assert.equal(await dmError.textContent(), "User 'nosuchuser' does not exist.");
  await page.getByRole("button", { name: /^general/ }).click();
  await sendThroughPage(page, "/msg nosuchuser hi");
  const composerError = page.locator("#room-error");
  await eventually("no such user for /msg", () => composerError.textContent(), (text) => text !== "");
  assert.equal(await composerError.textContent(), "User 'nosuchuser' does not exist.");
  assert.equal(await page.getByLabel("Message", { exact: true }).inputValue(), "/msg nosuchuser hi");
  assert.deepEqual(browser.problems, []);
});

test("search says when there may be more than the 50 newest results, and Show more shows them", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const writer = await memberOf(open, server, "alice", ["ops"]);
  for (let i = 1; i <= 60; i++) await writer.expect(201, "/sendMessage", "ops", `needle number ${i}`);
  await writer.expect(201, "/sendMessage", "ops", "only hay here");
  const browser = await open.browser(server.url);
  const { page } = browser;
  await logInThroughPage(page, "alice", { register: false });
  await eventually("the room's messages", () => logTexts(page), (texts) => texts.length > 0);
  await page.getByLabel("Search").fill("needle");
  await page.getByLabel("Search").press("Enter");
  const title = page.locator("#search-results-title");
  const hits = page.locator("#search-list li.hit");
  const more = page.getByRole("button", { name: "Show more" });
  await eventually("the first 50", () => title.textContent(), (text) => text === "The 50 newest results for “needle”");
  assert.equal(await hits.count(), 50);
  // The newest first.
  assert.match(await hits.first().textContent(), /needle number 60/);
  await more.click();
  await eventually("all 60", () => title.textContent(), (text) => text === "60 results for “needle”");
  assert.equal(await hits.count(), 60);
  assert.equal(await more.count(), 0);
  // The focus on the first result not shown before.
  assert.equal(await hits.nth(50).getByRole("button").evaluate((b) => b === document.activeElement), true);
  assert.match(await hits.nth(50).textContent(), /needle number 10\b/);
  assert.deepEqual(browser.problems, []);
});

test("drafts survive a reload of the tab, each in its conversation, and only for their user", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice", { room: "general" });
  await createRoomThroughPage(page, "random");
  const box = page.getByLabel("Message", { exact: true });
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await box.fill("unsent in general");
  await page.getByRole("button", { name: /^random/ }).click();
  await page.getByRole("heading", { name: "random", exact: true }).waitFor();
  await box.fill("unsent in random");

  // The session resumes, in the room that was open, with its draft.
  await page.reload();
  await page.getByRole("button", { name: "Log out" }).waitFor();
  await page.getByRole("heading", { name: "random", exact: true }).waitFor();
  await eventually("random's draft", () => box.inputValue(), (value) => value === "unsent in random");
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await eventually("general's draft", () => box.inputValue(), (value) => value === "unsent in general");

  // Another user in this tab after a reload: alice's drafts are not theirs.
  const bob = await memberOf(open, server, "bob", []);
  await bob.expect(200, "/joinChatroom", "general");
  await box.fill("alice's secret draft");
  // The tab's login could not be resumed (here: it is gone), so the page
  // asks for one, and bob logs in where alice left a draft.
  await page.evaluate(() => sessionStorage.removeItem("pipechat.token"));
  await page.reload();
  await page.getByRole("button", { name: "Log in" }).waitFor();
  await logInThroughPage(page, "bob", { register: false });
  await page.getByRole("button", { name: /^general/ }).click();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await eventually("bob's box", () => box.inputValue(), (value) => value === "");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("pipechat.drafts")), null);
  // Nor after bob's own reload.
  await page.reload();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await page.getByLabel("Message", { exact: true }).waitFor();
  assert.equal(await box.inputValue(), "");
  assert.deepEqual(browser.problems, []);
});

test("\"Reconnect now\" tries at once instead of at the end of the countdown", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice", { room: "general" });
  const status = page.getByRole("status").and(page.locator("#connection"));
  const now = status.getByRole("button", { name: "Reconnect now" });
  assert.equal(await now.isVisible(), false, "Reconnect now while connected");
  assert.equal(await server.stop(), 0);
  // A wait of some seconds, so that trying at once is seen to be sooner.
  // (innerText: what shows; the hidden button's name is in textContent.)
  const shown = () => status.innerText();
  await eventually("a countdown of 8 s or more", shown, (s) => /in ([89]|\d\d+) s…\s*Reconnect now$/.test(s));
  await server.restart();
  const left = Number((await shown()).match(/in (\d+) s/)[1]);
  assert.ok(left >= 3, `only ${left} s left after the restart`);
  await now.click();
  // Before the countdown would have ended (its last second spared).
  await eventually("connected at once", shown, (s) => s.trim() === "Connected", { within: (left - 1) * 1000 });
  await now.waitFor({ state: "hidden" });
  // The session resumed: the page chats again.
  const bob = await memberOf(open, server, "bob", []);
  await bob.expect(200, "/joinChatroom", "general");
  await bob.expect(201, "/sendMessage", "general", "welcome back");
  await eventually("live again", () => logTexts(page), (texts) => texts.includes("welcome back"));
  assert.deepEqual(browser.problems, []);
});

test("a username or chatroom name too long is refused with the limit, not cut short", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url);
  const { page } = browser;
  const long = `a${"b".repeat(38)}z`;
  assert.equal(long.length, 40);
  const username = page.getByLabel("Username");
  // Pasted, as a name is.
  await username.click();
  await page.keyboard.insertText(long);
  assert.equal(await username.inputValue(), long);
  await page.getByLabel("Password", { exact: true }).fill(passwordOf("long"));
  await page.getByRole("button", { name: "Register" }).click();
  const error = page.locator("#login-error");
  await eventually("refused", () => error.textContent(), (text) => text !== "");
  assert.equal(await error.textContent(), "A username has 1 to 32 characters.");
  assert.equal(await page.getByRole("button", { name: "Log out" }).isVisible(), false);
  // No account under the name cut to 32 characters.
  const tcp = await open.tcp(server);
  assert.equal((await tcp.request("/login", long.slice(0, 32), passwordOf("long"))).status, 401);

  // A chatroom name of 70 characters: refused, not made as its first 64.
  await logInThroughPage(page, "alice");
  const room = "r".repeat(70);
  await page.getByRole("button", { name: "New chatroom" }).click();
  await page.getByLabel("Chatroom name").click();
  await page.keyboard.insertText(room);
  assert.equal(await page.getByLabel("Chatroom name").inputValue(), room);
  await page.getByRole("button", { name: "Create", exact: true }).click();
  const roomError = page.locator("#new-room-error");
  await eventually("refused", () => roomError.textContent(), (text) => text !== "");
  assert.equal(await roomError.textContent(), "A chatroom name has 1 to 64 characters.");
  await tcp.registerAndLogin("carol");
  const rooms = await tcp.expect(200, "/getAllChatrooms");
  assert.deepEqual(rooms, [], JSON.stringify(rooms));
  assert.deepEqual(browser.problems, []);
});

test("a name in Active now or a room's members opens the direct conversation with them", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice", { room: "general" });
  const bob = await memberOf(open, server, "bob", []);
  await bob.expect(200, "/joinChatroom", "general");
  const box = page.getByLabel("Message", { exact: true });
  for (const where of ["#active-list", "#member-list"]) {
    if (where === "#member-list") {
      await page.getByRole("button", { name: "general", exact: true }).click();
      await page.getByRole("button", { name: /^Members/ }).click();
    }
    await page.locator(where).getByRole("button", { name: "Write to bob" }).click();
    await page.getByRole("heading", { name: "bob (direct)" }).waitFor();
    assert.equal(await box.evaluate((b) => b === document.activeElement), true, `${where}: the box has the focus`);
  }
  await sendThroughPage(page, "hi bob");
  await eventually("bob has it", () => textsOver(bob, "@alice"), sameAs(["hi bob"]));
  assert.deepEqual(browser.problems, []);
});

test("in a room, someone else's name on a message opens the conversation with them", async (t) => {
  const { browser, page, bob } = await aliceWithBobInGeneral(t);
  await sendThroughPage(page, "mine");
  await bob.expect(201, "/sendMessage", "general", "from bob");
  const log = page.getByRole("log");
  const bobs = log.locator(".msg", { hasText: "from bob" });
  await bobs.waitFor();
  const name = bobs.getByRole("button", { name: "bob", exact: true });
  // Out of the Tab order until its message has the focus, as Edit and Delete are.
  assert.equal(await name.getAttribute("tabindex"), "-1");
  await bobs.focus();
  assert.equal(await name.getAttribute("tabindex"), "0");
  assert.equal(await name.getAttribute("title"), "Write to bob");
  // Her own name is no button.
  assert.equal(await log.locator(".msg", { hasText: "mine" }).getByRole("button", { name: "alice" }).count(), 0);
  await name.click();
  await page.getByRole("heading", { name: "bob (direct)" }).waitFor();
  await bob.expect(201, "/sendMessage", "@alice", "in private");
  const direct = log.locator(".msg", { hasText: "in private" });
  await direct.waitFor();
  // In the conversation with bob his name would open the same one.
  assert.equal(await direct.locator("button.sender").count(), 0);
  assert.equal(await direct.locator(".sender").textContent(), "bob");
  assert.deepEqual(browser.problems, []);
});

test("a new chatroom's name that exists opens that chatroom, to join or to write in", async (t) => {
  const { browser, page, bob } = await aliceWithBobInGeneral(t);
  await bob.expect(201, "/createChatroom", "random");
  const note = page.locator("#room-note");
  const ask = async (name) => {
    await page.getByRole("button", { name: "New chatroom" }).click();
    await page.getByLabel("Chatroom name").fill(name);
    await page.getByRole("button", { name: "Create", exact: true }).click();
  };

  // Not a member: the room, with its Join button, which has the focus.
  await page.getByRole("button", { name: "general", exact: true }).click();
  await ask("RANDOM");
  await page.getByRole("heading", { name: "random", exact: true }).waitFor();
  await eventually("the note", () => note.textContent(), (text) => text.startsWith("random exists already."));
  assert.equal(await note.textContent(), "random exists already. You are not a member of random. Join it to read and write here.");
  const join = page.getByRole("button", { name: "Join", exact: true });
  assert.equal(await join.evaluate((b) => b === document.activeElement), true, "Join has the focus");
  assert.equal(await page.locator("#new-room-error").textContent(), "");
  assert.equal(await page.getByLabel("Chatroom name").isVisible(), false);

  // A member: the room, to write in.
  await ask("General");
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await eventually("the note", () => note.textContent(), (text) => text === "general exists already.");
  const box = page.getByLabel("Message", { exact: true });
  assert.equal(await box.evaluate((b) => b === document.activeElement), true, "the box has the focus");
  // Found as the server finds names, in full case folding: STRASSE is
  // the room Straße, which lower case alone would not make it.
  await bob.expect(201, "/createChatroom", "Straße");
  await ask("STRASSE");
  await page.getByRole("heading", { name: "Straße", exact: true }).waitFor();
  await eventually("the note", () => note.textContent(), (text) => text.startsWith("Straße exists already."));
  assert.equal(await page.locator("#new-room-error").textContent(), "");

  // Nothing was created: the server lists the three rooms it had.
  assert.deepEqual((await bob.expect(200, "/getAllChatrooms")).sort(), ["Straße", "general", "random"]);
  assert.deepEqual(browser.problems, []);
});
