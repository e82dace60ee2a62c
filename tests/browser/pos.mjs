// Drives the web POS in Debian's Chromium (playwright-core, never a downloaded browser) for
// server/tests/http/pos.rs. Protocol: one JSON object per stdout line; the Rust test answers on
// stdin where a step needs it.
//   node pos.mjs <base url> <merchant id> <POS key> <screenshot dir>
//   -> {"step":"qr","png_base64":…}            the QR image the page shows
//   (the test pays it)                          -> {"step":"paid","text":…}
//   <- one line: a consumer pay code            -> {"step":"charged","text":…}
//   (the same code again)                       -> {"step":"refused","text":…}
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [base, merchant, key, shots] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (object) => process.stdout.write(JSON.stringify(object) + "\n");

const browser = await chromium.launch({
  executablePath: process.env.PURSE_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  page.on("console", (message) => process.stderr.write("page: " + message.text() + "\n"));
  page.on("pageerror", (error) => process.stderr.write("page error: " + error.message + "\n"));
  await page.goto(base + "/pos");
  await page.getByLabel("Merchant ID").fill(merchant);
  await page.getByLabel("POS API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Live: waiting for payments").waitFor({ timeout: 15000 });

  // Customer scans: a dynamic code for 7.25.
  await page.getByLabel("Amount").first().fill("7.25");
  await page.getByRole("button", { name: "Show QR code" }).click();
  const status = page.locator("#qr-status");
  await status.filter({ hasText: "Waiting for payment" }).waitFor({ timeout: 15000 });
  const src = await page.locator("#qr-image").getAttribute("src");
  say({ step: "qr", png_base64: src.split(",")[1] });
  await status.filter({ hasText: "Paid" }).waitFor({ timeout: 20000 });
  await page.screenshot({ path: shots + "/pos-paid.png", fullPage: true });
  say({ step: "paid", text: await status.innerText() });

  // Merchant scans: a pasted pay code.
  const { value: code } = await lines.next();
  await page.getByRole("button", { name: "Scan a pay code" }).click();
  await page.locator("#charge-amount").fill("2.10");
  await page.getByRole("textbox", { name: "Pay code" }).fill(code.trim());
  await page.getByRole("button", { name: "Charge" }).click();
  const receipt = page.locator("#receipt");
  await receipt.filter({ hasText: "receipt chg_" }).waitFor({ timeout: 15000 });
  await page.screenshot({ path: shots + "/pos-charged.png", fullPage: true });
  say({ step: "charged", text: await receipt.innerText() });

  await page.getByRole("textbox", { name: "Pay code" }).fill(code.trim());
  await page.getByRole("button", { name: "Charge" }).click();
  await receipt.filter({ hasText: "Refused" }).waitFor({ timeout: 15000 });
  say({ step: "refused", text: await receipt.innerText() });
} finally {
  await browser.close();
  // stdin stays open (the test holds it): leave instead of waiting for it.
  process.exit(process.exitCode || 0);
}
