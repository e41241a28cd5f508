// What a screen reader or a keyboard gets, read from Chromium's
// accessibility tree (CDP Accessibility.*): errors tied to their fields,
// questions named, the first Tab stop offline, text contrast in both
// colour schemes.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  contrast,
  eventually,
  logInThroughPage,
  logTexts,
  memberOf,
  onePage,
  passwordOf,
  sameAs,
  scene,
  sendThroughPage,
} from "./harness.mjs";

/**
 * The accessibility tree's node for the element `selector` names: its
 * role, name, description and whether it is invalid.
 */
async function axOf(page, selector) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { root } = await cdp.send("DOM.getDocument", { depth: 0 });
    const { nodeId } = await cdp.send("DOM.querySelector", { nodeId: root.nodeId, selector });
    assert.ok(nodeId, `no ${selector}`);
    const { node } = await cdp.send("DOM.describeNode", { nodeId });
    const { nodes } = await cdp.send("Accessibility.getPartialAXTree", { nodeId, fetchRelatives: false });
    const own = nodes.find((n) => n.backendDOMNodeId === node.backendNodeId) || nodes[0];
    const prop = (name) => own.properties?.find((p) => p.name === name)?.value?.value;
    return {
      role: own.role?.value,
      name: own.name?.value ?? "",
      description: own.description?.value ?? "",
      invalid: prop("invalid") ?? "false",
    };
  } finally {
    await cdp.detach();
  }
}

/** Waits until field `selector` is invalid (or not) and described by `described`. */
async function expectField(page, selector, { invalid, described }) {
  return eventually(
    `${selector} invalid=${invalid}, described by ${described}`,
    () => axOf(page, selector),
    (ax) => ax.invalid === (invalid ? "true" : "false") && (!described || ax.description.includes(described)),
  );
}

