// Tabs of one browser share localStorage: what one tab does to the saved
// login (logging out, logging in as someone else) must never turn another
// tab into a different user. And a logout the server could not hear of is
// carried out once it can. What one tab joins, the others list at once.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  createRoomThroughPage,
  eventually,
  joinThroughPage,
  logInThroughPage,
  logTexts,
  memberOf,
  onePage,
  passwordOf,
  scene,
  sendThroughPage,
} from "./harness.mjs";

/** The token the page saved, whatever the form it is saved in. */
function storedToken(page) {
  return page.evaluate(() => {
    const saved = localStorage.getItem("pipechat.token");
    try {
      return JSON.parse(saved).token;
    } catch {
      return saved;
    }
  });
}

/** Records every request the page sends, in `window.sentRequests`. */
async function recordRequests(page) {
  await page.evaluate(() => {
    window.sentRequests = [];
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      window.sentRequests.push(String(data));
      send.call(this, data);
    };
  });
}

/** Stops the server, waits until `page` knows, and starts it again. */
async function restartUnder(server, page) {
  assert.equal(await server.stop(), 0);
  await page.getByRole("status").filter({ hasText: /Offline|Reconnecting/ }).waitFor();
  await server.restart();
  await page.getByRole("status").filter({ hasText: "Connected" }).waitFor();
}

/** A second tab of the same browser (its storage shared) on the page. */
async function anotherTab(browser, server) {
  const tab = await browser.context.newPage();
  await tab.goto(server.url);
  return tab;
}

/** Stops the server and logs `page` out while it is away. */
async function logOutWhileAway(server, page) {
  assert.equal(await server.stop(), 0);
  await page.getByRole("status").filter({ hasText: /Offline|Reconnecting/ }).waitFor();
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in" }).waitFor();
}

/** Waits until `page` has nothing left to revoke; `token` no longer resumes. */
async function assertRevokedBy(page, open, server, token) {
  await eventually(
    "nothing left to revoke",
    () => page.evaluate(() => localStorage.getItem("pipechat.revoke")),
    (pending) => pending === null,
  );
  const tcp = await open.tcp(server);
  const reply = await tcp.request("/resume", token);
  assert.equal(reply.status, 401, JSON.stringify(reply));
}

test("logging out in one tab logs out the others, and a server restart never makes a tab someone else", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const carol = await open.tcp(server);
  await carol.registerAndLogin("carol");
  const browser = await open.browser(server.url);
  const tab1 = browser.page;
  await logInThroughPage(tab1, "alice", { remember: true });
  await carol.expect(201, "/sendMessage", "@alice", "carol to alice: secret");
  await tab1.getByRole("button", { name: /^@carol/ }).click();
  await eventually("alice reads carol", () => logTexts(tab1), (texts) => texts.includes("carol to alice: secret"));

  const tab2 = await anotherTab(browser, server);
  await tab2.getByRole("button", { name: "Log out" }).waitFor();
  assert.match(await tab2.locator("#me").textContent(), /alice/);
  await tab2.getByRole("button", { name: "Log out" }).click();

  // Tab 1 follows: the login form, a note, nothing of alice left.
  await tab1.getByRole("button", { name: "Log in" }).waitFor();
  assert.match(await tab1.locator("#login-error").textContent(), /logged out in another tab/);
  assert.equal(await tab1.locator("#log .msg").count(), 0);

  await logInThroughPage(tab2, "bob", { remember: true });
  const bobs = await storedToken(tab2);
  await recordRequests(tab1);
  await restartUnder(server, tab1);
  // The token in localStorage is bob's: tab 1 must not resume with it.
  await tab1.getByLabel("Username").fill("alice");
  await tab1.getByLabel("Password", { exact: true }).fill(passwordOf("alice"));
  await tab1.getByRole("button", { name: "Log in" }).click();
  await tab1.getByRole("button", { name: "Log out" }).waitFor();
  assert.equal(await tab1.locator("#me").textContent(), "Signed in as alice");
  const sent = await tab1.evaluate(() => window.sentRequests);
  // Nothing resumed before the login typed (bob's kept login, which the
  // login then replaces, is revoked after it, on a connection of its own).
  const typed = sent.findIndex((line) => line.startsWith("/login|alice"));
  assert.ok(typed > 0, JSON.stringify(sent));
  assert.ok(!sent.slice(0, typed).some((line) => line.startsWith("/resume")), JSON.stringify(sent));
  const tcp = await open.tcp(server);
  await eventually("bob's replaced login revoked", () => tcp.request("/resume", bobs), (reply) => reply.status === 401);
  assert.deepEqual(browser.problems, []);
});

