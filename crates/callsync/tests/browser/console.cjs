// The admin console in headless Chromium, step by step (issue 13). Started by
// tests/console_browser.rs, which runs callsync and the sandbox and passes
// their addresses in the environment. Prints "console: every step passed" at
// the end; any failed expectation throws and exits non-zero.
'use strict';
const { chromium } = require('playwright-core');
const crypto = require('node:crypto');
const path = require('node:path');

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
const base = env('CALLSYNC_URL');
const sandboxUrl = env('SANDBOX_URL');
const shots = env('SCREENSHOTS');

function expect(condition, what) {
  if (!condition) throw new Error(`expected: ${what}`);
}
let currentStep = 'starting the browser';
function step(name) {
  currentStep = name;
  console.log(`step: ${name}`);
}
// A step that waits forever fails the test with its name instead of hanging it.
const watchdog = setTimeout(() => {
  console.error(`timed out after 180 s in step: ${currentStep}`);
  process.exit(2);
}, 180_000);
watchdog.unref();

// Posts events signed as the phone system signs them (README: HMAC-SHA256
// of "<timestamp>.<body>" with the organisation's signing secret).
async function postEvents(events) {
  const body = JSON.stringify(events);
  const ts = Math.floor(Date.now() / 1000);
  const mac = crypto.createHmac('sha256', env('CALLSYNC_SIGNING_SECRET')).update(`${ts}.${body}`).digest('hex');
  const response = await fetch(`${base}/v1/events`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${env('CALLSYNC_API_KEY')}`,
      'content-type': 'application/json',
      'x-callsync-timestamp': String(ts),
      'x-callsync-signature': `v1=${mac}`,
    },
    body,
  });
  expect(response.status === 202, `events accepted, got ${response.status}: ${await response.text()}`);
}

function answeredCall(callId, user = 'u1') {
  const at = (secondsAgo) => new Date(Date.now() - secondsAgo * 1000).toISOString();
  const event = (suffix, type, secondsAgo, extra = {}) => ({
    id: `${callId}-${suffix}`, org: 'acme', call_id: callId, user,
    occurred_at: at(secondsAgo), direction: 'outbound',
    user_number: '050-1111-2222', customer_number: '03-1234-5678', type, ...extra,
  });
  return [
    event('1', 'dialing', 130),
    event('2', 'answered', 120),
    event('3', 'ended', 10, { talk_seconds: 110, outcome: 'answered' }),
  ];
}

async function sandbox(method, route, body) {
  const response = await fetch(`${sandboxUrl}${route}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(response.ok, `sandbox ${method} ${route}: ${response.status}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

// Reloads `url` until `selector` is on the page (the worker syncs in the background).
async function reloadUntil(page, url, selector, what) {
  const deadline = Date.now() + 30000;
  for (;;) {
    await page.goto(url);
    if (await page.locator(selector).count() > 0) return;
    if (Date.now() > deadline) throw new Error(`expected within 30 s: ${what}`);
    await page.waitForTimeout(300);
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: env('CHROMIUM'),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ locale: 'ja-JP', viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  try {
    step('sign in with the one-time link');
    await page.goto(env('CALLSYNC_LOGIN_LINK'));
    await shot(page, 'signin');
    await page.click('#sign-in');
    await page.waitForURL(`${base}/console/`);
    expect(await page.locator('.org').innerText() === 'Acme 株式会社', 'the organisation is shown');

    step('the session cookie is HttpOnly and SameSite, and scripts cannot read it');
    const cookie = (await context.cookies()).find((c) => c.name === 'callsync_session');
    expect(cookie && cookie.httpOnly, 'an HttpOnly session cookie');
    expect(cookie.sameSite === 'Lax', `SameSite=Lax, got ${cookie.sameSite}`);
    expect(!(await page.evaluate(() => document.cookie)).includes('callsync_session'), 'no script access');

    step('a link works once');
    const again = await context.newPage();
    await again.goto(env('CALLSYNC_LOGIN_LINK'));
    const spent = await Promise.all([again.waitForResponse((r) => r.url().endsWith('/console/signin')), again.click('#sign-in')]);
    expect(spent[0].status() === 410, `a used link is refused, got ${spent[0].status()}`);
    await again.close();

    step('connect Salesforce and test the connection');
    await page.goto(`${base}/console/salesforce`);
    await page.fill('#login_url', sandboxUrl);
    await page.fill('#consumer_key', env('SANDBOX_CONSUMER_KEY'));
    await page.fill('#default_username', env('SANDBOX_USERNAME'));
    await page.setInputFiles('#private_key', env('SANDBOX_KEY_FILE'));
    await page.click('#save-connection');
    await page.locator('#connection-saved').waitFor();
    expect((await page.content()).includes('sha256:'), 'the key is shown as a fingerprint only');
    await page.click('#test-connection');
    await page.locator('#test-result p.ok').waitFor();
    await shot(page, 'salesforce');

    step('link a phone user to a Salesforce user');
    await page.goto(`${base}/console/users`);
    await page.fill('#add-user input[name=user_id]', 'u1');
    await page.fill('#add-user input[name=name]', '山田 太郎');
    await page.fill('#add-user input[name=sf_username]', env('SANDBOX_USERNAME'));
    await page.click('#add-user button[type=submit]');
    await page.locator('tr[data-user="u1"].link-linked').waitFor();

    step('settings offer the Status picklist and only Task fields of the right type');
    await page.goto(`${base}/console/settings`);
    const options = (selector) => page.locator(`${selector} option`).evaluateAll((all) => all.map((o) => o.value));
    expect((await options('#task_status')).includes('Completed'), 'Status values from describe');
    expect((await options('#cf_call_ended_at')).includes('CallEnded__c'), 'a Date/Time field for call ended at');
    const memoChoices = await options('#cf_memo');
    expect(memoChoices.includes('CallMemo__c') && !memoChoices.includes('MemoText__c'), `only multi-select picklists for the memo: ${memoChoices}`);

    step('a wrong custom field is refused beside its field, nothing saved');
    // A stale form: the text field is forced into the choices, as if Salesforce changed since.
    await page.evaluate(() => {
      const select = document.querySelector('#cf_memo');
      select.add(new Option('MemoText__c', 'MemoText__c'));
      select.value = 'MemoText__c';
    });
    await page.click('#save-settings');
    await page.locator('p.problem[data-field="custom_fields.memo"]').waitFor();
    expect(await page.locator('#saved').count() === 0, 'nothing saved');

    step('right settings are saved and the preview shows the Task');
    await page.selectOption('#cf_memo', 'CallMemo__c');
    await page.selectOption('#cf_call_ended_at', 'CallEnded__c');
    await page.fill('#subject_outgoing', '発信 ');
    // The palette inserts a placeholder where the cursor is.
    await page.click('#subject_outgoing');
    await page.click('button[data-placeholder="CUSTOMER_NUMBER"]');
    expect((await page.inputValue('#subject_outgoing')) === '発信 {CUSTOMER_NUMBER}', 'the palette inserted the placeholder');
    // The live preview (htmx) follows the typing before anything is saved.
    await page.locator('#preview tr[data-field="Subject"] pre', { hasText: '発信 03-1234-5678' }).waitFor();
    await page.click('#save-settings');
    await page.locator('#saved').waitFor();
    await page.locator('#preview tr[data-field="CallEnded__c"]').waitFor();
    expect(await page.locator('p.problem').count() === 0, 'no problems left');
    await shot(page, 'settings-ja');

    step('the language switch');
    await page.click('button[lang="en"]');
    await page.waitForURL(`${base}/console/settings`);
    expect((await page.locator('h1').innerText()) === 'Settings', 'the page in English');
    await shot(page, 'settings-en');
    await page.click('button[lang="ja"]');
    await page.waitForURL(`${base}/console/settings`);

    step('a posted call appears with its Task link');
    await postEvents(answeredCall('c-1'));
    await reloadUntil(page, `${base}/console/calls`, 'tr[data-call="c-1"] a.task-link', 'call c-1 synced');
    const href = await page.locator('tr[data-call="c-1"] a.task-link').getAttribute('href');
    expect(href.startsWith(sandboxUrl) && /\/00T\w{12,15}$/.test(href), `a Task link into Salesforce: ${href}`);
    await shot(page, 'calls');
    await page.click('tr[data-call="c-1"] td a');
    await page.locator('#task-link').waitFor();
    expect((await page.locator('#written-fields').innerText()).includes('CallEnded__c'), 'the custom field written');
    expect(await page.locator('#linked-record').count() === 1, 'linked to a record (R3)');
    await shot(page, 'call');

    step('a validation rule fails a call; the error shows with its remedy');
    await sandbox('POST', '/__sandbox/validation-rules', {
      object: 'Task', name: 'Needs_Approval', condition: { Equals: ['CallObject', 'c-2'] },
      error_message: 'Calls to this customer need a manager approval', error_field: null,
    });
    await postEvents(answeredCall('c-2'));
    await reloadUntil(page, `${base}/console/errors`, 'article[data-call="c-2"]', 'the error of call c-2');
    expect((await page.locator('article[data-call="c-2"]').innerText()).includes('FIELD_CUSTOM_VALIDATION_EXCEPTION'), 'the code is shown');
    await shot(page, 'errors');

    step('CSRF: a form without the token is refused');
    const status = await page.evaluate(async () => (await fetch('/console/errors/retry', {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'code=FIELD_CUSTOM_VALIDATION_EXCEPTION&step=create_task',
    })).status);
    expect(status === 403, `403 without the token, got ${status}`);

    step('fix the rule in Salesforce and retry from the console');
    await sandbox('DELETE', '/__sandbox/validation-rules');
    await page.click('article[data-call="c-2"] button.retry-one');
    await page.locator('#retried').waitFor();
    await reloadUntil(page, `${base}/console/calls`, 'tr[data-call="c-2"] a.task-link', 'call c-2 synced after the retry');
    await page.goto(`${base}/console/errors`);
    expect(await page.locator('article[data-call="c-2"]').count() === 0, 'the error is resolved');

    step('overview and contacts');
    await page.goto(`${base}/console/`);
    await page.locator('#reach p.ok').waitFor();
    // R14: the API usage Salesforce reported to the worker's syncs, as GET /v1/org has it.
    await reloadUntil(page, `${base}/console/`, '#api-usage #api-used', 'the API usage on the overview');
    const org = await (await fetch(`${base}/v1/org`, { headers: { authorization: `Bearer ${env('CALLSYNC_API_KEY')}` } })).json();
    expect(org.api_usage && org.api_usage.allowance > 0, `GET /v1/org reports the API usage: ${JSON.stringify(org.api_usage)}`);
    const usedShown = Number(await page.locator('#api-used').innerText());
    expect(usedShown > 0 && usedShown <= org.api_usage.used, `requests used shown: ${usedShown}, the API says ${org.api_usage.used}`);
    expect(Number(await page.locator('#api-allowance').innerText()) === org.api_usage.allowance, 'the daily limit shown');
    expect((await page.locator('#api-deferring').getAttribute('data-deferring')) === org.api_usage.deferring, 'what the budget defers');
    await shot(page, 'overview');
    await page.goto(`${base}/console/contacts`);
    expect((await page.locator('main table').innerText()).includes('+81312345678'), 'the contact entry (R4)');
    await shot(page, 'contacts');
    await page.goto(`${base}/console/users`);
    // The user's connection health: a success (c-1, c-2 after the retry), and the failure, resolved.
    await page.locator('tr[data-user="u1"] td.health div.ok').waitFor();
    expect((await page.locator('tr[data-user="u1"] td.health').innerText()).includes('FIELD_CUSTOM_VALIDATION_EXCEPTION'), 'the last failure');
    await shot(page, 'users');

    step('the web-server flow: the default user and an agent each connect with a button');
    await page.goto(`${base}/console/salesforce`);
    await page.check('#flow-web-server');
    await page.fill('#consumer_secret', env('SANDBOX_CONSUMER_SECRET'));
    await page.click('#save-connection');
    await page.locator('#connection-saved').waitFor();
    await page.locator('#default-user-connection .notice.warn').waitFor();
    await page.click('#connect-default-user');
    await page.locator('#agent-notice.ok').waitFor();
    expect(page.url().startsWith(`${base}/console/connected`), `back from Salesforce: ${page.url()}`);
    await page.goto(`${base}/console/users`);
    await page.fill('#add-user input[name=user_id]', 'u2');
    await page.fill('#add-user input[name=name]', '佐藤 愛子');
    await page.fill('#add-user input[name=sf_username]', env('SANDBOX_AGENT'));
    await page.click('#add-user button[type=submit]');
    await page.locator('tr[data-user="u2"] [data-connection="none"]').waitFor();
    expect(await page.locator('#connections-failing').count() === 1, 'the admin is warned: u2 has not connected');
    // The agent opens the link the admin sends them, and presses the button.
    const agent = await browser.newContext({ locale: 'ja-JP' });
    const agentPage = await agent.newPage();
    await agentPage.goto(`${base}${await page.locator('#agent-connect-link').getAttribute('href')}`);
    await shot(agentPage, 'agent-connect');
    await agentPage.fill('#agent-connect input[name=username]', env('SANDBOX_AGENT'));
    await agentPage.click('#agent-connect-button');
    await agentPage.locator('#agent-notice.ok').waitFor();
    expect((await agentPage.locator('#agent-notice').innerText()).includes(env('SANDBOX_AGENT')), 'connected as the agent');
    await agent.close();
    await page.goto(`${base}/console/users`);
    await page.locator('tr[data-user="u2"] [data-connection="connected"]').waitFor();
    expect(await page.locator('#connections-failing').count() === 0, 'no warning left');
    await postEvents(answeredCall('c-3', 'u2'));
    await reloadUntil(page, `${base}/console/calls`, 'tr[data-call="c-3"] a.task-link', 'call c-3 synced as the agent');

    step('R14: the admin switches the write mode to one integration user');
    await page.goto(`${base}/console/settings`);
    expect(await page.locator('#write_mode_as_each_user').isChecked(), 'as each user until now');
    await page.check('#write_mode_integration_user');
    await page.fill('#write_integration_username', env('SANDBOX_USERNAME'));
    await page.fill('#write_coalesce_seconds', '15');
    // The live preview says who will write before anything is saved.
    await page.locator('#preview-writer', { hasText: env('SANDBOX_USERNAME') }).waitFor();
    await page.click('#save-settings');
    await page.locator('#saved').waitFor();
    expect(await page.locator('p.problem').count() === 0, 'no problems');
    expect(await page.locator('#write_mode_integration_user').isChecked(), 'the saved mode is shown');
    await postEvents(answeredCall('c-4', 'u2'));
    await reloadUntil(page, `${base}/console/calls`, 'tr[data-call="c-4"] a.task-link', 'call c-4 synced by the integration user');

    step("another organisation's call is a 404");
    const other = await browser.newContext();
    const otherPage = await other.newPage();
    await otherPage.goto(env('CALLSYNC_OTHER_LOGIN_LINK'));
    await otherPage.click('#sign-in');
    await otherPage.waitForURL(`${base}/console/`);
    const foreign = await otherPage.goto(`${base}/console/calls/c-1`);
    expect(foreign.status() === 404, `404 for acme's call, got ${foreign.status()}`);
    await other.close();

    step('sign out');
    await page.click('#sign-out');
    await page.waitForURL(`${base}/console/signin`);
    await page.goto(`${base}/console/calls`);
    expect(page.url() === `${base}/console/signin`, 'signed out for good');
    console.log('console: every step passed');
    currentStep = 'closing the browser';
  } catch (error) {
    await shot(page, 'failure').catch(() => {});
    console.error(`failed on ${page.url()}`);
    throw error;
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