test("a form's error marks its fields invalid and is their description, until it goes", async (t) => {
  const open = scene(t);
  const server = await open.server();
  await memberOf(open, server, "bob", []);
  const browser = await open.browser(server.url);
  const { page } = browser;
  await page.getByLabel("Username").waitFor();

  // Login: the empty field is the wrong one.
  await page.getByLabel("Username").fill("alice");
  await page.getByRole("button", { name: "Register" }).click();
  await expectField(page, "#password", { invalid: true, described: "Enter a username and a password." });
  await expectField(page, "#username", { invalid: false, described: "To register" });
  // A field edited is no longer the one refused: its mark goes, and one
  // emptied since is not marked by the error that asked for the other.
  await page.getByLabel("Password", { exact: true }).fill("typed at last");
  await expectField(page, "#password", { invalid: false });
  await page.getByLabel("Username").fill("");
  await expectField(page, "#username", { invalid: false });
  // A name taken: the username alone.
  await page.getByLabel("Username").fill("bob");
  await page.getByLabel("Password", { exact: true }).fill(passwordOf("alice"));
  await page.getByRole("button", { name: "Register" }).click();
  await page.locator("#login-error").filter({ hasText: "already taken" }).waitFor();
  await expectField(page, "#username", { invalid: true, described: "already taken" });
  await expectField(page, "#password", { invalid: false });
  // A refusal of both: both.
  await page.getByLabel("Username").fill("bob");
  await page.getByLabel("Password", { exact: true }).fill("not-bob's-password");
  await page.getByRole("button", { name: "Log in" }).click();
  const said = "Wrong username or password.";
  await page.locator("#login-error").filter({ hasText: said }).waitFor();
  await expectField(page, "#username", { invalid: true, described: said });
  await expectField(page, "#password", { invalid: true, described: said });
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("Password", { exact: true }).fill(passwordOf("alice"));
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor();

  // New chatroom: an empty name.
  await page.getByRole("button", { name: "New chatroom" }).click();
  await page.getByRole("button", { name: "Create", exact: true }).click();
  await expectField(page, "#new-room-name", { invalid: true, described: "A chatroom name has 1 to 64 characters." });
  await page.getByRole("button", { name: "Cancel" }).click();
  await expectField(page, "#new-room-name", { invalid: false });

  // Write to: nobody of that name; editing it takes the error away.
  await page.getByLabel("Write to (user name)").fill("nobody-here");
  await page.getByLabel("Write to (user name)").press("Enter");
  const dmError = page.locator("#dm-error");
  await dmError.filter({ hasText: /./ }).waitFor();
  await expectField(page, "#dm-name", { invalid: true, described: await dmError.textContent() });
  await page.getByLabel("Write to (user name)").press("Backspace");
  await expectField(page, "#dm-name", { invalid: false });

  // Change password: the fields left empty.
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByLabel("Current password").fill(passwordOf("alice"));
  await page.getByRole("button", { name: "Change", exact: true }).click();
  await expectField(page, "#new-password", { invalid: true, described: "Enter your current password and a new one." });
  await expectField(page, "#old-password", { invalid: false, described: "Enter your current password and a new one." });
  await page.keyboard.press("Escape");
  await expectField(page, "#new-password", { invalid: false });
  // The new passwords differing: those two, not the current one.
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByLabel("Current password").fill(passwordOf("alice"));
  await page.getByLabel("New password", { exact: true }).fill("a-new-password-1");
  await page.getByLabel("New password again").fill("a-new-password-2");
  await page.getByRole("button", { name: "Change", exact: true }).click();
  const differ = "The two new passwords differ.";
  await page.locator("#password-error").filter({ hasText: differ }).waitFor();
  await expectField(page, "#new-password", { invalid: true, described: differ });
  await expectField(page, "#new-password-again", { invalid: true, described: differ });
  await expectField(page, "#old-password", { invalid: false });
  // The current password refused by the server: that one alone.
  await page.getByLabel("Current password").fill("not-alice's-password");
  await page.getByLabel("New password again").fill("a-new-password-1");
  await page.getByRole("button", { name: "Change", exact: true }).click();
  const wrong = "The current password is wrong.";
  await page.locator("#password-error").filter({ hasText: wrong }).waitFor();
  await expectField(page, "#old-password", { invalid: true, described: wrong });
  await expectField(page, "#new-password", { invalid: false });
  await expectField(page, "#new-password-again", { invalid: false });
  await page.keyboard.press("Escape");
  assert.deepEqual(browser.problems, []);
});

test("what is not about the fields typed (offline, logged out) marks none of them", async (t) => {
  const { server, browser, page } = await onePage(t, "alice", { room: "general" });
  await page.getByRole("button", { name: "Topic", exact: true }).click();
  await page.getByLabel("Topic of general").fill("Filled, and fine");
  await server.stop();
  await page.locator("#connection").getByRole("button", { name: "Reconnect now" }).waitFor();
  await page.getByLabel("Topic of general").press("Enter");
  await page.locator("#topic-error").filter({ hasText: "Not saved: offline." }).waitFor();
  await expectField(page, "#topic-input", { invalid: false, described: "Not saved: offline." });
  // Logged out offline: the login form says so, of no field (the username
  // is still there, the password is not).
  await page.getByRole("button", { name: "Log out" }).click();
  await page.locator("#login-error").filter({ hasText: "You are logged out on this page." }).waitFor();
  assert.equal(await page.getByLabel("Username").inputValue(), "alice");
  await expectField(page, "#password", { invalid: false, described: "You are logged out on this page." });
  await expectField(page, "#username", { invalid: false });
  assert.deepEqual(browser.problems, []);
});

/**
 * Records in `window.markedInvalid` each field of `selectors` marked
 * `aria-invalid="true"` from now on, however briefly.
 */