test("a login as someone else in another tab sends a tab back to the login form, also after a restart", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url);
  const tab1 = browser.page;
  // This tab only: its token is in sessionStorage.
  await logInThroughPage(tab1, "alice");
  await tab1.getByRole("button", { name: "New chatroom" }).waitFor();
  const tab2 = await anotherTab(browser, server);
  await logInThroughPage(tab2, "bob", { remember: true });
  await tab1.getByRole("button", { name: "Log in" }).waitFor();
  assert.match(await tab1.locator("#login-error").textContent(), /another tab/);
  await restartUnder(server, tab1);
  await tab1.getByRole("button", { name: "Log in" }).waitFor();
  // Still at the login form once the page has settled: a login through the
  // form is answered after anything the page asked by itself.
  await tab1.getByLabel("Username").fill("alice");
  await tab1.getByLabel("Password", { exact: true }).fill(passwordOf("alice"));
  await tab1.getByRole("button", { name: "Log in" }).click();
  await tab1.getByRole("button", { name: "Log out" }).waitFor();
  assert.equal(await tab1.locator("#me").textContent(), "Signed in as alice");
  // And bob's tab is still bob.
  assert.equal(await tab2.locator("#me").textContent(), "Signed in as bob");
  assert.deepEqual(browser.problems, []);
});

test("logging out while the server is away revokes the token once it is back", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice", { remember: true });
  await page.getByRole("button", { name: "New chatroom" }).waitFor();
  const token = await storedToken(page);
  assert.ok(token);
  await logOutWhileAway(server, page);
  assert.match(await page.locator("#login-error").textContent(), /revoked when the server/);
  await server.restart();
  await page.getByRole("status").filter({ hasText: "Connected" }).waitFor();
  await assertRevokedBy(page, open, server, token);
  // Still at the login form: the revocation logged nobody in.
  assert.ok(await page.getByRole("button", { name: "Log in" }).isVisible());
  assert.deepEqual(browser.problems, []);
});

test("a logout the server could not hear is revoked by any page that connects, logged in or not", async (t) => {
  const { open, server, browser, page: tab1 } = await onePage(t, "alice");
  await tab1.getByRole("button", { name: "New chatroom" }).waitFor();
  const token = await tab1.evaluate(() => JSON.parse(sessionStorage.getItem("pipechat.token")).token);
  const tab2 = await anotherTab(browser, server);
  await logInThroughPage(tab2, "bob");
  await logOutWhileAway(server, tab1);
  await tab1.close();
  await server.restart();
  // Bob's page comes back as bob, and revokes alice's session meanwhile.
  await tab2.getByRole("status").filter({ hasText: "Connected" }).waitFor();
  await assertRevokedBy(tab2, open, server, token);
  await tab2.getByRole("button", { name: "Log out" }).waitFor();
  assert.equal(await tab2.locator("#me").textContent(), "Signed in as bob");
  assert.deepEqual(browser.problems, []);
});

test("a login for one tab only leaves the login kept on the device", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url);
  const tab1 = browser.page;
  const tab2 = await anotherTab(browser, server);
  await tab2.getByRole("button", { name: "Log in" }).waitFor();
  await logInThroughPage(tab1, "alice", { remember: true });
  const kept = await storedToken(tab1);
  await logInThroughPage(tab2, "bob");
  assert.equal(await storedToken(tab2), kept);
  await tab1.reload();
  await tab1.getByRole("button", { name: "Log out" }).waitFor();
  assert.equal(await tab1.locator("#me").textContent(), "Signed in as alice");
  assert.equal(await tab2.locator("#me").textContent(), "Signed in as bob");
  assert.deepEqual(browser.problems, []);
});

test("two quick clicks on Log in make one session, and logging out leaves none", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const tcp = await open.tcp(server);
  await tcp.expect(201, "/register", "alice", passwordOf("alice"));
  const browser = await open.browser(server.url);
  const page = browser.page;
  await page.getByRole("button", { name: "Log in" }).waitFor();
  await recordRequests(page);
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("Password", { exact: true }).fill(passwordOf("alice"));
  await page.getByRole("button", { name: "Log in" }).dblclick();
  await page.getByRole("button", { name: "Log out" }).waitFor();
  const logins = (await page.evaluate(() => window.sentRequests)).filter((line) => line.startsWith("/login"));
  assert.equal(logins.length, 1, JSON.stringify(logins));
  assert.deepEqual(browser.problems, []);
});

