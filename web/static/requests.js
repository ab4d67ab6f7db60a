// Song requests (web/templates/request_panel.html): search the library, request a song,
// see why a request was refused and what became of yours. Binds whenever the panel is on
// the page: at load, and after the site swaps the page's main content (radio:navigated).
"use strict";

(() => {
  const PAGE = 10;
  const REFRESH_MS = 10_000;
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const at = (iso) => clock.format(new Date(iso));

  function el(tag, text, attrs = {}) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    return node;
  }

  async function detailOf(response) {
    try {
      const body = await response.json();
      if (typeof body.detail === "string") return body.detail;
    } catch (_) {
      // not JSON: fall through
    }
    return `The station could not take it just now (${response.status}). Please try again.`;
  }

  function bind() {
    const panel = document.getElementById("requests");
    if (!panel || panel.dataset.bound === "yes") return;
    panel.dataset.bound = "yes";
    const form = panel.querySelector("#request-search");
    const results = panel.querySelector("#request-results");
    const more = panel.querySelector("#request-more");
    const message = panel.querySelector("#request-message");
    const mine = panel.querySelector("#my-requests");
    let query = "";
    let offset = 0;
    let refresh = null;

    const say = (text, refused = false) => {
      message.textContent = text;
      message.classList.toggle("refused", refused);
    };

    async function search(append) {
      const params = new URLSearchParams({ q: query, offset: String(offset), limit: String(PAGE) });
      let response;
      try {
        response = await fetch(`/api/requests/search?${params}`, { credentials: "same-origin" });
      } catch (_) {
        say("The station cannot be reached just now. Please try again.", true);
        return;
      }
      if (!response.ok) {
        say(await detailOf(response), true);
        return;
      }
      const page = await response.json();
      if (!append) results.replaceChildren();
      for (const track of page.items) {
        const name = track.artist ? `${track.artist} – ${track.title}` : track.title;
        const row = el("li");
        row.append(el("span", name, { class: "song" }), " ");
        const ask = el("button", "Request", { type: "button", "aria-label": `Request ${name}` });
        ask.addEventListener("click", () => request(track.id, name, ask));
        row.append(ask);
        results.append(row);
      }
      if (!append && !page.items.length) results.append(el("li", "No songs found."));
      more.hidden = !page.more;
      offset = page.offset + page.items.length;
    }

    async function request(trackId, name, ask) {
      ask.disabled = true;
      try {
        const response = await fetch("/api/requests", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ track_id: trackId }),
        });
        if (!response.ok) {
          say(await detailOf(response), true);
          return;
        }
        const planned = await response.json();
        say(`Thanks! ${name} plays at about ${at(planned.expected_start)}.`);
        await showMine();
      } catch (_) {
        say("The station cannot be reached just now. Please try again.", true);
      } finally {
        ask.disabled = false;
      }
    }

    async function showMine() {
      let response;
      try {
        response = await fetch("/api/requests/mine", { credentials: "same-origin" });
      } catch (_) {
        return; // offline for a moment: the list stays as it was
      }
      if (!response.ok) return;
      const items = (await response.json()).items;
      mine.replaceChildren();
      for (const item of items) {
        const name = item.artist ? `${item.artist} – ${item.title}` : item.title;
        const state =
          item.status === "pending" && item.expected_start ? `at about ${at(item.expected_start)}`
          : item.status === "aired" ? "played"
          : "not played: removed by the station";
        mine.append(el("li", `${name} · ${state}`));
      }
      if (!items.length) mine.append(el("li", "None yet."));
      // While one waits, look again now and then: the listener sees it played.
      clearTimeout(refresh);
      if (items.some((item) => item.status === "pending") && mine.isConnected) refresh = setTimeout(showMine, REFRESH_MS);
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      query = form.querySelector("#request-q").value.trim();
      offset = 0;
      say("");
      search(false);
    });
    more.addEventListener("click", () => search(true));
    showMine();
  }

  document.addEventListener("DOMContentLoaded", bind);
  document.addEventListener("radio:navigated", bind);
  if (document.readyState !== "loading") bind();
})();
