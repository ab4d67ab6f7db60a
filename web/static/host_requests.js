// The dashboard's Requests section (web/templates/host.html): listeners' waiting requests,
// moved and removed by hosts, and the rules for requests. Its own file, over the same API.
"use strict";

(() => {
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

  function csrfHeaders() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? { [meta.dataset.header]: meta.content } : {};
  }

  async function api(method, path, data) {
    const headers = { Accept: "application/json", ...(method === "GET" ? {} : csrfHeaders()) };
    const init = { method, headers, credentials: "same-origin" };
    if (data !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(data);
    }
    const response = await fetch(path, init);
    const body = response.status === 204 ? null : await response.json();
    if (!response.ok) {
      const detail = body && typeof body.detail === "string" ? body.detail : `error ${response.status}`;
      throw new Error(detail);
    }
    return body;
  }

  function say(text, isError = false) {
    const region = document.getElementById(isError ? "alerts" : "status");
    if (!region) return;
    if (isError) {
      const p = document.createElement("p");
      p.textContent = text;
      region.replaceChildren(p);
    } else {
      region.textContent = text;
    }
  }

  const run = (work) => async (event) => {
    if (event) event.preventDefault();
    try {
      await work();
    } catch (failure) {
      say(failure.message, true);
    }
  };

  function render(items) {
    const list = document.getElementById("requests-list");
    list.replaceChildren();
    items.forEach((item, index) => {
      const name = item.artist ? `${item.artist} – ${item.title}` : item.title;
      const row = document.createElement("li");
      row.className = "row";
      const what = document.createElement("span");
      what.className = "what";
      what.textContent = `${clock.format(new Date(item.expected_start))} ${name} · requested by ${item.requested_by}`;
      const buttons = document.createElement("span");
      buttons.className = "buttons";
      const make = (label, aria, disabled, work) => {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = label;
        b.setAttribute("aria-label", aria);
        b.disabled = disabled;
        b.addEventListener("click", run(work));
        buttons.append(b);
      };
      const move = async (target) => render((await api("POST", `/api/requests/${item.id}/move`, { position: target })).items);
      make("Up", `Move ${name} up`, index === 0, () => move(items[index - 1].position));
      make("Down", `Move ${name} down`, index === items.length - 1, () => move(items[index + 1].position));
      make("Remove", `Remove the request for ${name}`, false, async () => {
        render((await api("DELETE", `/api/requests/${item.id}`)).items);
        say("Request removed.");
      });
      row.append(what, buttons);
      list.append(row);
    });
    if (!items.length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "No requests are waiting.";
      list.append(empty);
    }
  }

  async function load() {
    if (window.location.hash !== "#requests") return;
    render((await api("GET", "/api/requests")).items);
    const [rules, playlists] = await Promise.all([api("GET", "/api/requests/rules"), api("GET", "/api/playlists")]);
    const form = document.getElementById("requests-rules");
    form.elements.enabled.checked = rules.enabled;
    const select = form.elements.playlist_ids;
    select.replaceChildren(
      ...(playlists.items || playlists).map((p) => {
        const option = new Option(p.name, String(p.id));
        option.selected = rules.playlist_ids.includes(p.id);
        return option;
      }),
    );
    for (const key of ["per_listener_hour", "per_address_hour", "max_pending"]) {
      form.elements[key].value = rules[key] ?? "";
      form.elements[key].placeholder = String(rules.effective[key]);
    }
  }

  async function save() {
    const form = document.getElementById("requests-rules");
    const number = (key) => (form.elements[key].value === "" ? null : Number(form.elements[key].value));
    await api("PUT", "/api/requests/rules", {
      enabled: form.elements.enabled.checked,
      playlist_ids: [...form.elements.playlist_ids.selectedOptions].map((o) => Number(o.value)),
      per_listener_hour: number("per_listener_hour"),
      per_address_hour: number("per_address_hour"),
      max_pending: number("max_pending"),
    });
    say("Request rules saved.");
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("requests-rules");
    if (!form) return;
    form.addEventListener("submit", run(save));
    window.addEventListener("hashchange", run(load));
    run(load)();
  });
})();