test("logging out empties the page before anyone else logs in", async (t) => {
  const { page, browser } = await onePage(t, "alice", { room: "alice-secret" });
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in" }).waitFor();
  const left = await page.evaluate(() => ({
    rooms: document.querySelectorAll("#room-list li, #other-room-list li, #dm-list li").length,
    heading: document.getElementById("room-name").textContent,
    active: document.querySelectorAll("#active-list li").length,
  }));
  assert.deepEqual(left, { rooms: 0, heading: "No chatroom open", active: 0 });
  assert.deepEqual(browser.problems, []);
});

/** Changes alice's password on `page` to `fresh`, through the form. */
async function changePasswordThroughPage(page, fresh) {
  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByLabel("Current password").fill(passwordOf("alice"));
  await page.getByLabel("New password", { exact: true }).fill(fresh);
  await page.getByLabel("New password again").fill(fresh);
  await page.getByLabel("New password again").press("Enter");
  await page.getByRole("status").filter({ hasText: "Password changed" }).waitFor();
}

/**
 * A second tab whose WebSocket can be cut and kept from connecting again
 * (`cut(tab)`, `letConnect(tab)`), to be away while something happens.
 */
async function tabThatCanBeCut(browser, server) {
  const tab = await browser.context.newPage();
  await tab.addInitScript(() => {
    const Real = window.WebSocket;
    window.sockets = [];
    window.WebSocket = class extends Real {
      constructor(url, protocols) {
        // While held, a path that is no WebSocket: the attempt fails.
        super(window.holdSockets ? String(url).replace(/\/ws$/, "/held") : url, protocols);
        window.sockets.push(this);
      }
    };
  });
  await tab.goto(server.url);
  return tab;
}

async function cut(tab) {
  await tab.evaluate(() => {
    window.holdSockets = true;
    window.sockets.at(-1).close();
  });
  await tab.getByRole("status").filter({ hasText: /Offline|Reconnecting/ }).waitFor();
}

async function letConnect(tab) {
  await tab.evaluate(() => {
    window.holdSockets = false;
    // Now, not at the end of the backoff.
    window.dispatchEvent(new Event("online"));
  });
  await tab.getByRole("status").filter({ hasText: "Connected" }).waitFor();
}

test("a password changed on the page keeps this tab and its saved login", async (t) => {
  const { open, server, browser, page } = await onePage(t, "alice", { remember: true, room: "general" });
  const before = await storedToken(page);

  await page.getByRole("button", { name: "Change password" }).click();
  await page.getByLabel("Current password").fill(passwordOf("alice"));
  await page.getByLabel("New password", { exact: true }).fill("a brand new secret");
  await page.getByLabel("New password again").fill("a brand new secret!");
  await page.getByLabel("New password again").press("Enter");
  await page.locator("#password-error").filter({ hasText: "differ" }).waitFor();
  await page.getByLabel("New password again").fill("a brand new secret");
  await page.getByLabel("New password again").press("Enter");
  await page.getByRole("status").filter({ hasText: "Password changed" }).waitFor();
  assert.equal(await page.getByLabel("Current password").isVisible(), false);
  assert.equal(await page.getByLabel("Current password").inputValue(), "", "a password stays in the page");

  // The server took it: the old one no longer logs in, the new one does.
  const tcp = await open.tcp(server);
  assert.equal((await tcp.request("/login", "alice", passwordOf("alice"))).status, 401);
  await tcp.expect(200, "/login", "alice", "a brand new secret");
  // This tab goes on, with the new token saved for the next visit.
  await sendThroughPage(page, "still here");
  await eventually("sent", () => logTexts(page), (texts) => texts.includes("still here"));
  const after = await storedToken(page);
  assert.notEqual(after, before);
  await page.reload();
  await page.getByRole("button", { name: "Log out" }).waitFor();
  await eventually("the room again", () => logTexts(page), (texts) => texts.includes("still here"));
  assert.deepEqual(browser.problems, []);
});

