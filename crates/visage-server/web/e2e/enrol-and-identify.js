// End-to-end test of the web page in headless Chromium (driven by playwright-core).
// usage: node enrol-and-identify.js URL KEY PORTRAIT GROUP SCREENSHOT
// Enrols the person in PORTRAIT through the page, identifies everyone in GROUP, checks that the person is
// found and the others are unknown, and saves a screenshot.
const { chromium } = require("playwright-core");

async function main() {
  const [url, key, portrait, group, screenshot] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    await page.goto(url);
    await page.fill("#key", key);
    await page.dispatchEvent("#key", "change");
    await page.setInputFiles("#file", portrait);
    await page.waitForFunction(() => document.getElementById("result").textContent.startsWith("Photo ready"));
    await page.fill("#subject", "e2e-person");
    await page.fill("#evidence", "browser test");
    // Without the consent box the page refuses.
    await page.click("#enroll");
    await page.waitForFunction(() => document.getElementById("result").textContent.includes("consent"));
    await page.check("#consent");
    await page.click("#enroll");
    await page.waitForFunction(() => document.getElementById("result").textContent.startsWith("Enrolled"), null, { timeout: 30000 });
    await page.setInputFiles("#file", group);
    await page.waitForFunction(() => document.getElementById("result").textContent.startsWith("Photo ready"));
    await page.click("#identify");
    await page.waitForFunction(() => /face 1/.test(document.getElementById("result").textContent), null, { timeout: 30000 });
    const text = await page.textContent("#result");
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify({ result: text }));
    const found = (text.match(/e2e-person/g) || []).length;
    const unknown = (text.match(/unknown/g) || []).length;
    if (found !== 1 || unknown < 1) throw new Error("unexpected identification: " + text);
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(e.message || e); process.exit(1); });
