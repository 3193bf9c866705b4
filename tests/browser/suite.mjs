// Headless-Chromium scenarios for rocket_oidc_auth: the quickstart app against the real
// test provider (tests/op), driven by playwright-core with Debian's /usr/bin/chromium.
//
// Run by tests/browser.rs, one scenario per process:
//
//   APP=http://127.0.0.1:PORT OP=http://localhost:PORT ARTIFACTS=dir node suite.mjs <scenario>
//
// APP      the app's origin (no trailing slash)
// OP       the provider's issuer (no trailing slash); on another site than APP, as in real life
// ARTIFACTS  where the screenshots of each step go; deleted on success, kept on failure
// CHROMIUM   the browser binary (default /usr/bin/chromium); never downloaded
// KEEP_ARTIFACTS=1  keep the screenshots on success too
//
// Exit code 0: the scenario passed. Anything else: it failed, and the last lines say why
// and where the screenshots are. Every wait is bounded, and a watchdog ends the process
// whatever happens, so a run never hangs.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const env = process.env;
const APP = (env.APP || '').replace(/\/$/, '');
const OP = (env.OP || '').replace(/\/$/, '');
const ARTIFACTS = env.ARTIFACTS || path.join(tmpdir(), 'rocket-oidc-browser-artifacts');
const CHROMIUM = env.CHROMIUM || '/usr/bin/chromium';
const SCENARIO = process.argv[2];

// What this machine needs (see the README): no sandbox as root, no GPU, and no background
// networking, since the network is closed and Chromium would keep trying to reach Google.
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const ACTION_TIMEOUT = 5_000; // a click, a fill, a locator
const NAVIGATION_TIMEOUT = 10_000; // a page load, including its redirects
const LAUNCH_TIMEOUT = 20_000; // starting Chromium
const WATCHDOG = 90_000; // the whole scenario

const PASSWORD = 'test';
const CALLBACK_PATH = '/redirect_uri';
const SESSION_COOKIE = 'oidc_session_default';
const TX_PREFIX = 'oidc_tx_';

// ---------------------------------------------------------------------------
// Bookkeeping: steps, screenshots, and everything the app answered.
// ---------------------------------------------------------------------------

mkdirSync(ARTIFACTS, { recursive: true });
const steps = [];
let shots = 0;

function log(message) {
  steps.push(message);
  console.log(`[${SCENARIO}] ${message}`);
}

async function shot(page, name) {
  shots += 1;
  const file = path.join(ARTIFACTS, `${String(shots).padStart(2, '0')}-${name}.png`);
  try {
    await page.screenshot({ path: file, fullPage: true, timeout: ACTION_TIMEOUT });
  } catch (err) {
    log(`(no screenshot ${name}: ${err.message.split('\n')[0]})`);
  }
}

class Failure extends Error {}

function check(condition, message, details) {
  if (!condition) {
    throw new Failure(details === undefined ? message : `${message}\n  got: ${format(details)}`);
  }
}

function format(value) {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

const isApp = (url) => url.startsWith(`${APP}/`) || url === APP;
const isOp = (url) => url.startsWith(`${OP}/`) || url === OP;
const pathOf = (url) => new URL(url).pathname;

// Every response of the app, in order, for every page of every context.
const appResponses = [];
// Every request to the callback path, with the time it was made.
const callbacks = [];

function watch(context) {
  context.on('request', (request) => {
    if (isApp(request.url()) && pathOf(request.url()) === CALLBACK_PATH) {
      callbacks.push({
        url: request.url(),
        at: Date.now(),
        method: request.method(),
        postData: request.postData(),
      });
    }
  });
  context.on('response', (response) => {
    if (!isApp(response.url())) return;
    appResponses.push({
      method: response.request().method(),
      url: response.url(),
      status: response.status(),
      location: response.headers().location,
      cacheControl: response.headers()['cache-control'],
    });
  });
}

// Browsers fetch /favicon.ico on their own; the app has none, and that 404 is no error of
// the login.
function appErrors() {
  return appResponses.filter((r) => r.status >= 400 && pathOf(r.url) !== '/favicon.ico');
}

// ---------------------------------------------------------------------------
// The browser.
// ---------------------------------------------------------------------------

const launchOptions = {
  executablePath: CHROMIUM,
  headless: true,
  args: FLAGS,
  timeout: LAUNCH_TIMEOUT,
};

function prepare(context) {
  context.setDefaultTimeout(ACTION_TIMEOUT);
  context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT);
  watch(context);
  return context;
}

/** A fresh browser with one empty context (Playwright gives it a new user-data-dir). */
async function freshContext() {
  const browser = await chromium.launch(launchOptions);
  const context = prepare(await browser.newContext());
  return { context, close: () => browser.close() };
}

/** A browser on `userDataDir`, kept between launches like a real profile. */
async function persistentContext(userDataDir) {
  const context = prepare(await chromium.launchPersistentContext(userDataDir, launchOptions));
  return { context, close: () => context.close() };
}

async function firstPage(context) {
  return context.pages()[0] ?? context.newPage();
}