async function watchInvalid(page, selectors) {
  await page.evaluate((selectors) => {
    window.markedInvalid = [];
    new MutationObserver((records) => {
      for (const record of records) {
        const field = record.target;
        // Set now, or set before and changed since (the record of the change).
        const marked = record.oldValue === "true" || field.getAttribute("aria-invalid") === "true";
        if (marked && selectors.some((selector) => field.matches(selector))) window.markedInvalid.push(`#${field.id}`);
      }
    }).observe(document.body, { attributes: true, attributeFilter: ["aria-invalid"], attributeOldValue: true, subtree: true });
  }, selectors);
}

/**
 * From the next page load on, the page's requests go to the server through
 * a route that holds the first one `holds(line, sentBefore)` picks until
 * `meanwhile()` is done (and all after it behind it, in order).
 */
async function holdRequest(page, holds, meanwhile) {
  let held = false;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    const sent = [];
    let queue = Promise.resolve();
    ws.onMessage((message) => {
      queue = queue.then(async () => {
        const line = String(message);
        if (!held && holds(line, sent)) {
          held = true;
          await meanwhile();
        }
        sent.push(line);
        server.send(message);
      });
    });
    server.onMessage((message) => ws.send(message));
  });
}

const LOGGED_OUT_ELSEWHERE = "You were logged out (was your password changed in another session?). Log in again.";

test("a 401 to a login's own follow-up requests marks no login field: the login was right", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const elsewhere = await memberOf(open, server, "alice", ["general"]);
  const browser = await open.browser(server.url);
  const { page } = browser;
  // The first request after the page's /login waits until alice, in another
  // session, has changed her password: the token the login gave is revoked
  // and the page's connection logged out in that instant.
  await holdRequest(
    page,
    (line, sent) => sent.length > 0 && sent.at(-1).startsWith("/login|"),
    () => elsewhere.expect(200, "/changePassword", passwordOf("alice"), "a new password 1"),
  );
  await page.reload();
  await page.getByLabel("Username").waitFor();
  await watchInvalid(page, ["#username", "#password"]);
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("Password", { exact: true }).fill(passwordOf("alice"));
  await page.getByRole("button", { name: "Log in" }).click();
  const said = await eventually("a sentence under the login form", () => page.locator("#login-error").textContent(), Boolean);
  assert.equal(said, LOGGED_OUT_ELSEWHERE);
  await page.getByRole("button", { name: "Log in" }).waitFor();
  await expectField(page, "#username", { invalid: false, described: LOGGED_OUT_ELSEWHERE });
  await expectField(page, "#password", { invalid: false });
  assert.deepEqual(await page.evaluate(() => window.markedInvalid), []);
  assert.deepEqual(browser.problems, []);
});

test("a 401 to Change password from a session ended elsewhere marks no field and says the user was logged out", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const elsewhere = await memberOf(open, server, "alice", ["general"]);
  const browser = await open.browser(server.url);
  const { page } = browser;
  // The page's /changePassword waits until alice, in another session, has
  // changed her password: the server answers it "not logged in".
  await holdRequest(
    page,
    (line) => line.startsWith("/changePassword|"),
    () => elsewhere.expect(200, "/changePassword", passwordOf("alice"), "a new password 1"),
  );
  await page.reload();
  await logInThroughPage(page, "alice", { register: false });
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByLabel("Current password").fill(passwordOf("alice"));
  await page.getByLabel("New password", { exact: true }).fill("another-password-2");
  await page.getByLabel("New password again").fill("another-password-2");
  await watchInvalid(page, ["#old-password", "#new-password", "#new-password-again"]);
  await page.getByRole("button", { name: "Change", exact: true }).click();
  await page.getByRole("button", { name: "Log in" }).waitFor();
  assert.equal(await page.locator("#login-error").textContent(), LOGGED_OUT_ELSEWHERE);
  assert.equal(await page.locator("#password-error").textContent(), "");
  await expectField(page, "#old-password", { invalid: false });
  assert.deepEqual(await page.evaluate(() => window.markedInvalid), []);
  assert.deepEqual(browser.problems, []);
});

