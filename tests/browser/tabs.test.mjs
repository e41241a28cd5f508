// Tabs of one browser share localStorage: what one tab does to the saved
// login (logging out, logging in as someone else) must never turn another
// tab into a different user. And a logout the server could not hear of is
// carried out once it can.

import assert from "node:assert/strict";
import { test } from "node:test";

import { eventually, logInThroughPage, logTexts, passwordOf, scene } from "./harness.mjs";

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

  const tab2 = await browser.context.newPage();
  await tab2.goto(server.url);
  await tab2.getByRole("button", { name: "Log out" }).waitFor();
  assert.match(await tab2.locator("#me").textContent(), /alice/);
  await tab2.getByRole("button", { name: "Log out" }).click();

  // Tab 1 follows: the login form, a note, nothing of alice left.
  await tab1.getByRole("button", { name: "Log in" }).waitFor();
  assert.match(await tab1.locator("#login-error").textContent(), /logged out in another tab/);
  assert.equal(await tab1.locator("#log .msg").count(), 0);

  await logInThroughPage(tab2, "bob", { remember: true });
  await recordRequests(tab1);
  await restartUnder(server, tab1);
  // The token in localStorage is bob's: tab 1 must not resume with it.
  await tab1.getByLabel("Username").fill("alice");
  await tab1.getByLabel("Password").fill(passwordOf("alice"));
  await tab1.getByRole("button", { name: "Log in" }).click();
  await tab1.getByRole("button", { name: "Log out" }).waitFor();
  assert.equal(await tab1.locator("#me").textContent(), "Signed in as alice");
  const sent = await tab1.evaluate(() => window.sentRequests);
  assert.ok(!sent.some((line) => line.startsWith("/resume")), JSON.stringify(sent));
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
  const tab2 = await browser.context.newPage();
  await tab2.goto(server.url);
  await logInThroughPage(tab2, "bob", { remember: true });
  await tab1.getByRole("button", { name: "Log in" }).waitFor();
  assert.match(await tab1.locator("#login-error").textContent(), /another tab/);
  await restartUnder(server, tab1);
  await tab1.getByRole("button", { name: "Log in" }).waitFor();
  // Still at the login form once the page has settled: a login through the
  // form is answered after anything the page asked by itself.
  await tab1.getByLabel("Username").fill("alice");
  await tab1.getByLabel("Password").fill(passwordOf("alice"));
  await tab1.getByRole("button", { name: "Log in" }).click();
  await tab1.getByRole("button", { name: "Log out" }).waitFor();
  assert.equal(await tab1.locator("#me").textContent(), "Signed in as alice");
  // And bob's tab is still bob.
  assert.equal(await tab2.locator("#me").textContent(), "Signed in as bob");
  assert.deepEqual(browser.problems, []);
});

test("logging out while the server is away revokes the token once it is back", async (t) => {
  const open = scene(t);
  const server = await open.server();
  const browser = await open.browser(server.url);
  const page = browser.page;
  await logInThroughPage(page, "alice", { remember: true });
  await page.getByRole("button", { name: "New chatroom" }).waitFor();
  const token = await storedToken(page);
  assert.ok(token);
  assert.equal(await server.stop(), 0);
  await page.getByRole("status").filter({ hasText: /Offline|Reconnecting/ }).waitFor();
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in" }).waitFor();
  assert.match(await page.locator("#login-error").textContent(), /revoked when the server/);
  await server.restart();
  await page.getByRole("status").filter({ hasText: "Connected" }).waitFor();
  await eventually(
    "nothing left to revoke",
    () => page.evaluate(() => localStorage.getItem("pipechat.revoke")),
    (pending) => pending === null,
  );
  const tcp = await open.tcp(server);
  const reply = await tcp.request("/resume", token);
  assert.equal(reply.status, 401, JSON.stringify(reply));
  // Still at the login form: the revocation logged nobody in.
  assert.ok(await page.getByRole("button", { name: "Log in" }).isVisible());
  assert.deepEqual(browser.problems, []);
});
