// arbflow dashboard: live signals from GET /api/signals/stream (Server-Sent Events), without polling the lake.
// EventSource cannot send the x-api-key header, so this reads the stream with fetch() + ReadableStream, parses the
// SSE frames itself, and reconnects with Last-Event-ID (the server replays what was missed) and capped backoff.
// Loaded before app.js; defines globals only.
"use strict";

const LIVE_ROWS = 20; // rows kept in the live table, newest first
const LIVE_IDLE_MS = 45_000; // the server pings every 15 s: three missed pings = a dead connection
const LIVE_BACKOFF_MS = [1000, 2000, 5000, 10_000, 30_000];

// Parse complete SSE frames off the front of `buffer`; returns [frames, rest]. A frame is {id, event, data, comment}.
function parseSse(buffer) {
  const frames = [];
  const blocks = buffer.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = blocks.pop();
  for (const block of blocks) {
    const frame = { id: null, event: "message", data: [], comment: false };
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) {
        frame.comment = true;
        continue;
      }
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") frame.id = value;
      else if (field === "event") frame.event = value;
      else if (field === "data") frame.data.push(value);
    }
    frames.push({ ...frame, data: frame.data.join("\n") });
  }
  return [frames, rest];
}

class LiveSignals {
  // onState(state, detail) reports "connecting" | "live" | "reconnecting" | "refused" | "off"; onSignal(row, id)
  constructor(onState, onSignal) {
    this.onState = onState;
    this.onSignal = onSignal;
    this.lastId = null;
    this.failures = 0;
    this.controller = null;
    this.retry = null;
    this.key = null;
  }

  start(key) {
    this.stop();
    this.key = key;
    this.connect();
  }

  stop() {
    this.key = null;
    clearTimeout(this.retry);
    if (this.controller) this.controller.abort();
    this.controller = null;
    this.onState("off", "");
  }

  async connect() {
    const key = this.key;
    if (!key) return;
    const controller = new AbortController();
    this.controller = controller;
    let idle = null;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(), LIVE_IDLE_MS);
    };
    this.onState("connecting", this.lastId ? `resuming after ${this.lastId}` : "");
    let reason = "stream ended";
    try {
      const headers = { "x-api-key": key, accept: "text/event-stream" };
      if (this.lastId) headers["Last-Event-ID"] = this.lastId;
      const response = await fetch("/api/signals/stream", { headers, cache: "no-store", signal: controller.signal });
      if (response.status === 401 || response.status === 403) {
        this.onState("refused", `HTTP ${response.status}`);
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      this.failures = 0;
      this.onState("live", "");
      touch();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        touch();
        const [frames, rest] = parseSse(buffer + value);
        buffer = rest;
        for (const frame of frames) this.handle(frame);
      }
    } catch (err) {
      reason = controller.signal.aborted && this.key ? "no ping for 45 s" : String(err);
    } finally {
      clearTimeout(idle);
    }
    if (this.key !== key || this.controller !== controller) return; // stopped or restarted meanwhile
    const wait = LIVE_BACKOFF_MS[Math.min(this.failures, LIVE_BACKOFF_MS.length - 1)];
    this.failures += 1;
    this.onState("reconnecting", `${reason}; retry in ${wait / 1000} s`);
    this.retry = setTimeout(() => this.connect(), wait);
  }

  handle(frame) {
    if (frame.comment && !frame.data) return; // ": ping"
    if (frame.id) this.lastId = frame.id;
    if (frame.event === "signal") this.onSignal(JSON.parse(frame.data), frame.id);
    else if (frame.event === "dropped") this.onState("live", "too slow: the server dropped signals (see the table)");
  }
}
