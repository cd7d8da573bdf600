// A new user's walk through the web console, in Debian's Chromium driven by
// Playwright: sign in, add two registries, upload a function, write a
// template with a mistake and fix it, create a policy, run it and watch it
// finish, open the stage matrix and a cell's logs, retry the failed task,
// stop a slow execution, sign out. Run by tests/console.rs, which starts
// the server and registries and checks what the walk did. Each step prints
// "step: <name>"; any failure exits 1 with what the page showed.

import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import assert from 'node:assert/strict';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (tests/console.rs sets it)`);
  return v;
};
const BASE = env('FERRY_URL');
const TOKEN = env('FERRY_TOKEN');
const SRC = env('SRC_URL');
const DST = env('DST_URL');
const WASM = env('UPLOAD_WASM');
const DROP_WASM = env('DROP_WASM');
const SHOTS = process.env.SCREENSHOTS || '';
const WAIT = 30_000;

const TEMPLATE = (version) => `version: 1
name: checked
description: copy, but fail the artifacts of team/broken before their push
stages:
  - {name: pull-prepare, function: oci-pull-prepare@0.4.0, scope: execution}
  - {name: pull, function: oci-pull@0.4.0, scope: artifact}
  - name: check
    function: fault-injector@${version}
    scope: artifact
    params: {mode: fail, repository: team/broken}
  - {name: push, function: oci-push@0.4.0, scope: artifact}
  - {name: verify, function: verify@0.4.0, scope: artifact}