/** The text the app answered (JSON shows in a <pre>, also with Chromium's JSON viewer). */
async function bodyText(page) {
  return page.evaluate(() => (document.querySelector('pre') ?? document.body)?.innerText ?? '');
}

async function bodyJson(page) {
  const text = await bodyText(page);
  try {
    return JSON.parse(text);
  } catch {
    throw new Failure(`${page.url()} did not show JSON:\n${text.slice(0, 2000)}`);
  }
}

async function appCookies(context) {
  return (await context.cookies()).filter((c) => c.domain === new URL(APP).hostname);
}

// ---------------------------------------------------------------------------
// The provider's pages.
// ---------------------------------------------------------------------------

const loginField = (page) => page.locator('input[name="login"]');
const consentForm = (page) => page.locator('form:has(input[name="prompt"][value="consent"])');

/** Waits until `page` shows the provider's login page, and says so. */
async function expectLoginPage(page, what) {
  check(isOp(page.url()), `${what}: the browser should be on the provider (${OP})`, page.url());
  check(
    pathOf(page.url()).startsWith('/interaction/'),
    `${what}: the provider should show an interaction page`,
    page.url(),
  );
  await loginField(page).waitFor({ state: 'visible' }).catch(async () => {
    throw new Failure(`${what}: no login form at ${page.url()}:\n${(await bodyText(page)).slice(0, 1000)}`);
  });
}

/**
 * Fills the provider's login page as `user` and consents if asked; resolves once the
 * browser is back on the app. Returns whether a consent page was shown.
 */
async function logInAtProvider(page, user, tag = 'provider') {
  await expectLoginPage(page, 'before logging in');
  await loginField(page).fill(user);
  await page.locator('input[name="password"]').fill(PASSWORD);
  await shot(page, `${tag}-login-filled`);
  const loginPage = page.url();
  await Promise.all([
    page.waitForURL((url) => url.href !== loginPage),
    page.locator('button[type="submit"]').click(),
  ]);
  return continueAtProvider(page, tag);
}

/**
 * After the login form (or with a provider session already there): clicks through the
 * consent page if one is shown and waits until the browser is back on the app. Fails if
 * the provider asks for credentials.
 */
async function continueAtProvider(page, tag = 'provider') {
  let consented = false;
  for (let i = 0; i < 3 && !isApp(page.url()); i += 1) {
    await page.waitForLoadState('load');
    if (isApp(page.url())) break;
    check(isOp(page.url()), 'the browser left both the app and the provider', page.url());
    if (await loginField(page).count()) {
      await shot(page, `${tag}-unexpected-login`);
      throw new Failure(`the provider asked for credentials again at ${page.url()}`);
    }
    if (await consentForm(page).count()) {
      await shot(page, `${tag}-consent`);
      consented = true;
      await Promise.all([
        page.waitForURL((url) => isApp(url.href)),
        consentForm(page).locator('button[type="submit"]').click(),
      ]);
      break;
    }
    await page.waitForURL((url) => isApp(url.href) || url.pathname.startsWith('/interaction/'))
      .catch(async () => {
        throw new Failure(`stuck at the provider, ${page.url()}:\n${(await bodyText(page)).slice(0, 1000)}`);
      });
  }
  await page.waitForLoadState('load');
  check(isApp(page.url()), 'the provider should send the browser back to the app', page.url());
  await shot(page, `${tag}-back-on-app`);
  return consented;
}

/** Opens `APP + path` without a session and logs in there; the browser ends on `path`. */
async function fullLogin(page, path, user) {
  await page.goto(`${APP}${path}`);
  await shot(page, `open-${path.slice(1) || 'root'}`);
  await logInAtProvider(page, user);
  check(page.url() === `${APP}${path}`, `after the login the browser should be back on ${path}`, page.url());
}

async function expectLoginJson(page, user) {
  const body = await bodyJson(page);
  check(body.id_token?.sub === user, `/login should show id_token.sub = ${user}`, body);
  check(body.userinfo?.email === `${user}@example.com`, `/login should show userinfo.email`, body);
  check(typeof body.access_token === 'string' && body.access_token.length > 0, '/login should show an access token', body);
  return body;
}

async function expectWhoami(page, user) {
  check(page.url() === `${APP}/whoami`, 'the browser should be on /whoami', page.url());
  const text = (await bodyText(page)).trim();
  check(text === user, `/whoami should show ${user}`, text);
}

function expectNoAppErrors() {
  const errors = appErrors();
  check(errors.length === 0, 'the app answered an error', errors);
}

/** The app's responses to `path` (the whole chain of one navigation is listed in order). */
const responsesTo = (path) => appResponses.filter((r) => pathOf(r.url) === path);

// ---------------------------------------------------------------------------
// Scenarios.
// ---------------------------------------------------------------------------

