// Purse web POS: sign in with a merchant id and a POS API key (kept in sessionStorage, so it goes
// when the tab closes), show a dynamic QR code for an amount and turn "Paid" when the merchant's
// event stream (GET /v1/events, read with fetch() because EventSource cannot send an
// Authorization header) brings payment.succeeded for that code; or read a consumer's pay code
// (camera with BarcodeDetector, else the vendored jsQR; or pasted) and charge it. No build step.
"use strict";

const STORE_KEY = "purse.pos";
const $ = (id) => document.getElementById(id);
let session = null;
let current = null; // the dynamic code on screen: { reference, amount, currency }
let stream = null; // AbortController of the event stream
let lastEventId = null;
let currency = "USD";

function problemText(body, status) {
  if (body && body.code) return body.code + (body.detail ? ": " + body.detail : "");
  return "HTTP " + status;
}

async function api(method, path, body, extraHeaders) {
  const headers = { Authorization: "Bearer " + session.key, ...(extraHeaders || {}) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let json = null;
  try { json = await response.json(); } catch (_) { /* no body */ }
  return { ok: response.ok, status: response.status, body: json };
}

function show(signedIn) {
  $("sign-in-view").hidden = signedIn;
  $("till-view").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
}

function setMode(mode) {
  const qr = mode === "qr";
  $("qr-mode").hidden = !qr;
  $("paycode-mode").hidden = qr;
  $("mode-qr").setAttribute("aria-pressed", String(qr));
  $("mode-paycode").setAttribute("aria-pressed", String(!qr));
  if (qr) stopCamera();
}

async function signIn(merchant, key) {
  session = { merchant, key };
  // A static code checks the key and tells the merchant's currency.
  const reply = await api("POST", "/v1/merchants/" + encodeURIComponent(merchant) + "/qr", {});
  if (!reply.ok) {
    session = null;
    throw new Error(problemText(reply.body, reply.status));
  }
  currency = reply.body.currency;
  sessionStorage.setItem(STORE_KEY, JSON.stringify({ merchant, key }));
  show(true);
  listen();
}

function signOut() {
  if (stream) stream.abort();
  stream = null;
  session = null;
  current = null;
  sessionStorage.removeItem(STORE_KEY);
  stopCamera();
  show(false);
}

// --- live events -------------------------------------------------------------------------------

async function listen() {
  const controller = new AbortController();
  stream = controller;
  while (stream === controller) {
    try {
      const headers = { Authorization: "Bearer " + session.key, Accept: "text/event-stream" };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const response = await fetch("/v1/events?merchant=" + encodeURIComponent(session.merchant), { headers, signal: controller.signal });
      if (!response.ok) {
        let body = null;
        try { body = await response.json(); } catch (_) { /* none */ }
        $("live").textContent = "Live updates unavailable: " + problemText(body, response.status);
        if (response.status === 400) lastEventId = null;
        if (response.status === 401) { signOut(); return; }
      } else {
        $("live").textContent = "Live: waiting for payments";
        await readFrames(response.body.getReader());
      }
    } catch (err) {
      if (controller.signal.aborted) return;
      $("live").textContent = "Reconnecting…";
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function readFrames(reader) {
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id = null, data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("id:")) id = line.slice(3).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (id) lastEventId = id;
      if (data) {
        try { onEvent(JSON.parse(data)); } catch (_) { /* not JSON: ignore */ }
      }
    }
  }
}

function onEvent(event) {
  if (event.type !== "payment.succeeded" || !current) return;
  const payment = event.data || {};
  if (payment.reference !== current.reference) return;
  const status = $("qr-status");
  status.textContent = "Paid " + payment.amount + " " + payment.currency;
  status.className = "status paid";
  current = null;
}

// --- merchant-presented QR ---------------------------------------------------------------------

async function showQr(amount) {
  const status = $("qr-status");
  status.className = "status";
  status.textContent = "Creating code…";
  const reply = await api("POST", "/v1/merchants/" + encodeURIComponent(session.merchant) + "/qr", { amount });
  if (!reply.ok) {
    status.textContent = problemText(reply.body, reply.status);
    status.className = "status failed";
    $("qr-figure").hidden = true;
    return;
  }
  const qr = reply.body;
  current = { reference: qr.reference, amount: qr.amount, currency: qr.currency };
  $("qr-image").src = "data:image/png;base64," + qr.png_base64;
  $("qr-image").alt = "QR code to pay " + qr.amount + " " + qr.currency;
  const expires = qr.expires_at_ms ? new Date(qr.expires_at_ms).toLocaleTimeString() : "";
  $("qr-caption").textContent = qr.amount + " " + qr.currency + " · " + qr.reference + (expires ? " · until " + expires : "");
  $("qr-figure").hidden = false;
  status.textContent = "Waiting for payment…";
}

// --- consumer pay codes ------------------------------------------------------------------------

let cameraStream = null;

function stopCamera() {
  if (cameraStream) cameraStream.getTracks().forEach((track) => track.stop());
  cameraStream = null;
  $("camera").hidden = true;
}

async function scan() {
  const video = $("camera");
  try {
    cameraStream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch (err) {
    $("receipt").textContent = "Camera unavailable: paste the pay code instead.";
    return;
  }
  video.srcObject = cameraStream;
  video.hidden = false;
  await video.play();
  const detector = "BarcodeDetector" in window ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
  const canvas = $("frame");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const tick = async () => {
    if (!cameraStream) return;
    let text = null;
    if (detector) {
      const codes = await detector.detect(video).catch(() => []);
      if (codes.length) text = codes[0].rawValue;
    } else if (window.jsQR && video.videoWidth) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      context.drawImage(video, 0, 0);
      const image = context.getImageData(0, 0, canvas.width, canvas.height);
      const found = window.jsQR(image.data, image.width, image.height);
      if (found) text = found.data;
    }
    if (text) {
      $("paycode").value = text;
      stopCamera();
      $("charge-form").requestSubmit();
      return;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

async function charge(amount, paycode) {
  const receipt = $("receipt");
  receipt.className = "";
  receipt.textContent = "Charging…";
  const key = crypto.randomUUID();
  const reference = "pos-" + Date.now();
  const reply = await api("POST", "/v1/charges", { paycode: paycode.trim(), amount, currency, reference }, { "Idempotency-Key": key });
  if (!reply.ok) {
    receipt.className = "failed";
    receipt.textContent = "Refused: " + problemText(reply.body, reply.status);
    return;
  }
  const chg = reply.body;
  receipt.className = "ok";
  receipt.textContent = "Charged " + chg.amount + " " + chg.currency + " · receipt " + chg.id + " · " + chg.reference;
  $("paycode").value = "";
}

// --- wiring ------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("sign-in-error").textContent = "";
    try {
      await signIn($("merchant-id").value.trim(), $("pos-key").value.trim());
    } catch (err) {
      $("sign-in-error").textContent = "Sign-in failed: " + err.message;
    }
  });
  $("sign-out").addEventListener("click", signOut);
  $("mode-qr").addEventListener("click", () => setMode("qr"));
  $("mode-paycode").addEventListener("click", () => setMode("paycode"));
  $("qr-form").addEventListener("submit", (event) => { event.preventDefault(); showQr($("qr-amount").value.trim()); });
  $("charge-form").addEventListener("submit", (event) => {
    event.preventDefault();
    charge($("charge-amount").value.trim(), $("paycode").value);
  });
  $("scan").addEventListener("click", scan);
  const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
  if (saved) signIn(saved.merchant, saved.key).catch(() => signOut());
  else show(false);
});