`;

const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
context.setDefaultTimeout(WAIT);
const page = await context.newPage();
const problems = [];
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
// The browser logs every 4xx it sees as an error; the walk causes some on
// purpose (a wrong token, a forged write, a template with a mistake).
page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && problems.push(`console: ${m.text()}`));

let current = 'start';
const step = (name) => {
  current = name;
  console.log(`step: ${name}`);
};
const shot = async (name, at) => {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  if (at) await at.evaluate((e) => e.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
};
const heading = (re) => page.getByRole('heading', { level: 1, name: re });
// Every form control has a label, every button a text name.
const checkNames = async (where) => {
  const unnamed = await page.evaluate(() => {
    const named = (el) => (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    const controls = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')].filter((el) => !named(el));
    const buttons = [...document.querySelectorAll('button')].filter((b) => !(b.textContent.trim() || b.getAttribute('aria-label')));
    return [...controls, ...buttons].map((el) => el.outerHTML.slice(0, 120));
  });
  assert.deepEqual(unnamed, [], `unnamed controls on ${where}`);
};
const nav = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();

try {
  step('a page without a session goes to sign-in');
  await page.goto(`${BASE}/policies`);
  await page.getByLabel('Token').waitFor();
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0, 'no navigation before sign-in');

  step('a wrong token shows an error and no data');
  await page.getByLabel('Token').fill('not-the-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0);

  step('sign in');
  await page.getByLabel('Token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
  assert.ok(!stored.includes(TOKEN), 'the token is in no storage JavaScript can read');
  assert.ok(!stored.includes('ferry_session'), 'the session cookie is HttpOnly');

  step('a write with the cookie but without the CSRF token gets a 403');
  const forged = await page.evaluate(async () => {
    const r = await fetch('/api/v1/registries', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'forged', url: 'http://127.0.0.1:1' }),
    });
    return r.status;
  });
  assert.equal(forged, 403);

  for (const [name, url] of [['src', SRC], ['dst', DST]]) {
    step(`add registry ${name}`);
    await nav('Registries');
    await page.getByRole('button', { name: 'Add registry' }).click();
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('URL', { exact: true }).fill(url);
    await page.getByLabel('Insecure (skip TLS verify)').check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name, exact: true }).or(page.getByRole('heading', { name, exact: true })).first().waitFor();
  }

  step('check a registry, edit it, read its notifications snippet');
  const srcCard = page.getByRole('article', { name: 'src', exact: true });
  await srcCard.getByRole('button', { name: 'Check health' }).click();
  await srcCard.getByRole('status').filter({ hasText: /healthy/i }).waitFor();
  const snippet = await srcCard.getByLabel('Notifications snippet for src').innerText();
  assert.match(snippet, new RegExp(`url: ${BASE}/api/v1/registries/\\d+/events`));
  assert.match(snippet, /Authorization: \["Bearer /);
  await srcCard.getByRole('button', { name: 'Edit' }).click();
  assert.equal(await page.getByLabel('Password').inputValue(), '', 'a stored secret is never shown');
  await page.getByLabel('Description').fill('where images come from');
  await page.getByRole('button', { name: 'Save' }).click();
  await srcCard.getByText('where images come from').waitFor();
  await page.getByRole('button', { name: 'Add registry' }).click();
  await checkNames('the registries page and its form');
  await page.getByRole('button', { name: 'Cancel' }).click();

  step('delete a registry; one in use stays, with the reason');
  page.on('dialog', (d) => d.accept());
  const backupCard = page.getByRole('article', { name: 'backup', exact: true });
  await backupCard.getByRole('button', { name: 'Delete' }).click();
  await backupCard.getByRole('alert').filter({ hasText: /slow/ }).waitFor();
  await page.getByRole('button', { name: 'Add registry' }).click();
  await page.getByLabel('Name', { exact: true }).fill('scratch');
  await page.getByLabel('URL', { exact: true }).fill('http://127.0.0.1:9');
  await page.getByRole('button', { name: 'Save' }).click();
  // The server's refusal, at the form.
  await page.getByRole('alert').filter({ hasText: 'plain HTTP needs' }).waitFor();
  await page.getByLabel('Insecure (skip TLS verify)').check();
  await page.getByRole('button', { name: 'Save' }).click();
  const scratch = page.getByRole('article', { name: 'scratch', exact: true });
  await scratch.getByRole('button', { name: 'Delete' }).click();
  await scratch.waitFor({ state: 'detached' });

  step('upload a function');
  await nav('Functions');
  await page.getByLabel('Component (.wasm)').setInputFiles(WASM);
  await page.getByLabel('Name', { exact: true }).fill('helm-list');
  await page.getByLabel('Version', { exact: true }).fill('0.4.0');
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByText('Uploaded helm-list@0.4.0').waitFor();
  await page.getByRole('row').filter({ hasText: 'helm-list' }).first().waitFor();

  step('a rejected upload shows the server\'s reason');
  await page.getByLabel('Component (.wasm)').setInputFiles({ name: 'bad.wasm', mimeType: 'application/wasm', buffer: Buffer.from('not a component') });
  await page.getByLabel('Name', { exact: true }).fill('bad');
  await page.getByLabel('Version', { exact: true }).fill('1.0.0');
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByRole('alert').filter({ hasText: 'Upload rejected' }).waitFor();

  step('upload a function by drag and drop');
  const dropped = await page.evaluateHandle(([b64, name]) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], name, { type: 'application/wasm' }));
    return dt;
  }, [readFileSync(DROP_WASM).toString('base64'), DROP_WASM.split('/').pop()]);
  await page.getByLabel('Name', { exact: true }).fill('');
  await page.getByLabel('Version', { exact: true }).fill('');
  await page.getByTestId('drop-zone').dispatchEvent('drop', { dataTransfer: dropped });
  assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'helm-push');
  assert.equal(await page.getByLabel('Version', { exact: true }).inputValue(), '0.4.0');
  await page.getByRole('button', { name: 'Upload' }).click();
  await page.getByText('Uploaded helm-push@0.4.0').waitFor();
  await checkNames('the functions page');

  step('write a template with a mistake, see it at its line, fix it');
  await nav('Templates');
  await page.getByRole('button', { name: 'New template' }).click();
  const editor = page.getByTestId('template-editor').locator('.cm-content');
  await editor.click();
  await page.keyboard.press('Control+a');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(TEMPLATE('0.4.9'));
  const wrongLine = TEMPLATE('0.4.9').split('\n').findIndex((l) => l.includes('0.4.9')) + 1;
  const error = page.getByRole('alert').filter({ hasText: `line ${wrongLine}` });
  await error.waitFor();
  assert.match(await error.innerText(), /fault-injector@0\.4\.9/);
  await page.locator('.cm-lintRange-error').first().waitFor();
  await shot('template-editor-error');
  // The fix: the version, in place.
  await editor.click();
  await page.keyboard.press('Control+a');
  await page.keyboard.insertText(TEMPLATE('0.4.0'));
  await error.waitFor({ state: 'detached' });
  const diagram = page.getByTestId('stage-diagram');
  for (const stage of ['pull-prepare', 'pull', 'check', 'push', 'verify']) {
    await diagram.getByTestId(`stage-${stage}`).waitFor();
  }
  await diagram.getByRole('link', { name: /fault-injector@0\.4\.0/ }).waitFor();
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText(/version 1/i).first().waitFor();

  step('create a policy');
  await nav('Policies');
  await page.getByRole('button', { name: /new policy|add policy/i }).click();
  await page.getByLabel('Name', { exact: true }).fill('mirror');
  await page.getByLabel('Source registry').selectOption({ label: `src (distribution, ${SRC})` });
  await page.getByLabel('Destination registry').selectOption({ label: `dst (distribution, ${DST})` });
  await page.getByLabel('Template', { exact: true }).selectOption('checked');
  await page.getByRole('button', { name: 'Save' }).click();
  const card = page.getByRole('article', { name: 'mirror', exact: true });
  await card.waitFor();

  step('run it and watch it finish');
  await card.getByRole('button', { name: 'Run now' }).click();
  await card.getByRole('link', { name: /^execution #\d+$/ }).click();
  await page.waitForURL(/\/executions\/\d+$/);
  const matrix = page.getByTestId('stage-matrix');
  await matrix.waitFor();
  // It ends by itself, the page following it without a reload.
  await heading(/^Execution #\d+ failed$/).waitFor({ timeout: 60_000 });
  await matrix.getByRole('button', { name: /^check of team\/broken:v1: failed/ }).waitFor({ timeout: 60_000 });
  await matrix.getByRole('button', { name: /^push of team\/app:v1: succeeded/ }).waitFor();
  await shot('execution-stage-matrix', page.getByRole('heading', { name: 'Stage matrix' }));
  await checkNames('an execution');

  step("open a cell's logs");
  await matrix.getByRole('button', { name: /^check of team\/broken:v1/ }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await dialog.getByText('failure requested').first().waitFor();
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });

  step('retry the failed tasks');
  const first = new URL(page.url()).pathname;
  await page.getByRole('button', { name: 'Retry failed' }).click();
  await page.waitForURL((u) => /^\/executions\/\d+$/.test(u.pathname) && u.pathname !== first);
  await page.getByText(/retry of #\d+/).waitFor();
  await page.getByTestId('stage-matrix').getByRole('button', { name: /^check of team\/broken:v1/ }).waitFor({ timeout: 60_000 });

  step('stop a slow execution');
  await nav('Policies');
  const slow = page.getByRole('article', { name: 'slow', exact: true });
  await slow.getByRole('button', { name: 'Run now' }).click();
  await slow.getByRole('link', { name: /^execution #\d+$/ }).click();
  await page.waitForURL(/\/executions\/\d+$/);
  await heading(/^Execution #\d+ running$/).waitFor();
  await page.getByRole('button', { name: 'Stop' }).click();
  await heading(/^Execution #\d+ stopped$/).waitFor({ timeout: 30_000 });

  step('a second version of the template, and the diff');
  await nav('Templates');
  await page.getByRole('link', { name: 'checked', exact: true }).click();
  await page.getByTestId('stage-diagram').getByTestId('stage-check').waitFor();
  await editor.click();
  await page.keyboard.press('Control+a');
  await page.keyboard.insertText(TEMPLATE('0.4.0').replace('description: copy,', 'description: mirror,'));
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText(/version 2/i).first().waitFor();
  await page.getByLabel('From version').selectOption({ index: 0 });
  const diff = page.getByLabel('Line diff');
  await diff.filter({ hasText: 'description: mirror,' }).waitFor();
  assert.match(await diff.innerText(), /description: copy,/);
  await checkNames('the template editor');

  step('schedule a policy: cron preview, namespace preview, dry run, disable');
  await nav('Policies');
  const mirrorCard = page.getByRole('article', { name: 'mirror', exact: true });
  await mirrorCard.getByRole('button', { name: 'Edit' }).click();
  const form = page.getByRole('form', { name: 'Edit policy mirror' });
  await form.getByLabel('Destination namespace').fill('copies');
  await form.getByLabel('Replace count').fill('1');
  await form.getByLabel('Sample repository').fill('team/app');
  await form.getByText('copies/app').first().waitFor();
  await form.getByLabel('Trigger').selectOption('scheduled');
  await form.getByLabel('Cron').fill('0 0 2 * * *');
  const times = form.getByRole('listitem').filter({ hasText: /2:00|02:00/ });
  await times.nth(4).waitFor();
  await form.getByLabel('Cron').fill('0 0 25 * * *');
  await form.getByRole('alert').filter({ hasText: '25' }).waitFor();
  await form.getByLabel('Cron').fill('0 0 2 * * *');
  await checkNames('the policy form');
  await form.getByRole('button', { name: 'Save' }).click();
  await mirrorCard.getByText('scheduled').first().waitFor();
  await mirrorCard.getByRole('button', { name: 'Dry run' }).click();
  const plan = page.getByRole('region', { name: /^Dry run \d+$/ });
  await plan.getByText('copies/app').first().waitFor({ timeout: 60_000 });
  await mirrorCard.getByRole('button', { name: 'Disable' }).click();
  await mirrorCard.getByRole('button', { name: 'Enable' }).waitFor();

  step('the executions list, filtered');
  await nav('Executions');
  await page.getByLabel('Status').selectOption('stopped');
  const rows = page.getByRole('table').first().getByRole('row');
  await page.getByRole('cell', { name: 'slow', exact: true }).waitFor();
  await page.waitForFunction(() => ![...document.querySelectorAll('tbody tr')].some((r) => r.textContent.includes('mirror')));
  assert.ok((await rows.count()) >= 2);
  await checkNames('the executions list');

  step('the overview');
  await nav('Overview');
  await page.getByText('mirror').first().waitFor();
  await shot('overview');

  step('keyboard: tab to a section and open it');
  // From the top of the page, as after a load.
  await page.evaluate(() => {
    document.activeElement?.blur();
    window.scrollTo(0, 0);
  });
  let focused = '';
  for (let i = 0; i < 40 && focused !== 'Registries'; i++) {
    await page.keyboard.press('Tab');
    focused = await page.evaluate(() => document.activeElement?.textContent?.trim());
  }
  assert.equal(focused, 'Registries', 'Tab reaches the navigation');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'focus is visible');
  await page.keyboard.press('Enter');
  await heading(/^Registries$/).waitFor();

  step('a phone-sized screen, in the dark');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await nav('Executions');
  await page.getByRole('link', { name: '#1', exact: true }).first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no sideways scrolling on a phone (${overflow} px too wide)`);
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = background.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 150, `a dark background in dark mode (${background})`);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.emulateMedia({ colorScheme: 'light' });

  step('sign out');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Token').waitFor();
  const after = await page.evaluate(async () => (await fetch('/api/v1/registries')).status);
  assert.equal(after, 401, 'the session ended');
  await page.goto(`${BASE}/registries`);
  await page.getByLabel('Token').waitFor();

  assert.deepEqual(problems, [], 'no errors in the page');
  console.log('walk: done');
} catch (e) {
  console.log(`walk: failed at "${current}": ${e.message}`);
  console.log(`page: ${page.url()}`);
  console.log((await page.locator('body').innerText().catch(() => '')).slice(0, 3000));
  if (problems.length) console.log(problems.join('\n'));
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/failure.png` }).catch(() => {});
  process.exitCode = 1;
} finally {
  await browser.close();
}