/**
 * From the next page load on, the page's WebSockets go through a route
 * that can hold what the server sends after its greeting (`hold()`; then
 * `release()` passes it all on, in order, or `releaseThrough(command)` as
 * far as the reply to the latest `command` sent, once it comes, holding
 * what comes after it) and cut the connection (`cut()`). `sent` lists the
 * requests' commands, each after its connection's number ("2 /resume").
 */
async function routeThatHolds(page) {
  const route = { connections: 0, sent: [], holding: false };
  let current = null;
  // Passes on what is held as far as the reply `link.through` allows.
  const flush = (link) => {
    while (link.held.length > 0 && (!route.holding || link.replies <= link.through)) {
      const { message, reply } = link.held.shift();
      if (reply) link.replies += 1;
      link.ws.send(message);
    }
  };
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const n = ++route.connections;
    const server = ws.connectToServer();
    const link = { ws, requests: [], replies: 0, through: -1, held: [] };
    current = link;
    let greeted = false;
    ws.onMessage((message) => {
      const command = String(message).split("|")[0];
      link.requests.push(command);
      route.sent.push(`${n} ${command}`);
      server.send(message);
    });
    server.onMessage((message) => {
      if (!greeted) {
        greeted = true;
        ws.send(message);
        return;
      }
      link.held.push({ message, reply: "status" in JSON.parse(String(message)) });
      flush(link);
    });
  });
  route.hold = () => {
    route.holding = true;
    current.through = current.replies - 1;
  };
  route.release = () => {
    route.holding = false;
    flush(current);
  };
  route.releaseThrough = (command) => {
    current.through = current.requests.lastIndexOf(command);
    flush(current);
  };
  route.cut = () => current.ws.close();
  return route;
}

/**
 * Logs in through the page and waits until its session is ready: the focus
 * is put in the message box after that.
 */
async function logInUntilReady(page, username, options) {
  await logInThroughPage(page, username, options);
  await eventually("ready", () => page.evaluate(() => document.activeElement.id), (id) => id === "message");
}

/** Opens Change password and fills it in: `old` as the current password. */
async function fillChangePassword(page, old, fresh = "another-password-2") {
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByLabel("Current password").fill(old);
  await page.getByLabel("New password", { exact: true }).fill(fresh);
  await page.getByLabel("New password again").fill(fresh);
}

test("Change password in the moment a reconnection shows Connected, not resumed yet, is refused marking no field", async (t) => {
  const { browser, page } = await onePage(t, "alice", { remember: true, room: "general" });
  const route = await routeThatHolds(page);
  await page.reload();
  await page.getByRole("heading", { name: "general", exact: true }).waitFor();
  await fillChangePassword(page, passwordOf("alice"));
  await watchInvalid(page, ["#old-password", "#new-password", "#new-password-again"]);
  // The connection comes back, its replies held: "Connected", with /help
  // unanswered and no /resume sent yet.
  route.hold();
  route.cut();
  await eventually("a second connection", () => route.connections, (n) => n === 2);
  await page.getByRole("status").filter({ hasText: "Connected" }).waitFor();
  await page.getByRole("button", { name: "Change", exact: true }).click();
  await eventually(
    "refused, or sent",
    async () => [await page.locator("#password-error").textContent(), route.sent.includes("2 /changePassword")],
    ([said, sent]) => said !== "" || sent,
  );
  route.release();
  // Resumed: the page asks for the rooms again, still logged in.
  await eventually("resumed", () => route.sent, (sent) => sent.includes("2 /getAllChatrooms"));
  await eventually(
    "a sentence under the form",
    () => page.locator("#password-error").textContent(),
    (said) => said === "Not changed: your session is not back yet. Try again in a moment.",
  );
  assert.equal(await page.getByRole("button", { name: "Log out" }).isVisible(), true);
  assert.deepEqual(
    route.sent.filter((line) => line.endsWith("/changePassword")),
    [],
    "sent before the session was back",
  );
  await expectField(page, "#old-password", { invalid: false });
  assert.deepEqual(await page.evaluate(() => window.markedInvalid), []);
  assert.deepEqual(browser.problems, []);
});

