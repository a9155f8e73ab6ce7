// Headless Chromium against the Airflow UI: log in, open usage_ingest, trigger it through the
// Params form for one day, and watch the run page until the run succeeds.
// Run by tests/browser/test_ui.py; env: AIRFLOW_URL, AIRFLOW_USER, AIRFLOW_PASSWORD, DAY,
// ARTIFACTS (screenshot folder), CHROMIUM (default /usr/bin/chromium).
// Prints one JSON line: {"run_id": ..., "state": ...}.
const { chromium } = require('playwright-core');

const url = process.env.AIRFLOW_URL;
const day = process.env.DAY;
const artifacts = process.env.ARTIFACTS;
const deadlineMs = Date.now() + 1000 * Number(process.env.TIMEOUT_S || 300);

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  try {
    await page.goto(`${url}/`, { waitUntil: 'networkidle' });
    await page.getByLabel('Username').fill(process.env.AIRFLOW_USER);
    await page.getByLabel('Password').fill(process.env.AIRFLOW_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => !u.toString().includes('/auth/login'));

    await page.goto(`${url}/dags/usage_ingest`, { waitUntil: 'networkidle' });
    await page.getByRole('button', { name: /^Trigger/ }).first().click();
    const form = page.getByRole('dialog');
    await form.getByText('Run Parameters').waitFor();
    await form.locator('#element_start_date').fill(day);
    await page.screenshot({ path: `${artifacts}/ui-trigger-form.png` });
    await form.getByRole('button', { name: 'Trigger', exact: true }).click();

    // The UI opens the new run's page: /dags/usage_ingest/runs/<run_id>
    await page.waitForURL(/\/dags\/usage_ingest\/runs\/[^/]+$/, { timeout: 30000 });
    const runId = decodeURIComponent(page.url().split('/runs/')[1]);
    let state = 'unknown';
    while (Date.now() < deadlineMs) {
      await page.waitForTimeout(3000);
      await page.reload({ waitUntil: 'networkidle' });
      // The run header shows the run's state badge first, before the task instance table.
      const badge = page.getByText(/^(Success|Failed|Running|Queued)$/).first();
      if (await badge.count()) {
        state = (await badge.innerText()).trim().toLowerCase();
        if (state === 'success' || state === 'failed') break;
      }
    }
    await page.screenshot({ path: `${artifacts}/ui-run-${state}.png` });
    console.log(JSON.stringify({ run_id: runId, state }));
  } catch (err) {
    await page.screenshot({ path: `${artifacts}/ui-error.png` }).catch(() => {});
    throw err;
  } finally {
    await browser.close();
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
