// Server-sent events over fetch (EventSource cannot send an Authorization header), resuming with Last-Event-ID.
(() => {
  "use strict";

  class KeyedEventStream {
    constructor(url, key, onEvent, onState) {
      this.url = url; this.key = key; this.onEvent = onEvent; this.onState = onState;
      this.lastId = null; this.retryMs = 2000; this.stopped = false; this.controller = null;
    }

    start() { this.stopped = false; this.loop(); }

    stop() { this.stopped = true; if (this.controller) this.controller.abort(); }

    async loop() {
      while (!this.stopped) {
        try {
          await this.once();
        } catch (err) {
          if (this.stopped) return;
        }
        this.onState(false);
        await new Promise((r) => setTimeout(r, this.retryMs));
      }
    }

    async once() {
      this.controller = new AbortController();
      const headers = { Authorization: `Bearer ${this.key}`, Accept: "text/event-stream" };
      if (this.lastId !== null) headers["Last-Event-ID"] = this.lastId;
      const resp = await fetch(this.url, { headers, signal: this.controller.signal, cache: "no-store" });
      if (!resp.ok) throw new Error(`stream: HTTP ${resp.status}`);
      this.onState(true);
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          this.dispatch(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
        }
      }
    }

    dispatch(block) {
      let event = "message", data = "", id = null;
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "event") event = value;
        else if (field === "data") data += (data ? "\n" : "") + value;
        else if (field === "id") id = value;
        else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
      }
      if (id !== null) this.lastId = id;
      if (data) this.onEvent(event, JSON.parse(data));
    }
  }

  window.KeyedEventStream = KeyedEventStream;
})();