/**
 * Alice logged in, a member of general, through a WebSocket whose answers
 * the test can hold (`routeThatHolds`), the password form's fields watched
 * for an invalid mark.
 */
async function aliceWithAnswersToHold(t) {
  const open = scene(t);
  const server = await open.server();
  await memberOf(open, server, "alice", ["general"]);
  const browser = await open.browser(server.url);
  const { page } = browser;
  const route = await routeThatHolds(page);
  await page.reload();
  await logInUntilReady(page, "alice", { register: false });
  await watchInvalid(page, ["#old-password", "#new-password", "#new-password-again"]);
  return { browser, page, route };
}

test("logging out while Change password waits for an answer leaves nothing in the emptied form", async (t) => {
  const { browser, page, route } = await aliceWithAnswersToHold(t);
  const fields = ["#old-password", "#new-password", "#new-password-again"];
  const sentSoFar = (command) => route.sent.filter((line) => line.endsWith(` ${command}`)).length;

  // The answer a refusal of the new password (too short), come after the logout.
  await fillChangePassword(page, passwordOf("alice"), "short");
  route.hold();
  await page.getByRole("button", { name: "Change", exact: true }).click();
  await eventually("sent", () => sentSoFar("/changePassword"), (n) => n === 1);
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in" }).waitFor();
  route.release();
  // The login's answer comes after every answer before it.
  await logInUntilReady(page, "alice", { register: false });
  assert.equal(await page.locator("#password-error").textContent(), "");
  for (const field of fields) await expectField(page, field, { invalid: false });
  assert.deepEqual(await page.evaluate(() => window.markedInvalid), []);

  // A wrong current password (401), then the question whether the session
  // is still there, its answer come after the logout.
  await fillChangePassword(page, "not-her-password");
  route.hold();
  const asked = sentSoFar("/getActiveUsers");
  await page.getByRole("button", { name: "Change", exact: true }).click();
  await eventually("sent", () => sentSoFar("/changePassword"), (n) => n === 2);
  route.releaseThrough("/changePassword");
  await eventually("asked", () => sentSoFar("/getActiveUsers"), (n) => n > asked);
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in" }).waitFor();
  route.release();
  await logInUntilReady(page, "alice", { register: false });
  assert.equal(await page.locator("#password-error").textContent(), "");
  for (const field of fields) await expectField(page, field, { invalid: false });
  assert.deepEqual(await page.evaluate(() => window.markedInvalid), []);
  assert.deepEqual(browser.problems, []);
});

test("Change password submitted twice before its answer sends one request and says it changed", async (t) => {
  const { browser, page, route } = await aliceWithAnswersToHold(t);
  await fillChangePassword(page, passwordOf("alice"));
  const sentSoFar = () => route.sent.filter((line) => line.endsWith(" /changePassword")).length;
  // A double click: the second submit comes while the first is held, and
  // would reach the server with a current password no longer current.
  route.hold();
  await page.evaluate(() => {
    const form = document.getElementById("password-form");
    form.requestSubmit();
    form.requestSubmit();
  });
  await eventually("sent", sentSoFar, (n) => n === 1);
  route.release();
  await page.locator("#password-note").filter({ hasText: "Password changed." }).waitFor();
  // Its answer comes after every answer before it.
  await sendThroughPage(page, "still here");
  await eventually("sent", () => logTexts(page), (texts) => texts.includes("still here"));
  assert.equal(sentSoFar(), 1);
  assert.equal(await page.locator("#password-error").textContent(), "");
  assert.deepEqual(await page.evaluate(() => window.markedInvalid), []);
  assert.deepEqual(browser.problems, []);
});