const scenarios = {
  /** The quickstart's login: provider login page, consent, back on /login with the JSON. */
  async login() {
    const { context, close } = await freshContext();
    const page = await firstPage(context);

    log('open /login without a session');
    const first = await page.goto(`${APP}/login`);
    await shot(page, 'provider-login-page');
    check(isOp(page.url()), '/login should redirect a browser to the provider', page.url());
    check(first.status() === 200, 'the provider login page should load', first.status());
    const redirect = responsesTo('/login')[0];
    check(redirect?.status === 303 && redirect.location?.startsWith(`${OP}/auth?`),
      '/login should answer 303 to the provider\'s authorization endpoint', redirect);
    const authUrl = new URL(redirect.location);
    for (const [name, value] of [['response_type', 'code'], ['code_challenge_method', 'S256']]) {
      check(authUrl.searchParams.get(name) === value, `the authorization request should carry ${name}=${value}`, authUrl.href);
    }
    for (const name of ['state', 'nonce', 'code_challenge']) {
      check(authUrl.searchParams.get(name), `the authorization request should carry ${name}`, authUrl.href);
    }

    log('log in as alice and consent');
    const consented = await logInAtProvider(page, 'alice');
    check(consented, 'the provider should ask for consent on a first login');
    check(new URL(page.url()).pathname === '/login', 'the login should land on exactly /login', page.url());
    check(page.url() === `${APP}/login`, 'the landing URL should carry no query or fragment', page.url());
    await expectLoginJson(page, 'alice');

    check(callbacks.length === 1, 'exactly one callback request', callbacks);
    const callback = responsesTo(CALLBACK_PATH);
    check(callback.length === 1 && callback[0].status === 303 && callback[0].location === '/login',
      'the callback should answer 303 to /login', callback);
    check(new URL(callback[0].url).searchParams.get('state') === authUrl.searchParams.get('state'),
      'the callback should carry the state of this login', callback[0].url);
    expectNoAppErrors();
    await close();
  },

  /**
   * The form_post response mode: the provider's page posts the answer to the callback from
   * its own site. The login cookie is SameSite=None; Secure (taken over plain http on
   * 127.0.0.1, a secure context), so it comes with that cross-site POST, and the login
   * lands on /login.
   */
  async 'login-form-post'() {
    const { context, close } = await freshContext();
    const page = await firstPage(context);

    log('open /login without a session');
    await page.goto(`${APP}/login`);
    check(isOp(page.url()), '/login should redirect a browser to the provider', page.url());
    const redirect = responsesTo('/login')[0];
    const authUrl = new URL(redirect.location);
    check(authUrl.searchParams.get('response_mode') === 'form_post',
      'the authorization request should ask for form_post', authUrl.href);
    const loginCookie = (await appCookies(context)).find((c) => c.name.startsWith('oidc_tx_'));
    check(loginCookie?.sameSite === 'None' && loginCookie?.secure === true,
      'the login cookie should be SameSite=None; Secure', loginCookie);

    log('log in as alice and consent');
    await logInAtProvider(page, 'alice');
    check(page.url() === `${APP}/login`, 'the login should land on exactly /login', page.url());
    await expectLoginJson(page, 'alice');

    check(callbacks.length === 1 && callbacks[0].method === 'POST',
      'the answer should come as one POST to the callback', callbacks);
    const posted = new URLSearchParams(callbacks[0].postData || '');
    check(posted.get('state') === authUrl.searchParams.get('state'),
      'the posted answer should carry the state of this login', callbacks[0]);
    const callback = responsesTo(CALLBACK_PATH);
    check(callback.length === 1 && callback[0].status === 303 && callback[0].location === '/login',
      'the callback should answer 303 to /login', callback);
    expectNoAppErrors();
    await close();
  },

  /**
   * A hybrid login (`response_type = "code id_token"`), answered in the URL's fragment:
   * the callback's relay page runs its one script under its hash-pinned policy, posts the
   * fragment back same-site (the Lax login cookie goes with it), drops it from the address
   * bar, and the login lands on /login.
   */
  async 'login-fragment'() {
    const { context, close } = await freshContext();
    const page = await firstPage(context);
    const violations = [];
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });

    log('open /login without a session');
    await page.goto(`${APP}/login`);
    check(isOp(page.url()), '/login should redirect a browser to the provider', page.url());
    const authUrl = new URL(responsesTo('/login')[0].location);
    check(authUrl.searchParams.get('response_type') === 'code id_token',
      'the authorization request should ask for code id_token', authUrl.href);
    check(!authUrl.searchParams.has('response_mode'),
      'fragment is the default of hybrid logins: no response_mode', authUrl.href);

    log('log in as alice and consent; the relay page posts the fragment');
    await logInAtProvider(page, 'alice');
    await page.waitForURL(`${APP}/login`);
    check(page.url() === `${APP}/login`, 'the login should land on exactly /login', page.url());
    await expectLoginJson(page, 'alice');

    check(callbacks.length === 2, 'the relay page, then its post', callbacks);
    check(callbacks[0].method === 'GET' && !new URL(callbacks[0].url).search,
      'the browser first loads the callback without a query', callbacks[0]);
    check(callbacks[1].method === 'POST', 'the relay page posts the answer', callbacks[1]);
    const posted = new URLSearchParams(callbacks[1].postData || '');
    check(posted.get('state') === authUrl.searchParams.get('state') && posted.get('code')
      && posted.get('id_token'), 'the posted answer is the fragment of this login', callbacks[1]);
    const callback = responsesTo(CALLBACK_PATH);
    check(callback.length === 2 && callback[0].status === 200
      && callback[0].cacheControl === 'no-store',
      'the relay page is served and never kept', callback);
    check(callback[1].status === 303 && callback[1].location === '/login',
      'the posted answer finishes the login', callback);
    check(violations.length === 0, 'the relay script runs under the page policy', violations);
    expectNoAppErrors();
    await close();
  },

  /**
   * Tabs start logins before any finishes; each ends logged in on the page it first asked
   * for, through its own transaction (state, nonce, PKCE verifier, return path).
   */
  /**
   * The host slip: /login opened on the other loopback name (localhost while redirect_uri is
   * on 127.0.0.1). The app first sends the browser to redirect_uri's origin, so the login's
   * cookie lands where the callback reads it, and the login succeeds.
   */
  async 'other-host'() {
    const { context, close } = await freshContext();
    const page = await firstPage(context);
    const other = APP.replace('127.0.0.1', 'localhost');
    log(`open ${other}/login`);
    await page.goto(`${other}/login`);
    await shot(page, 'provider-login-page');
    check(isOp(page.url()), 'the login should reach the provider', page.url());
    await logInAtProvider(page, 'bob');
    check(page.url() === `${APP}/login`, 'the login should land on /login at redirect_uri\'s origin', page.url());
    await expectLoginJson(page, 'bob');
    expectNoAppErrors();
    await close();
  },

  async 'two-tabs'() {
    const { context, close } = await freshContext();
    const tab1 = await firstPage(context);
    const tab2 = await context.newPage();
    const tab3 = await context.newPage();
    const tabs = [[tab1, '/login'], [tab2, '/whoami'], [tab3, '/token']];

    log('tab 1 opens /login, tab 2 /whoami, tab 3 /token; all land on the provider\'s login page');
    const states = [];
    for (const [i, [tab, path]] of tabs.entries()) {
      await tab.goto(`${APP}${path}`);
      await expectLoginPage(tab, `tab ${i + 1}`);
      await shot(tab, `tab${i + 1}-provider-login`);
      const redirect = responsesTo(path)[0];
      check(redirect?.status === 303 && redirect.location?.startsWith(`${OP}/auth?`),
        `tab ${i + 1}: ${path} should redirect to the provider`, redirect);
      states.push(new URL(redirect.location).searchParams.get('state'));
    }
    check(new Set(states).size === 3, 'each login should have its own state', states);
    const pending = (await appCookies(context)).filter((c) => c.name.startsWith(TX_PREFIX));
    check(pending.length === 3, 'three logins in flight should have three transaction cookies',
      pending.map((c) => c.name));

    log('tab 1 logs in (login + consent) and lands on /login');
    await logInAtProvider(tab1, 'alice', 'tab1');
    check(tab1.url() === `${APP}/login`, 'tab 1 should land on /login', tab1.url());
    await expectLoginJson(tab1, 'alice');

    // Tab 2 still shows the login form of the interaction it started before tab 1's login.
    // It continues its authorization request: the provider knows the user now (single
    // sign-on) and sends tab 2 back with a code for ITS state, which only tab 2's
    // transaction cookie can redeem.
    log('tab 2 continues its own authorization request: single sign-on, no credentials asked');
    await tab2.goto(responsesTo('/whoami')[0].location);
    const consented = await continueAtProvider(tab2, 'tab2');
    log(`tab 2 came back ${consented ? 'after a consent page' : 'without any provider page'}`);
    await expectWhoami(tab2, 'alice');

    // Tab 3 does what a user who just reloads does: the provider fixed that interaction's
    // prompt when it began, so the login form comes back, and the user fills it in again.
    log('tab 3 reloads its provider page: the login form again; the user logs in there too');
    await tab3.reload();
    await logInAtProvider(tab3, 'alice', 'tab3');
    check(tab3.url() === `${APP}/token`, 'tab 3 should land on /token', tab3.url());
    const token = await bodyJson(tab3);
    check(typeof token.access_token === 'string' && token.access_token.length > 0,
      '/token should show an access token', token);

    check(callbacks.length === 3, 'one callback per tab', callbacks);
    const returned = callbacks.map((c) => new URL(c.url).searchParams.get('state'));
    check(JSON.stringify(returned) === JSON.stringify(states), 'each callback should carry its own tab\'s state',
      { returned, states });
    const answers = responsesTo(CALLBACK_PATH).map((r) => [r.status, r.location]);
    check(JSON.stringify(answers) === JSON.stringify([[303, '/login'], [303, '/whoami'], [303, '/token']]),
      'each callback should return its tab to the page it first asked for', answers);

    log('tab 1 reloads /login: still logged in');
    await tab1.reload();
    await expectLoginJson(tab1, 'alice');
    await shot(tab1, 'tab1-reloaded');
    const left = (await appCookies(context)).filter((c) => c.name.startsWith(TX_PREFIX));
    check(left.length === 0, 'every transaction cookie should be consumed', left.map((c) => c.name));
    expectNoAppErrors();
    await close();
  },

  /** Back after the login never replays the callback, and the session stays. */
  async 'back-button'() {
    const { context, close } = await freshContext();
    const page = await firstPage(context);

    log('log in through /login');
    await fullLogin(page, '/login', 'bob');
    await expectLoginJson(page, 'bob');
    check(callbacks.length === 1, 'one callback for the login', callbacks);

    const history = await page.evaluate(() => history.length);
    log(`history has ${history} entries; the callback is a redirect, so none of them`);
    const before = callbacks.length;
    const sinceLogin = [];
    page.on('request', (request) => sinceLogin.push(`${request.method()} ${request.url()}`));

    log('press Back');
    const back = await page.goBack({ waitUntil: 'load' });
    await shot(page, 'after-back');
    log(`Back went to ${page.url()} (${back ? back.status() : 'from the back/forward cache'})`);
    check(!isApp(page.url()) || pathOf(page.url()) !== CALLBACK_PATH, 'Back must not show the callback URL', page.url());
    check(callbacks.length === before, 'Back must not request the callback again',
      { callbacks: callbacks.slice(before), requests: sinceLogin });
    check(!sinceLogin.some((r) => r.includes(CALLBACK_PATH)), 'no request to the callback after the login', sinceLogin);
    expectNoAppErrors();

    log('press Forward: /login again, still logged in');
    await page.goForward({ waitUntil: 'load' });
    await shot(page, 'after-forward');
    check(page.url() === `${APP}/login`, 'Forward should return to /login', page.url());
    await expectLoginJson(page, 'bob');

    log('open /whoami: the session is intact');
    await page.goto(`${APP}/whoami`);
    await shot(page, 'whoami');
    await expectWhoami(page, 'bob');
    check(callbacks.length === before, 'still no callback request', callbacks.slice(before));
    check(!sinceLogin.some((r) => r.includes(CALLBACK_PATH)), 'no request to the callback after the login', sinceLogin);
    expectNoAppErrors();
    await close();
  },

  /** Logout through the provider's end-session page; the next login asks for credentials. */
  async logout() {
    const { context, close } = await freshContext();
    const page = await firstPage(context);

    log('log in through /login');
    await fullLogin(page, '/login', 'carol');
    await expectLoginJson(page, 'carol');

    log('open /logout: the provider asks to confirm');
    await page.goto(`${APP}/logout`);
    await shot(page, 'provider-end-session');
    check(isOp(page.url()) && pathOf(page.url()) === '/session/end',
      '/logout should send the browser to the provider\'s end-session page', page.url());
    const logoutRedirect = responsesTo('/logout')[0];
    check(logoutRedirect?.status === 303, '/logout should answer 303', logoutRedirect);
    const endSession = new URL(page.url());
    for (const name of ['id_token_hint', 'post_logout_redirect_uri', 'state']) {
      check(endSession.searchParams.get(name), `the end-session request should carry ${name}`, page.url());
    }
    const session = (await appCookies(context)).find((c) => c.name === SESSION_COOKIE);
    check(!session, 'the local session cookie should be gone once /logout answered', session);

    log('click "Yes, sign me out"');
    const yes = page.locator('button[name="logout"][value="yes"]');
    await yes.waitFor({ state: 'visible' });
    await Promise.all([
      page.waitForURL((url) => isApp(url.href) && url.pathname === '/'),
      yes.click(),
    ]);
    await page.waitForLoadState('load');
    await shot(page, 'back-on-app-root');
    check(new URL(page.url()).pathname === '/', 'the logout should land on the app\'s /', page.url());
    // The return route checks the logout's state against its cookie: that cookie had to
    // come back on a cross-site redirect from the provider (SameSite=Lax at work).
    const returned = appResponses.filter((r) => pathOf(r.url).startsWith('/logout/')
      && pathOf(r.url) !== '/logout/frontchannel');
    check(returned.length === 1 && returned[0].status === 303 && returned[0].location === '/',
      'the return from the provider should pass the state check and redirect to /', returned);
    // With OP_FRONTCHANNEL=1 the provider's logout page framed the app's front-channel
    // logout URI first (oidcc-client-test-rp-frontchannel-rpinitlogout).
    const framed = responsesTo('/logout/frontchannel');
    if (env.OP_FRONTCHANNEL === '1') {
      check(framed.length === 1 && framed[0].status === 200 && framed[0].cacheControl === 'no-store',
        'the provider\'s logout page should frame the app once, answered 200 and never cached', framed);
    } else {
      check(framed.length === 0, 'no front-channel request without OP_FRONTCHANNEL', framed);
    }
    const root = responsesTo('/').at(-1);
    check(root?.status === 200, 'the app should answer / with 200', root);
    const text = await bodyText(page);
    check(text.includes('This page is public'), '/ should show the app\'s public page', text);
    const left = (await appCookies(context)).map((c) => c.name);
    check(!left.includes(SESSION_COOKIE) && !left.includes('oidc_logout'),
      'no session or logout cookie should be left', left);

    log('open /login again: the provider asks for credentials, not just consent');
    await page.goto(`${APP}/login`);
    await shot(page, 'provider-login-again');
    await expectLoginPage(page, 'after logout');
    expectNoAppErrors();
    await close();
  },

  /**
   * Front-channel logout started at the provider (OP_FRONTCHANNEL=1): its logout page
   * frames the app's frontchannel_logout_uri with iss and the session's sid. The framed
   * request is cross-site, so the app's Lax session cookie stays behind: the app ends the
   * session by its sid, answers 200 with frame-ancestors naming the provider, and the
   * next visit of the app finds no session.
   */
  async 'frontchannel-logout'() {
    const { context, close } = await freshContext();
    const page = await firstPage(context);
    const framed = [];
    context.on('request', async (request) => {
      if (isApp(request.url()) && pathOf(request.url()) === '/logout/frontchannel') {
        const entry = { url: request.url(), inFrame: request.frame().parentFrame() !== null };
        framed.push(entry);
        const headers = await request.allHeaders();
        entry.dest = headers['sec-fetch-dest'];
        entry.cookie = headers.cookie || '';
      }
    });
    const refusals = [];
    page.on('console', (message) => {
      if (/Refused to (frame|display)|frame-ancestors/i.test(message.text())) refusals.push(message.text());
    });

    log('log in through /login');
    await fullLogin(page, '/login', 'dave');
    const session = await bodyJson(page);
    const sid = session?.id_token?.sid;
    check(typeof sid === 'string' && sid.length > 0, 'the ID token should carry a sid', session);

    log('log out at the provider: its page frames the app');
    await page.goto(`${OP}/session/end`);
    await shot(page, 'provider-logout');
    const yes = page.locator('button[name="logout"][value="yes"]');
    await yes.waitFor({ state: 'visible' });
    await Promise.all([
      page.waitForURL((url) => isOp(url.href) && !url.pathname.startsWith('/session/end?')
        && url.pathname !== '/session/end'),
      yes.click(),
    ]);
    await page.waitForLoadState('load');
    await shot(page, 'provider-logged-out');
    check(framed.length === 1, 'the provider should frame the app once', framed);
    const frameUrl = new URL(framed[0].url);
    check(frameUrl.searchParams.get('sid') === sid && frameUrl.searchParams.get('iss') === OP,
      'the framed URI should carry the session\'s sid and the issuer', framed[0]);
    check(framed[0].inFrame && (framed[0].dest ?? 'iframe') === 'iframe',
      'the request should come from an iframe', framed[0]);
    check(!framed[0].cookie.includes(SESSION_COOKIE),
      'the Lax session cookie should stay behind on the cross-site framed request', framed[0]);
    const answer = responsesTo('/logout/frontchannel')[0];
    check(answer?.status === 200 && answer.cacheControl === 'no-store',
      'the app should answer the framed request 200, never cached', answer);
    check(refusals.length === 0, 'the browser should allow the frame (frame-ancestors)', refusals);

    log('open /login: the session is gone, so the app sends the browser to the provider');
    await page.goto(`${APP}/login`);
    await shot(page, 'login-again');
    check(isOp(page.url()), 'the app session should have ended', page.url());
    await expectLoginPage(page, 'after the provider logout');
    await close();
  },

  /**
   * After logout, Back must not show the logged-in pages again: the app's answers to a
   * session must not be kept in the browser's cache (Cache-Control: no-store).
   */
  async 'back-after-logout'() {
    const { context, close } = await freshContext();
    const page = await firstPage(context);

    log('log in through /login');
    await fullLogin(page, '/login', 'frank');
    const { access_token: accessToken } = await expectLoginJson(page, 'frank');
    const loginPage = responsesTo('/login').at(-1);
    log(`/login answered ${loginPage.status} with Cache-Control: ${loginPage.cacheControl ?? '(none)'}`);

    log('log out through the provider');
    await page.goto(`${APP}/logout`);
    const yes = page.locator('button[name="logout"][value="yes"]');
    await yes.waitFor({ state: 'visible' });
    await Promise.all([
      page.waitForURL((url) => isApp(url.href) && url.pathname === '/'),
      yes.click(),
    ]);
    await page.waitForLoadState('load');
    await shot(page, 'logged-out');

    log('press Back until the /login entry');
    for (let i = 0; i < 4 && !(isApp(page.url()) && pathOf(page.url()) === '/login'); i += 1) {
      const response = await page.goBack({ waitUntil: 'load' });
      await shot(page, `back-${i + 1}`);
      log(`Back went to ${page.url()} (${response ? response.status() : 'from the back/forward cache'})`);
      if (!response && !page.url().startsWith('http')) break;
    }
    const text = await bodyText(page);
    check(!text.includes(accessToken),
      'after logout, Back shows the logged-in /login page with the access token (served from the browser cache: the app sends no Cache-Control: no-store)',
      `${page.url()}: ${text.slice(0, 300)}`);
    await close();
  },

  async 'restart-permanent'() {
    await restart({ permanent: true });
  },

  async 'restart-ephemeral'() {
    await restart({ permanent: false });
  },

  /** The cookies as documented: names, sizes, HttpOnly, SameSite, Secure, Path, expiry. */
  async cookies() {
    const { context, close } = await freshContext();
    const page = await firstPage(context);
    const setCookies = [];
    context.on('response', async (response) => {
      if (!isApp(response.url())) return;
      const headers = await response.headersArray().catch(() => []);
      for (const { name, value } of headers) {
        if (name.toLowerCase() === 'set-cookie') {
          for (const line of value.split('\n')) setCookies.push({ path: pathOf(response.url()), line });
        }
      }
    });

    log('open /login: the app sets a transaction cookie and redirects to the provider');
    const startedAt = Date.now() / 1000;
    await page.goto(`${APP}/login`);
    await expectLoginPage(page, 'during the login');
    await shot(page, 'provider-login-page');
    const during = await appCookies(context);
    printCookies('during the login', during);
    const tx = during.filter((c) => c.name.startsWith(TX_PREFIX));
    check(tx.length === 1, 'exactly one oidc_tx_* cookie during a login', during);
    const [t] = tx;
    check(/^oidc_tx_[A-Za-z0-9_-]{16}$/.test(t.name), 'the transaction cookie is named oidc_tx_<16 characters of state>', t.name);
    check(t.httpOnly === true, 'the transaction cookie is HttpOnly', t);
    check(t.sameSite === 'Lax', 'the transaction cookie is SameSite=Lax', t);
    check(t.secure === false, 'the transaction cookie is not Secure over http', t);
    check(t.path === CALLBACK_PATH, `the transaction cookie is scoped to ${CALLBACK_PATH}`, t);
    check(t.expires > startedAt + 540 && t.expires < startedAt + 660,
      'the transaction cookie lives about 10 minutes (login_timeout)', { expires: t.expires, now: startedAt });
    check(!during.some((c) => c.name === SESSION_COOKIE), 'no session cookie before the login', during);
    check(t.name.length + t.value.length < 4096, 'the transaction cookie fits in 4096 bytes', t.value.length);
    // Playwright reports SameSite=Lax for a cookie that has no SameSite at all (Chromium's
    // default): the header itself must say it.
    const txHeader = setCookies.find((s) => s.line.startsWith(`${t.name}=`));
    check(txHeader && /;\s*SameSite=Lax/i.test(txHeader.line) && /;\s*HttpOnly/i.test(txHeader.line)
      && !/;\s*Secure/i.test(txHeader.line),
    'the Set-Cookie header of the transaction cookie says HttpOnly and SameSite=Lax, not Secure',
    txHeader?.line.replace(/=[^;]*/, '=…'));

    log('log in as dave');
    await logInAtProvider(page, 'dave');
    check(page.url() === `${APP}/login`, 'the login lands on /login', page.url());
    await expectLoginJson(page, 'dave');
    const after = await appCookies(context);
    printCookies('after the login', after);
    const s = after.find((c) => c.name === SESSION_COOKIE);
    check(s, `a ${SESSION_COOKIE} cookie after the login`, after);
    check(s.httpOnly === true, 'the session cookie is HttpOnly', s);
    check(s.sameSite === 'Lax', 'the session cookie is SameSite=Lax', s);
    check(s.secure === false, 'the session cookie is not Secure over http', s);
    check(s.path === '/', 'the session cookie is scoped to /', s);
    const lifetime = 8 * 3600; // the default session_lifetime
    const now = Date.now() / 1000;
    check(s.expires > now + lifetime - 120 && s.expires < now + lifetime + 120,
      'the session cookie expires in about 8 hours (session_lifetime, session_permanent)', { expires: s.expires, now });
    check(s.name.length + s.value.length < 4096, 'the session cookie fits in 4096 bytes', s.name.length + s.value.length);
    const sHeader = setCookies.find((c) => c.line.startsWith(`${SESSION_COOKIE}=`));
    check(sHeader && /;\s*SameSite=Lax/i.test(sHeader.line) && /;\s*HttpOnly/i.test(sHeader.line)
      && !/;\s*Secure/i.test(sHeader.line) && /;\s*Path=\/(;|$)/i.test(sHeader.line),
    'the Set-Cookie header of the session cookie says HttpOnly, SameSite=Lax, Path=/, not Secure',
    sHeader?.line.replace(/=[^;]*/, '=…'));
    const leftTx = after.filter((c) => c.name.startsWith(TX_PREFIX));
    check(leftTx.length === 0, 'no oidc_tx_* cookie left after the login', leftTx.map((c) => c.name));
    const others = after.filter((c) => c.name !== SESSION_COOKIE);
    check(others.length === 0, 'the app keeps no other cookie', others.map((c) => c.name));
    printCookies('the provider\'s (localhost)', (await context.cookies()).filter((c) => isOp(`http://${c.domain}:${new URL(OP).port}/`)));
    expectNoAppErrors();
    await close();
  },
};

