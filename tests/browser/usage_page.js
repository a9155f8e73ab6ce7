// Headless Chromium: log in to Airflow, open "Usage & cost" from Airflow's own nav (the page
// renders in the UI's iframe), follow the page's link to the newest cost, filter it, and read
// every figure the page shows (data-value: the exact number, text: what a person reads).
// Run by tests/browser/test_usage_page.py; env: AIRFLOW_URL, AIRFLOW_USER, AIRFLOW_PASSWORD,
// ARTIFACTS (screenshot folder), CHROMIUM, CUSTOMER (the filter of the third view).
// Prints one JSON line: {default: figures, latest: figures, filtered: figures, ...}.
const { chromium } = require('playwright-core');

const url = process.env.AIRFLOW_URL;
const artifacts = process.env.ARTIFACTS;

function figures() {
  const cells = (root) => Object.fromEntries([...root.querySelectorAll('[data-key]')].map(
    (e) => [e.dataset.key, { value: e.dataset.value, text: e.innerText.trim() }]));
  const out = { url: location.pathname + location.search, tables: {}, mtd: [], rects: [], legend: [] };
  document.querySelectorAll('table[data-section]').forEach((t) => {
    out.tables[t.dataset.section] = [...t.querySelectorAll('tr')].slice(1).map(cells);
  });
  document.querySelectorAll('[data-section="month-to-date"]').forEach((c) => {
    out.mtd.push({ currency: c.dataset.currency, ...cells(c) });
  });
  document.querySelectorAll('svg.chart rect[data-day]').forEach((r) => {
    out.rects.push({ currency: r.closest('svg').dataset.currency, day: r.dataset.day,
      meter: r.dataset.meter, cost: r.dataset.cost, title: r.querySelector('title').textContent });
  });
  document.querySelectorAll('.legend li').forEach((li) => out.legend.push(
    { meter: li.dataset.meter, total: li.dataset.total }));
  const unrated = document.querySelector('[data-figure="unrated-events"]');
  out.unrated_events = unrated ? unrated.dataset.value : null;
  out.states = [...document.querySelectorAll('[data-state]')].map((e) => e.dataset.state);
  out.start = document.querySelector('input[name=start]').value;
  out.end = document.querySelector('input[name=end]').value;
  return out;
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const result = {};
  try {
    // Without a login the page's own URL answers 401, in a browser as well.
    const anonymous = await browser.newContext();
    const denied = await anonymous.newPage();
    result.anonymous_status = (await denied.goto(`${url}/meterhouse/usage`)).status();
    await denied.screenshot({ path: `${artifacts}/usage-page-401.png` });
    await anonymous.close();

    await page.goto(`${url}/`, { waitUntil: 'networkidle' });
    await page.getByLabel('Username').fill(process.env.AIRFLOW_USER);
    await page.getByLabel('Password').fill(process.env.AIRFLOW_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => !u.toString().includes('/auth/login'));
    await page.waitForLoadState('networkidle');

    // Airflow's nav: the plugin's external view, a top-level entry.
    const entry = page.getByRole('link', { name: 'Usage & cost' });
    await entry.first().waitFor({ timeout: 30000 });
    await page.screenshot({ path: `${artifacts}/usage-nav.png` });
    await entry.first().click();
    await page.waitForURL(/\/plugin\/usage-cost/);
    const iframe = page.locator('iframe[title="Usage & cost"]');
    await iframe.waitFor();
    const frame = await (await iframe.elementHandle()).contentFrame();
    await frame.waitForSelector('h1');
    await page.waitForTimeout(500);
    result.ui_url = page.url();
    result.default = await frame.evaluate(figures);
    await page.screenshot({ path: `${artifacts}/usage-page-default.png` });

    // The default range (60 days to today) has no cost if the samples are older: the page
    // offers the 60 days up to the newest cost day.
    const hint = frame.locator('[data-figure="latest-hint"]');
    if (await hint.count()) {
      await hint.click();
      await frame.waitForURL(/end=/);
    }
    await frame.waitForSelector('h1');
    result.latest = await frame.evaluate(figures);
    await page.waitForTimeout(500);
    result.ui_url_latest = page.url();
    await page.screenshot({ path: `${artifacts}/usage-page-latest.png` });

    // The form: one customer, one currency, from the 1st of the newest cost day's month.
    const end = result.latest.end;
    await frame.locator('input[name=start]').fill(`${end.slice(0, 8)}01`);
    await frame.locator('select[name=customer]').selectOption(process.env.CUSTOMER);
    await frame.locator('select[name=currency]').selectOption('USD');
    await frame.getByRole('button', { name: 'Apply' }).click();
    await frame.waitForURL(/customer=/);
    await frame.waitForSelector('h1');
    result.filtered = await frame.evaluate(figures);
    await page.screenshot({ path: `${artifacts}/usage-page-filtered.png` });

    // The whole page (the iframe shows only a window of it), opened directly: the UI's
    // session cookie is what lets it in.
    const full = await context.newPage();
    const direct = await full.goto(`${url}${result.latest.url}`, { waitUntil: 'load' });
    result.direct_status = direct.status();
    await full.setViewportSize({ width: 1300, height: 1000 });
    await full.screenshot({ path: `${artifacts}/usage-page-full.png`, fullPage: true });
    console.log(JSON.stringify(result));
  } catch (err) {
    await page.screenshot({ path: `${artifacts}/usage-page-error.png` }).catch(() => {});
    throw err;
  } finally {
    await browser.close();
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
