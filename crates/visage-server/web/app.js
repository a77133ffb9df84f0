// The page's script (served at /app.js: the Content-Security-Policy allows no inline script).
"use strict";
const $ = (id) => document.getElementById(id);
let photo = null;       // the current photo as a Blob
let bitmap = null;      // and decoded, for drawing
$("key").value = sessionStorage.getItem("visage-key") || "";
$("key").addEventListener("change", () => sessionStorage.setItem("visage-key", $("key").value.trim()));

function show(text) { $("result").textContent = text; }

async function setPhoto(blob) {
  photo = blob;
  bitmap = await createImageBitmap(blob);
  draw([]);
  show("Photo ready (" + bitmap.width + "x" + bitmap.height + ").");
}

function draw(faces) {
  const c = $("canvas"), ctx = c.getContext("2d");
  if (!bitmap) return;
  const scale = Math.min(1, 900 / bitmap.width);
  c.width = Math.round(bitmap.width * scale); c.height = Math.round(bitmap.height * scale);
  ctx.drawImage(bitmap, 0, 0, c.width, c.height);
  ctx.lineWidth = 3; ctx.font = "16px system-ui";
  for (const f of faces) {
    const [x1, y1, x2, y2] = f.bbox.map((v) => v * scale);
    const known = f.match !== undefined ? f.match !== null : true;
    ctx.strokeStyle = known ? "#0a8f3c" : "#c0392b";
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const label = f.match !== undefined ? (f.match || "unknown") + (f.similarity != null ? " " + f.similarity.toFixed(2) : "") : (f.score || 0).toFixed(2);
    ctx.fillStyle = ctx.strokeStyle; ctx.fillRect(x1, Math.max(0, y1 - 22), ctx.measureText(label).width + 10, 22);
    ctx.fillStyle = "#fff"; ctx.fillText(label, x1 + 5, Math.max(16, y1 - 6));
  }
}

async function call(method, path, form) {
  const key = $("key").value.trim();
  if (!key) throw new Error("Enter an API key first.");
  const r = await fetch(path, { method, headers: { Authorization: "Bearer " + key }, body: form });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.error && body.error.message) || ("HTTP " + r.status));
  return body;
}

function needPhoto() { if (!photo) throw new Error("Choose or take a photo first."); }

async function run(action) {
  try { await action(); } catch (e) { show("Error: " + e.message); }
}

$("file").addEventListener("change", (e) => e.target.files[0] && run(() => setPhoto(e.target.files[0])));
$("camera").addEventListener("click", () => run(async () => {
  const stream = await navigator.mediaDevices.getUserMedia({ video: true });
  $("video").srcObject = stream; $("video").hidden = false; $("snap").hidden = false;
}));
$("snap").addEventListener("click", () => run(async () => {
  const v = $("video"), c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight; c.getContext("2d").drawImage(v, 0, 0);
  await setPhoto(await new Promise((ok) => c.toBlob(ok, "image/jpeg", 0.92)));
}));
$("enroll").addEventListener("click", () => run(async () => {
  needPhoto();
  if (!$("consent").checked) throw new Error("Enrolment needs the person's consent: tick the box.");
  const subject = $("subject").value.trim();
  if (!subject) throw new Error("Enter a subject id.");
  const f = new FormData();
  f.append("purpose", $("purpose").value); f.append("evidence", $("evidence").value);
  if ($("name").value.trim()) f.append("name", $("name").value.trim());
  f.append("image", photo, "photo.jpg");
  const out = await call("POST", "/v1/subjects/" + encodeURIComponent(subject) + "/enroll", f);
  show("Enrolled " + out.subject + " (" + out.templates.length + " template).");
}));
$("identify").addEventListener("click", () => run(async () => {
  needPhoto();
  const f = new FormData(); f.append("image", photo, "photo.jpg");
  const out = await call("POST", "/v1/identify", f);
  draw(out.faces);
  show(out.faces.length ? out.faces.map((x, i) => "face " + (i + 1) + ": " + (x.match || "unknown") +
    (x.similarity != null ? " (similarity " + x.similarity.toFixed(3) + ")" : "")).join("\n") : "No face found.");
}));
$("detect").addEventListener("click", () => run(async () => {
  needPhoto();
  const f = new FormData(); f.append("image", photo, "photo.jpg");
  const out = await call("POST", "/v1/detect", f);
  draw(out.faces); show(out.faces.length + " face(s) found.");
}));
$("verify").addEventListener("click", () => run(async () => {
  needPhoto();
  const second = $("file2").files[0];
  if (!second) throw new Error("Choose the second photo.");
  const f = new FormData(); f.append("image1", photo, "a.jpg"); f.append("image2", second, "b.jpg");
  const out = await call("POST", "/v1/verify", f);
  show((out.match ? "Same person" : "Different people") + ": similarity " + out.similarity.toFixed(3) + " (threshold " + out.threshold.toFixed(3) + ").");
}));

// Live video: the events of a stream, read from its Server-Sent Events with the key in the header.
let following = null;
async function refreshStreams() {
  const list = await call("GET", "/v1/streams");
  // Options built as text, never as HTML: a source is whatever an admin typed.
  $("stream-list").replaceChildren(...list.map((s) => new Option(`${s.id}: ${s.source} (${s.state})`, s.id)));
  return list;
}
async function follow(id) {
  if (following) following.abort();
  following = new AbortController();
  const out = $("stream-events"); out.textContent = "";
  const r = await fetch("/v1/streams/" + encodeURIComponent(id) + "/events",
    { headers: { Authorization: "Bearer " + $("key").value.trim() }, signal: following.signal });
  if (!r.ok) throw new Error("HTTP " + r.status);
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("");
      if (!data) continue;
      const e = JSON.parse(data);
      out.textContent += (e.event ? `${e.t.toFixed(2)}s  #${e.track}  ${e.event}  ${e.subject || ""}` +
        (e.similarity != null ? `  similarity ${e.similarity.toFixed(2)}` : "") +
        (e.liveness != null ? `  P(live) ${e.liveness.toFixed(2)}` : "") : `stream ${e.state}`) + "\n";
      out.scrollTop = out.scrollHeight;
    }
  }
}
$("stream-start").addEventListener("click", () => run(async () => {
  const key = $("key").value.trim();
  const r = await fetch("/v1/streams", { method: "POST", headers: { Authorization: "Bearer " + key, "Content-Type": "application/json" },
    body: JSON.stringify({ source: $("stream-source").value.trim() }) });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.error && body.error.message) || ("HTTP " + r.status));
  await refreshStreams(); $("stream-list").value = body.id;
  show("Watching " + body.source + " as stream " + body.id + ".");
  await follow(body.id);
}));
$("stream-refresh").addEventListener("click", () => run(async () => show((await refreshStreams()).length + " stream(s).")));
$("stream-follow").addEventListener("click", () => run(() => follow($("stream-list").value)));
$("stream-stop").addEventListener("click", () => run(async () => {
  const s = await call("DELETE", "/v1/streams/" + encodeURIComponent($("stream-list").value));
  show("Stopped " + s.id + ": " + (s.summary ? s.summary.frames + " frames, " + s.summary.dropped_frames + " dropped" : s.state));
  await refreshStreams();
}));