function printCookies(when, cookies) {
  for (const c of cookies) {
    const attrs = [
      `size ${c.name.length + c.value.length} B`,
      `path ${c.path}`,
      c.httpOnly ? 'HttpOnly' : 'script-readable',
      `SameSite=${c.sameSite}`,
      c.secure ? 'Secure' : 'not Secure',
      c.expires === -1 ? 'session cookie' : `expires in ${Math.round(c.expires - Date.now() / 1000)} s`,
    ];
    log(`cookie ${when}: ${c.domain} ${c.name}: ${attrs.join(', ')}`);
  }
}

/**
 * Logs in with a real profile directory, closes the browser completely, starts it again on
 * the same profile and opens /whoami. With session_permanent the session cookie has a
 * Max-Age and survives; without, it is a browser-session cookie and must be gone.
 */
async function restart({ permanent }) {
  const profile = mkdtempSync(path.join(tmpdir(), 'rocket-oidc-profile-'));
  try {
    log(`first browser run, profile ${profile}`);
    let browser = await persistentContext(profile);
    let page = await firstPage(browser.context);
    await fullLogin(page, '/whoami', 'erin');
    await expectWhoami(page, 'erin');
    const session = (await appCookies(browser.context)).find((c) => c.name === SESSION_COOKIE);
    check(session, 'a session cookie after the login');
    printCookies('before the restart', [session]);
    if (permanent) {
      check(session.expires > Date.now() / 1000 + 3600, 'session_permanent: the cookie has an expiry', session);
    } else {
      check(session.expires === -1, 'session_permanent = false: a browser-session cookie (no Expires/Max-Age)', session);
    }

    log('close the browser completely');
    await browser.close();

    log('start the browser again on the same profile and open /whoami');
    const before = appResponses.length;
    browser = await persistentContext(profile);
    const restored = (await appCookies(browser.context)).map((c) => c.name);
    log(`app cookies after the restart: ${restored.join(', ') || '(none)'}`);
    page = await firstPage(browser.context);
    // A URL this profile never loaded, so the answer cannot come from its HTTP cache.
    await page.goto(`${APP}/whoami?after-restart`);
    await page.waitForLoadState('load');
    await shot(page, 'whoami-after-restart');
    const first = appResponses.slice(before).find((r) => pathOf(r.url) === '/whoami');
    if (permanent) {
      check(restored.includes(SESSION_COOKIE), 'the session cookie should survive the restart', restored);
      check(first?.status === 200, 'the app should answer /whoami at once, without a login', first);
      check(page.url() === `${APP}/whoami?after-restart`, 'the browser should stay on /whoami', page.url());
      const text = (await bodyText(page)).trim();
      check(text === 'erin', '/whoami should show erin', text);
    } else {
      check(!restored.includes(SESSION_COOKIE),
        'a session cookie without Max-Age should not survive a browser restart (does Chromium restore session cookies?)',
        restored);
      check(first?.status === 303 && first.location?.startsWith(`${OP}/auth?`),
        'the app should send /whoami to the provider: the user is logged out after a restart', first);
      check(isOp(page.url()) || pathOf(page.url()) === '/whoami',
        'the browser should be at the provider (or back through single sign-on)', page.url());
      log(`after the restart the browser went to ${page.url()}`);
    }
    expectNoAppErrors();
    await browser.close();
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Main.
// ---------------------------------------------------------------------------

async function main() {
  if (!APP || !OP) throw new Failure('APP and OP must be set (see the top of suite.mjs)');
  const scenario = scenarios[SCENARIO];
  if (!scenario) {
    throw new Failure(`unknown scenario ${JSON.stringify(SCENARIO)}; one of: ${Object.keys(scenarios).join(', ')}`);
  }
  const started = Date.now();
  await scenario();
  log(`passed in ${Date.now() - started} ms`);
}

const watchdog = setTimeout(() => {
  console.error(`[${SCENARIO}] FAILED: still running after ${WATCHDOG / 1000} s; screenshots in ${ARTIFACTS}`);
  process.exit(3);
}, WATCHDOG);
watchdog.unref();

try {
  await main();
  if (env.KEEP_ARTIFACTS === '1') {
    writeFileSync(path.join(ARTIFACTS, 'steps.txt'), `${steps.join('\n')}\n`);
    console.log(`[${SCENARIO}] screenshots kept in ${ARTIFACTS} (KEEP_ARTIFACTS=1)`);
  } else {
    rmSync(ARTIFACTS, { recursive: true, force: true });
  }
  process.exit(0);
} catch (err) {
  const message = err instanceof Failure ? err.message : (err.stack || String(err));
  console.error(`[${SCENARIO}] FAILED: ${message}`);
  console.error(`[${SCENARIO}] app responses:\n${appResponses.map((r) => `  ${r.method} ${r.url} -> ${r.status}${r.location ? ` ${r.location}` : ''}`).join('\n')}`);
  try {
    writeFileSync(path.join(ARTIFACTS, 'steps.txt'), `${steps.join('\n')}\nFAILED: ${message}\n`);
  } catch { /* the artifacts dir is best effort */ }
  console.error(`[${SCENARIO}] screenshots of each step kept in ${ARTIFACTS}`);
  process.exit(1);
}