test("a newer login taken up between Change password's 401 and the question after it marks no field", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const elsewhere = await memberOf(open, server, "alice", ["general"]);
  const browser = await open.browser(server.url);
  const { page } = browser;
  const route = await routeThatHolds(page);
  await page.reload();
  await logInUntilReady(page, "alice", { register: false, remember: true });
  await fillChangePassword(page, passwordOf("alice"));
  await watchInvalid(page, ["#old-password", "#new-password", "#new-password-again"]);
  // Alice changes her password elsewhere, and a tab of this browser keeps
  // her new login on the device: the page asks who is active, to find out
  // whether its session ended (it did), and Change is clicked before the
  // answer. So the new login is resumed before the page asks again after
  // the 401 to /changePassword.
  const { token } = await elsewhere.expect(200, "/changePassword", passwordOf("alice"), "a new password 1");
  route.hold();
  const asked = route.sent.length;
  const other = await browser.context.newPage();
  await other.goto(`${server.url}/style.css`);
  await other.evaluate((token) => localStorage.setItem("pipechat.token", JSON.stringify({ token, username: "alice" })), token);
  await eventually("asked", () => route.sent.slice(asked), (sent) => sent.includes("1 /getActiveUsers"));
  await page.getByRole("button", { name: "Change", exact: true }).click();
  await eventually("sent", () => route.sent.slice(asked), (sent) => sent.includes("1 /changePassword"));
  route.release();
  await page
    .locator("#password-note")
    .filter({ hasText: "Your password was changed in another tab: this tab goes on with the new login." })
    .waitFor();
  // Its answer comes after every answer before it.
  await sendThroughPage(page, "still here");
  await eventually("sent", () => logTexts(page), (texts) => texts.includes("still here"));
  assert.equal(await page.locator("#password-error").textContent(), "");
  await expectField(page, "#old-password", { invalid: false });
  assert.deepEqual(await page.evaluate(() => window.markedInvalid), []);
  assert.deepEqual(browser.problems, []);
});

test("an edit's error is its box's; retention and Delete questions name the group of their answers; a deletion is said", async (t) => {
  const { browser, page } = await onePage(t, "alice", { room: "general" });
  // Retention: a number that is none, then a shortening.
  await page.getByRole("button", { name: "About", exact: true }).click();
  const box = page.getByLabel("Retention in days");
  await box.fill("soon");
  await box.press("Enter");
  await expectField(page, "#retention-input", {
    invalid: true,
    described: "Enter a whole number of days: 0 keeps messages forever.",
  });
  await box.fill("30");
  await box.press("Enter");
  const question = page.getByRole("group", { name: /^Keep only the last 30 days of general\?/ });
  await question.getByRole("button", { name: "Yes, shorten" }).waitFor();
  await expectField(page, "#retention-input", { invalid: false });
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Yes, shorten");
  await page.keyboard.press("Escape");
  await page.keyboard.press("Escape");

  // Delete: the question is the name of the group its answers are in.
  await sendThroughPage(page, "to be deleted");
  await eventually("sent", () => logTexts(page), (texts) => texts.length === 1);
  const message = page.getByRole("log").locator(".msg").first();
  await message.focus();
  // An edit emptied: its box is invalid, described by why.
  await message.getByRole("button", { name: "Edit", exact: true }).click();
  await message.getByLabel("Edited text").fill("");
  await message.getByLabel("Edited text").press("Enter");
  await expectField(page, "#log .edit-form textarea", { invalid: true, described: "A message cannot be empty" });
  await page.keyboard.press("Escape");
  await message.getByLabel("Edited text").waitFor({ state: "detached" });
  await message.getByRole("button", { name: "Delete", exact: true }).click();
  const group = message.getByRole("group", { name: "Delete this message?" });
  await group.getByRole("button", { name: "Yes, delete" }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Yes, delete");
  await page.keyboard.press("Enter");
  await eventually("deleted", () => logTexts(page), (texts) => texts.length === 0);
  assert.equal(await page.evaluate(() => document.activeElement.id), "message");
  // The focus went to the message box: what became of the message is said.
  await eventually("said", () => page.locator("#log-said").textContent(), (s) => s.includes("Message deleted."));
  assert.deepEqual(browser.problems, []);
});

test("offline, the first Tab stop is still the skip link; Reconnect now comes after the message box", async (t) => {
  const { server, browser, page } = await onePage(t, "alice", { room: "general" });
  const now = page.locator("#connection").getByRole("button", { name: "Reconnect now" });
  await server.stop();
  await now.waitFor();
  const tabFromTop = () =>
    page.evaluate(() => {
      const top = document.createElement("span");
      top.tabIndex = -1;
      document.body.prepend(top);
      top.focus();
      top.remove();
    });
  await tabFromTop();
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "skip-to-message");
  await page.locator("#send-button").focus();
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Reconnect now");
  assert.deepEqual(browser.problems, []);
});