test("after a password change in one tab, the user's tabs that keep the login on the device go on with the new one", async (t) => {
  const { server, browser, page } = await onePage(t, "alice", { remember: true, room: "general" });
  // Both resume the login kept on the device; the third is away during the change.
  const tab2 = await anotherTab(browser, server);
  await tab2.getByRole("button", { name: "Log out" }).waitFor();
  await recordRequests(tab2);
  const tab3 = await tabThatCanBeCut(browser, server);
  await tab3.getByRole("button", { name: "Log out" }).waitFor();
  await cut(tab3);

  await changePasswordThroughPage(page, "a brand new secret");
  const fresh = await storedToken(page);
  // Tab 2 finds its session ended as soon as the new login is saved, and
  // resumes that, before anyone writes there.
  await eventually(
    "tab 2 resumed the new login",
    () => tab2.evaluate(() => window.sentRequests),
    (sent) => sent.includes(`/resume|${fresh}`),
  );
  await sendThroughPage(tab2, "tab 2 after the change");
  await eventually("tab 2's message", () => logTexts(page), (texts) => texts.includes("tab 2 after the change"));
  // Tab 3 comes back, its own session ended meanwhile: the new login too.
  await letConnect(tab3);
  await tab3.getByRole("button", { name: "Log out" }).waitFor();
  await eventually("tab 3 caught up", () => logTexts(tab3), (texts) => texts.includes("tab 2 after the change"));
  await sendThroughPage(tab3, "tab 3 after the change");
  await eventually("tab 3's message", () => logTexts(page), (texts) => texts.includes("tab 3 after the change"));
  for (const tab of [tab2, tab3]) {
    assert.equal(await tab.locator("#me").textContent(), "Signed in as alice");
    assert.equal(await tab.getByRole("button", { name: "Log in" }).count(), 0);
    assert.equal(await tab.locator("#room-error").textContent(), "");
  }
  assert.equal(await storedToken(page), fresh, "the new login was forgotten");
  assert.deepEqual(browser.problems, []);
});

test("after a password change in another tab, a tab logged in for itself only goes to the login form, saying why", async (t) => {
  const { server, browser, page: tab1 } = await onePage(t, "alice");
  await tab1.getByRole("button", { name: "New chatroom" }).waitFor();
  const tab2 = await anotherTab(browser, server);
  await tab2.getByRole("button", { name: "Log in" }).waitFor();
  await logInThroughPage(tab2, "alice", { register: false, remember: true });
  await changePasswordThroughPage(tab2, "a brand new secret");
  const fresh = await storedToken(tab2);
  await tab1.evaluate(() => window.dispatchEvent(new Event("focus")));
  await tab1.getByRole("button", { name: "Log in" }).waitFor();
  assert.match(await tab1.locator("#login-error").textContent(), /password changed.*for this tab only/);
  assert.equal(await tab1.evaluate(() => sessionStorage.getItem("pipechat.token")), null);
  assert.equal(await storedToken(tab2), fresh, "the new login was forgotten");
  assert.equal(await tab2.locator("#me").textContent(), "Signed in as alice");
  assert.deepEqual(browser.problems, []);
});

test("a chatroom joined or created in one tab is listed at once in the user's other tabs", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const bob = await memberOf(open, server, "bob", ["bobs-room", "console-room"]);
  const browser = await open.browser(server.url);
  const tab1 = browser.page;
  await logInThroughPage(tab1, "alice", { remember: true });
  const tab2 = await anotherTab(browser, server);
  await tab2.getByRole("button", { name: "bobs-room (not joined)" }).waitFor();
  // Well before the half-minute refresh, and with no focus or visibility
  // change: another tab's word is what lists them.
  const soon = { timeout: 10_000 };
  await createRoomThroughPage(tab1, "made-here");
  await tab2.getByRole("button", { name: "made-here", exact: true }).waitFor(soon);
  await joinThroughPage(tab1, "bobs-room");
  await tab2.getByRole("button", { name: "bobs-room", exact: true }).waitFor(soon);
  // Subscribed there too: bob's message counts as unread in tab 2.
  await tab1.getByRole("button", { name: "made-here", exact: true }).click();
  await tab2.getByRole("button", { name: "made-here", exact: true }).click();
  await bob.expect(201, "/sendMessage", "bobs-room", "welcome, alice");
  await tab2.getByRole("button", { name: /^bobs-room 1 unread/ }).waitFor(soon);
  // Joined in another client (the console): no tab can tell; the page asks
  // again when it comes back into view.
  const elsewhere = await open.tcp(server);
  await elsewhere.expect(200, "/login", "alice", passwordOf("alice"));
  await elsewhere.expect(200, "/joinChatroom", "console-room");
  await tab2.evaluate(() => window.dispatchEvent(new Event("focus")));
  await tab2.getByRole("button", { name: "console-room", exact: true }).waitFor(soon);
  assert.deepEqual(browser.problems, []);
});