test("text keeps WCAG AA contrast against what it is shown on, in light and dark colours", async (t) => {
  const { browser, page } = await onePage(t, "alice", { room: "general" });
  // The colours the style sheet shows together (text on background), by name.
  const pairs = [
    ["--text", "--panel"], ["--text", "--bg"], ["--text", "--own"], ["--text", "--hit"], ["--text", "--hover"],
    ["--dim", "--panel"], ["--dim", "--own"], ["--dim", "--hit"], ["--dim", "--hover"], ["--dim", "--subpanel"], ["--dim", "--state"],
    ["--accent", "--panel"], ["--accent", "--own"], ["--accent", "--hit"], ["--accent", "--subpanel"],
    ["--accent-text", "--accent"], ["--error", "--panel"], ["--error", "--subpanel"],
    ["--side-text", "--side"], ["--side-dim", "--side"],
    ["--ok", "--state-online"], ["--warn", "--state-offline"],
  ];
  // Each pair's colours as the page computes them ("rgb(…)"), by what they are.
  const colours = () =>
    page.evaluate((pairs) => {
      const probe = document.createElement("span");
      document.body.append(probe);
      const rgb = (value) => {
        probe.style.color = value;
        return getComputedStyle(probe).color;
      };
      const root = getComputedStyle(document.documentElement);
      const shown = pairs.map(([fg, bg]) => [`${fg} on ${bg}`, rgb(root.getPropertyValue(fg)), rgb(root.getPropertyValue(bg))]);
      // A placeholder ("Search", "Message") is the only visible name of its field.
      for (const id of ["search", "message", "topic-input"]) {
        const field = document.getElementById(id);
        shown.push([`#${id}'s placeholder`, getComputedStyle(field, "::placeholder").color, getComputedStyle(field).backgroundColor]);
      }
      probe.remove();
      return shown;
    }, pairs);
  for (const colorScheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme });
    const low = (await colours())
      .map(([what, fg, bg]) => [what, contrast(fg, bg)])
      .filter(([, ratio]) => ratio < 4.5)
      .map(([what, ratio]) => `${what}: ${ratio.toFixed(2)}`);
    assert.deepEqual(low, [], colorScheme);
  }
  assert.deepEqual(browser.problems, []);
});

test("a topic cut to two lines shows whole by keyboard too; one that fits is no Tab stop", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const dan = await memberOf(open, server, "dan", ["general", "short"]);
  const long = "Release notes, on-call rota and the deploy calendar: ".repeat(6).trim();
  await dan.expect(200, "/setTopic", "general", long);
  await dan.expect(200, "/setTopic", "short", "Tea at four");
  const browser = await open.browser(server.url, { width: 390, height: 844 });
  const { page } = browser;
  await logInThroughPage(page, "alice");
  await page.getByRole("button", { name: "Chatrooms" }).click();
  await page.getByRole("button", { name: /^general/ }).click();
  const topic = page.locator("#room-topic");
  const lines = () =>
    topic.evaluate((p) => Math.round(p.getBoundingClientRect().height / parseFloat(getComputedStyle(p).lineHeight)));
  await eventually("two lines", lines, (n) => n === 2);
  // Join, where the focus went, says why it is there.
  assert.equal(await page.evaluate(() => document.activeElement.id), "join-button");
  assert.match((await axOf(page, "#join-button")).description, /You are not a member of general\. Join it to read and write here\./);
  // The Tab stop after Log out, the top bar's last.
  await page.locator("#logout-button").focus();
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "room-topic");
  assert.equal(await topic.getAttribute("role"), "button");
  assert.equal(await topic.getAttribute("aria-expanded"), "false");
  await page.keyboard.press("Enter");
  await eventually("whole", lines, (n) => n > 2);
  assert.equal(await topic.getAttribute("aria-expanded"), "true");
  await page.keyboard.press(" ");
  await eventually("two lines again", lines, (n) => n === 2);
  // Ctrl+Enter is not the topic's.
  await page.keyboard.press("Control+Enter");
  assert.equal(await topic.getAttribute("aria-expanded"), "false");
  // A topic that fits: text, and Tab goes on to the room's buttons.
  await page.getByRole("button", { name: "Chatrooms" }).click();
  await page.getByRole("button", { name: /^short/ }).click();
  await topic.filter({ hasText: "Tea at four" }).waitFor();
  await page.locator("#logout-button").focus();
  await page.keyboard.press("Tab");
  assert.notEqual(await page.evaluate(() => document.activeElement.id), "room-topic");
  assert.equal(await topic.getAttribute("role"), null);
  assert.deepEqual(browser.problems, []);
});

test("a topic that stops being cut while it has the focus keeps the focus, out of the Tab order once left", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const dan = await memberOf(open, server, "dan", ["general"]);
  const alice = await memberOf(open, server, "alice", []);
  await alice.expect(200, "/joinChatroom", "general");
  const longish = "Release notes, on-call rota and the deploy calendar: ".repeat(3).trim();
  await dan.expect(200, "/setTopic", "general", longish);
  const browser = await open.browser(server.url, { width: 390, height: 844 });
  const { page } = browser;
  await logInThroughPage(page, "alice", { register: false });
  await page.getByRole("button", { name: "Chatrooms" }).click();
  await page.getByRole("button", { name: /^general/ }).click();
  const topic = page.locator("#room-topic");
  const seen = () =>
    page.evaluate(() => {
      const p = document.getElementById("room-topic");
      return { focused: document.activeElement.id, role: p.getAttribute("role"), tabindex: p.getAttribute("tabindex") };
    });
  await eventually("a toggle", seen, (s) => s.role === "button" && s.tabindex === "0");
  await topic.focus();
  await page.keyboard.press("Enter");
  assert.equal(await topic.getAttribute("aria-expanded"), "true");

  // The window widened: the topic fits, and still has the focus.
  await page.setViewportSize({ width: 1600, height: 844 });
  await eventually("text, focused", seen, sameAs({ focused: "room-topic", role: null, tabindex: "-1" }));
  await page.keyboard.press("Tab");
  await eventually("left, no Tab stop", seen, (s) => s.focused !== "room-topic" && s.tabindex === null);

  // Another member's short topic, the same.
  await page.setViewportSize({ width: 390, height: 844 });
  await eventually("a toggle again", seen, (s) => s.role === "button" && s.tabindex === "0");
  await topic.focus();
  await dan.expect(200, "/setTopic", "general", "Tea at four");
  await topic.filter({ hasText: "Tea at four" }).waitFor();
  await eventually("text, focused", seen, sameAs({ focused: "room-topic", role: null, tabindex: "-1" }));

  // Cleared, it is not shown: the focus goes to "Topic", beside it.
  await dan.expect(200, "/setTopic", "general", "");
  await eventually("on Topic", seen, sameAs({ focused: "topic-button", role: null, tabindex: null }));
  assert.deepEqual(browser.problems, []);
});
