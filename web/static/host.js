// The host dashboard: plain JavaScript over the station's HTTP API (the same routes as the
// `radio` command). No framework and no build step; every text goes in through textContent.
"use strict";

(() => {
  const pageData = document.body.dataset;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? { header: csrfMeta.dataset.header, token: csrfMeta.content } : null;
  const $ = (selector) => document.querySelector(selector);

  // --- DOM and formatting helpers ---------------------------------------------------------

  function h(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    node.append(...children.flat().filter((child) => child !== null && child !== undefined));
    return node;
  }

  function button(label, onclick, attrs = {}) {
    return h("button", { type: "button", onclick: act(onclick), ...attrs }, label);
  }

  let uniqueCounter = 0;
  const uniqueId = (prefix) => `${prefix}-${++uniqueCounter}`;

  function labelled(labelText, control) {
    control.id = control.id || uniqueId("field");
    return h("span", { class: "field" }, h("label", { for: control.id }, labelText), " ", control);
  }

  // 24-hour times, as the public pages write them, whatever the browser's language.
  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short", hourCycle: "h23" });
  const when = (iso) => (iso ? dateFormat.format(new Date(iso)) : "–");
  const clock = (iso) => timeFormat.format(new Date(iso));

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const whole = Math.max(0, Math.round(seconds));
    const hours = Math.floor(whole / 3600);
    const minutes = Math.floor((whole % 3600) / 60);
    const secs = String(whole % 60).padStart(2, "0");
    return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${secs}` : `${minutes}:${secs}`;
  }

  function bytes(count) {
    if (count < 1e6) return `${Math.round(count / 1e3)} kB`;
    return `${(count / 1e6).toFixed(1)} MB`;
  }

  // One row of a list: what it is, then the buttons that act on it.
  function listRow(what, buttons = [], attrs = {}) {
    return h("li", { class: "row", ...attrs }, rowParts(what, buttons));
  }

  function rowParts(what, buttons) {
    const actions = buttons.filter(Boolean);
    return [
      h("span", { class: "what" }, what),
      actions.length ? h("span", { class: "buttons" }, actions) : null,
    ].filter(Boolean);
  }

  // An inline form in a row's place (new tags, a new password) until it is saved or
  // cancelled; then the row again, with the focus back on its first button.
  function formInRow(row, show, label, fields, submitLabel, save) {
    const back = () => {
      show();
      row.querySelector("button").focus();
    };
    const form = h("form", { class: "inline", "aria-label": label }, fields, h("button", { type: "submit" }, submitLabel), button("Cancel", back));
    form.addEventListener("submit", act(async () => {
      await save(new FormData(form));
      back();
    }));
    row.replaceChildren(form);
    form.querySelector("input").focus();
  }

  function fillList(list, rows, emptyText) {
    list.replaceChildren(...rows);
    if (!rows.length) list.append(h("li", { class: "empty" }, emptyText));
  }

  // What the host has changed in a form and not yet saved is theirs: a load that answers
  // while they type (the section opened, a reload, another form's answer) leaves the form
  // alone while `edited`; what a save answers fills it again (`filled`).
  function formEdits(form) {
    let edited = false;
    for (const kind of ["input", "change"]) form.addEventListener(kind, () => { edited = true; });
    return { get edited() { return edited; }, filled() { edited = false; } };
  }

  const itemName = (item) => (item.artist ? `${item.artist} – ${item.title}` : item.title);

  // --- Messages ---------------------------------------------------------------------------

  function showError(message) {
    $("#alerts").replaceChildren(h("p", {}, message));
  }

  function clearError() {
    $("#alerts").replaceChildren();
  }

  let statusTimer = 0;
  function say(message) {
    const status = $("#status");
    status.textContent = message;
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => (status.textContent = ""), 6000);
  }

  // An action from a button or form: errors from the API end up in the alert region.
  function act(handler, { background = false } = {}) {
    return async (event) => {
      if (event && event.type === "submit") event.preventDefault();
      if (!background) clearError(); // a refresh on its own must not hide the last error
      try {
        await handler(event);
      } catch (error) {
        showError(error instanceof ApiError ? error.message : `Something went wrong: ${error}`);
      }
    };
  }

  // --- The API ----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function detailText(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      // FastAPI's validation errors: where, and what is wrong.
      return detail
        .map((item) => {
          const where = (item.loc || []).filter((part) => part !== "body").join(".");
          return where ? `${where}: ${item.msg}` : item.msg;
        })
        .join("; ");
    }
    return JSON.stringify(detail);
  }

  async function errorOf(response) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const data = await response.json();
      if (data && data.detail !== undefined) message = detailText(data.detail);
    } catch {
      // Not JSON: the status line says enough.
    }
    if (response.status === 401) message += " (reload the page to sign in again)";
    return new ApiError(response.status, message);
  }

  function unsafeHeaders(headers = {}) {
    return csrf ? { ...headers, [csrf.header]: csrf.token } : headers;
  }

  async function api(method, path, data) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin" };
    if (data !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(data);
    }
    if (method !== "GET") init.headers = unsafeHeaders(headers);
    const response = await fetch(path, init);
    if (!response.ok) throw await errorOf(response);
    return response.status === 204 ? null : response.json();
  }

  const query = (params) => {
    const kept = Object.entries(params).filter(([, value]) => value !== "" && value !== null);
    return new URLSearchParams(kept).toString();
  };

  // --- Signing in and out -----------------------------------------------------------------

  function setUpSignIn(form) {
    form.addEventListener(
      "submit",
      act(async () => {
        const fields = new FormData(form);
        await api("POST", "/api/session", {
          username: fields.get("username"),
          password: fields.get("password"),
        });
        // The page knows the signed-in host from the cookie: load it afresh.
        window.location.replace("/host" + window.location.hash);
      }),
    );
  }

  // --- Sections ---------------------------------------------------------------------------

  const loaders = {};
  let current = "queue";

  function showSection() {
    const wanted = window.location.hash.slice(1);
    const sections = [...document.querySelectorAll("main > section.panel")];
    const shown = sections.find((section) => section.id === wanted) ? wanted : "queue";
    for (const section of sections) section.hidden = section.id !== shown;
    for (const link of document.querySelectorAll("header nav a")) {
      if (link.hash === `#${shown}`) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    current = shown;
    if (loaders[shown]) act(loaders[shown])();
  }

  // --- Queue ------------------------------------------------------------------------------

  // For requests whose answers all show in the same place (the queue, the profile): the
  // caller shows an answer only if it is `newest`, so a slow answer to an older request (a
  // reload that crossed a change) never puts back what was there before.
  function newestOnly() {
    let asked = 0;
    return async (request) => {
      const mine = ++asked;
      const view = await request();
      return { view, latest: mine === asked };
    };
  }

  // A row being dragged stays where the host holds it: the queue moving on with the air
  // (a background reload) waits for the drop.
  const queueDrag = { row: null, stale: false };
  const askQueue = newestOnly();

  async function loadQueue() {
    if (queueDrag.row) {
      queueDrag.stale = true;
      return;
    }
    const { view, latest } = await askQueue(() => api("GET", "/api/queue"));
    if (latest) renderQueue(view.items);
  }

  // The button a keyboard move was made with: focused again in the next rendering, whichever
  // answer brings it (the move's, or a reload that came after it).
  let queueFocus = null;

  function renderQueue(items) {
    const list = $("#queue-list");
    fillList(list, items.map(queueRow), "The queue is empty.");
    const focus = queueFocus;
    queueFocus = null;
    const row = focus && list.querySelector(`li[data-id="${focus.id}"]`);
    if (row) {
      // The same button again; at the top or the bottom (it is disabled there) the other one.
      const buttons = [...row.querySelectorAll("button[data-action]")].filter((b) => !b.disabled);
      const target = buttons.find((b) => b.dataset.action === focus.action) || buttons[0];
      if (target) target.focus();
    }
  }

  function queueRow(item, index, items) {
    const name = itemName(item);
    const movable = item.id !== null;
    const previous = items[index - 1];
    const next = items[index + 1];
    const move = (target, action) =>
      button(action === "up" ? "Up" : "Down", () => moveEntry(item.id, target.position, action), {
        "aria-label": `Move ${name} ${action}`,
        disabled: target.id === undefined || target.id === null,
        dataset: { action },
      });
    const row = listRow(
      [
        h("span", { class: "title" }, name),
        " ",
        h("span", { class: `badge ${item.kind}` }, item.kind),
        " ",
        h("span", { class: "badge" }, item.reason),
        item.duration ? h("span", { class: "muted" }, ` ${duration(item.duration)}`) : null,
      ],
      movable
        ? [
            move(previous || {}, "up"),
            move(next || {}, "down"),
            button("Remove", () => removeEntry(item.id), { "aria-label": `Remove ${name}` }),
          ]
        : [],
      {
        draggable: movable ? "true" : null,
        dataset: movable ? { id: item.id, position: item.position } : {},
      },
    );
    row.prepend(
      h("span", { class: "handle", "aria-hidden": "true" }, movable ? "⋮⋮" : ""),
      h("time", { datetime: item.expected_start }, clock(item.expected_start)),
    );
    return row;
  }

  async function moveEntry(id, position, action) {
    queueFocus = action ? { id, action } : null;
    const { view, latest } = await askQueue(() => api("POST", `/api/queue/${id}/move`, { position: Number(position) }));
    if (latest) renderQueue(view.items);
    say("Moved.");
  }

  async function addToQueue(body, message) {
    const { view, latest } = await askQueue(() => api("POST", "/api/queue", body));
    if (latest) renderQueue(view.items);
    say(message);
    if (view.warning) showError(`Added, but note: ${view.warning}`);
  }

  async function removeEntry(id) {
    const { view, latest } = await askQueue(() => api("DELETE", `/api/queue/${id}`));
    if (latest) renderQueue(view.items);
    say("Removed from the queue.");
  }

  function setUpQueueDragging() {
    const list = $("#queue-list");
    list.addEventListener("dragstart", (event) => {
      queueDrag.row = event.target.closest("li[data-id]");
      if (!queueDrag.row) return;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", queueDrag.row.dataset.id);
      queueDrag.row.classList.add("dragging");
    });
    list.addEventListener("dragend", () => {
      if (queueDrag.row) queueDrag.row.classList.remove("dragging");
      for (const row of list.querySelectorAll(".drop-here")) row.classList.remove("drop-here");
      queueDrag.row = null;
      if (queueDrag.stale) {
        queueDrag.stale = false;
        act(loadQueue, { background: true })();
      }
    });
    list.addEventListener("dragover", (event) => {
      const target = event.target.closest("li[data-id]");
      if (!queueDrag.row || !target) return;
      event.preventDefault(); // allows the drop
      event.dataTransfer.dropEffect = "move";
      for (const row of list.querySelectorAll(".drop-here")) row.classList.remove("drop-here");
      if (target !== queueDrag.row) target.classList.add("drop-here");
    });
    list.addEventListener("drop", (event) => {
      const target = event.target.closest("li[data-id]");
      const dragged = queueDrag.row;
      if (!dragged || !target || target === dragged) return;
      event.preventDefault();
      // Takes the target's place: the rows between shift by one towards the old place.
      queueDrag.stale = false; // the move answers with the queue as it is now
      const id = Number(dragged.dataset.id);
      act(() => moveEntry(id, target.dataset.position))();
    });
  }

  async function findTracksToQueue() {
    const q = $("#queue-search").value.trim();
    const page = await api("GET", `/api/tracks?${query({ q, status: "ready", limit: 10 })}`);
    const rows = page.items.map((track) => {
      const name = itemName(track);
      const add = (position, label) =>
        button(label, () => addToQueue({ track_id: track.id, position }, `${name} is in the queue.`), {
          "aria-label": `${label}: ${name}`,
        });
      return listRow(
        [name, h("span", { class: "muted" }, ` ${duration(track.duration)}`)],
        [add("next", "Play next"), add("end", "Add at the end")],
      );
    });
    fillList($("#queue-search-results"), rows, "No ready track matches.");
  }

  async function loadPlaylistChoices() {
    const playlists = await api("GET", "/api/playlists");
    const options = playlists.map((p) => h("option", { value: p.id }, p.name));
    for (const select of [$("#queue-playlist"), $("#library-playlist")]) {
      const chosen = select.value;
      select.replaceChildren(...options.map((option) => option.cloneNode(true)));
      if (chosen) select.value = chosen;
    }
    return playlists;
  }

  function setUpQueue() {
    setUpQueueDragging();
    $("#skip").addEventListener("click", act(async () => {
      await api("POST", "/api/queue/skip");
      say("Skipping: the next item is on air within a second.");
    }));
    $("#live-end").addEventListener("click", act(async () => {
      await api("POST", "/api/live/end");
      say("Handing back: the programme returns with a fade.");
    }));
    $("#queue-insert-track").addEventListener("submit", act(findTracksToQueue));
    $("#queue-insert-playlist").addEventListener("submit", act(async () => {
      const playlistId = Number($("#queue-playlist").value);
      if (!playlistId) throw new ApiError(0, "Choose a playlist first (create one under Playlists).");
      const position = $("#queue-playlist-where").value;
      await addToQueue({ playlist_id: playlistId, position }, "The playlist is in the queue.");
    }));
    $("#queue-bulletin").addEventListener("click", act(() =>
      addToQueue({ bulletin: true, position: "next" }, "A news bulletin plays next."),
    ));
    $("#queue-clear").addEventListener("click", act(async () => {
      if (!window.confirm("Clear the whole queue? The scheduler plans it anew.")) return;
      const { view, latest } = await askQueue(() => api("DELETE", "/api/queue"));
      if (latest) renderQueue(view.items);
      say("The queue was cleared and planned anew.");
    }));
    loaders.queue = async () => {
      await Promise.all([loadQueue(), loadPlaylistChoices()]);
    };
  }

  // --- Now playing: the push channel ------------------------------------------------------

  function showNowPlaying(snapshot) {
    const item = snapshot.current;
    $("#on-air").textContent = item ? itemName(item) : "nothing yet";
    // A host live on air (their own software or the browser): any host may hand back.
    $("#live-end").hidden = !(item && item.kind === "live");
    $("#skip").hidden = Boolean(item && item.kind === "live");
    for (const node of [$("#listeners-now"), $("#listeners-live")]) {
      node.textContent = String(snapshot.listeners ?? "–");
    }
  }

  const COUNT_EVERY_MS = 15000;
  const SHOWING_COUNT = ["queue", "listeners"];

  function listenToNowPlaying() {
    // Items change on the push channel; listeners come and go between them.
    setInterval(() => {
      if (document.visibilityState !== "visible" || !SHOWING_COUNT.includes(current)) return;
      act(async () => showNowPlaying(await api("GET", "/api/now-playing")), { background: true })();
    }, COUNT_EVERY_MS);
    const events = new EventSource("/api/now-playing/events");
    let last = null;
    events.addEventListener("now-playing", (event) => {
      const snapshot = JSON.parse(event.data);
      showNowPlaying(snapshot);
      // A new item on air (a jingle, which keeps the title, changes what comes next) moved
      // the queue on; skip votes and listeners leaving push too, and change neither.
      const airing = JSON.stringify([snapshot.current && snapshot.current.started_at, snapshot.next]);
      if (last !== null && airing !== last && current === "queue") {
        act(loadQueue, { background: true })();
      }
      last = airing;
    });
  }

  // --- Library ----------------------------------------------------------------------------

  const LIBRARY_PAGE = 25;
  let libraryOffset = 0;

  function librarySearch() {
    return {
      q: $("#library-q").value.trim(),
      kind: $("#library-kind").value,
      status: $("#library-status").value,
    };
  }

  async function loadLibrary() {
    const params = { ...librarySearch(), limit: LIBRARY_PAGE, offset: libraryOffset };
    const page = await api("GET", `/api/tracks?${query(params)}`);
    fillList($("#library-list"), page.items.map(trackRow), "No track matches.");
    const last = Math.min(page.offset + page.items.length, page.total);
    $("#library-count").textContent = page.total
      ? `Tracks ${page.offset + 1}–${last} of ${page.total}`
      : "";
    $("#library-previous").disabled = libraryOffset === 0;
    $("#library-next").disabled = last >= page.total;
  }

  function trackRow(track) {
    const row = h("li", { class: "row", dataset: { trackId: track.id } });
    const show = () => {
      const name = itemName(track); // after a tag edit too
      const what = [
        h("span", { class: "title" }, name),
        track.album ? h("span", { class: "muted" }, ` · ${track.album}`) : null,
        " ",
        h("span", { class: "badge" }, track.kind),
        " ",
        h("span", { class: `badge ${track.status}` }, track.status),
        h("span", { class: "muted" }, ` ${duration(track.duration)}`),
        track.error ? h("span", { class: "problem" }, ` ${track.error}`) : null,
      ];
      row.replaceChildren(
        ...rowParts(what, [
          button("Edit tags", () => editTags(row, track, show), { "aria-label": `Edit tags of ${name}` }),
          button("Play next", () => addToQueue({ track_id: track.id, position: "next" }, `${name} plays next.`), {
            "aria-label": `Play ${name} next`,
            disabled: track.status !== "ready",
          }),
          button("Add to playlist", () => addToPlaylist(track), {
            "aria-label": `Add ${name} to the chosen playlist`,
          }),
          button("Delete", async () => {
            if (!window.confirm(`Delete ${name} and its file?`)) return;
            await api("DELETE", `/api/tracks/${track.id}`);
            say(`${name} was deleted.`);
            await loadLibrary();
          }, { "aria-label": `Delete ${name}`, class: "danger" }),
        ]),
      );
    };
    show();
    return row;
  }

  function editTags(row, track, show) {
    const input = (field) => h("input", { name: field, value: track[field] || "" });
    const fields = [labelled("Artist", input("artist")), labelled("Title", input("title")), labelled("Album", input("album"))];
    formInRow(row, show, `Tags of ${itemName(track)}`, fields, "Save tags", async (form) => {
      const changes = Object.fromEntries(["artist", "title", "album"].map((field) => [field, form.get(field)]));
      Object.assign(track, await api("PATCH", `/api/tracks/${track.id}`, changes));
      say("Tags saved into the file.");
    });
  }

  async function addToPlaylist(track) {
    const select = $("#library-playlist");
    if (!select.value) throw new ApiError(0, "Choose a playlist first (create one under Playlists).");
    const name = select.selectedOptions[0].textContent;
    await api("POST", `/api/playlists/${select.value}/entries`, { track_ids: [track.id] });
    say(`${itemName(track)} was added to ${name}.`);
  }

  function setProgress(bar, fraction, label) {
    bar.value = Math.round(Math.min(1, Math.max(0, fraction)) * bar.max);
    if (label) label.textContent = `${Math.round((bar.value / bar.max) * 100)}%`;
  }

  // XMLHttpRequest rather than fetch: only it reports the upload's progress.
  function sendFile(file, kind, onProgress) {
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open("POST", `/api/tracks/upload?${query({ kind })}`);
      request.responseType = "json";
      request.setRequestHeader("Accept", "application/json");
      if (csrf) request.setRequestHeader(csrf.header, csrf.token);
      request.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      });
      request.upload.addEventListener("load", () => onProgress(1));
      request.addEventListener("load", () => {
        if (request.status === 202) resolve(request.response);
        else {
          const detail = request.response && request.response.detail;
          reject(new ApiError(request.status, detail ? detailText(detail) : `upload failed: ${request.status}`));
        }
      });
      request.addEventListener("error", () => reject(new ApiError(0, "the upload was interrupted")));
      const form = new FormData();
      form.append("file", file);
      request.send(form);
    });
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function followJob(jobId, bar, message) {
    for (;;) {
      const job = await api("GET", `/api/jobs/${jobId}`);
      setProgress(bar, job.progress);
      message.textContent = job.message || job.state;
      if (job.state === "done" || job.state === "failed") return job;
      await sleep(400);
    }
  }

  // An upload's outcome and its bars stay until the host dismisses them or starts another.
  function showUploadResult(message) {
    $("#upload-result-text").textContent = message;
    $("#upload-result").hidden = false;
  }

  function clearUploadResult() {
    $("#upload-result").hidden = true;
    $("#upload-result-text").textContent = "";
    $("#analysis-message").textContent = "";
    setProgress($("#upload-progress"), 0, $("#upload-percent"));
    setProgress($("#analysis-progress"), 0);
  }

  function setUpUpload() {
    const form = $("#upload");
    $("#upload-dismiss").addEventListener("click", () => {
      clearUploadResult();
      $("#upload-file").focus();
    });
    form.addEventListener("submit", act(async () => {
      const file = $("#upload-file").files[0];
      if (!file) throw new ApiError(0, "Choose an audio file to upload.");
      const uploadBar = $("#upload-progress");
      const analysisBar = $("#analysis-progress");
      clearUploadResult(); // the last upload's outcome stays until now
      form.querySelector('button[type="submit"]').disabled = true;
      try {
        const accepted = await sendFile(file, $("#upload-kind").value, (fraction) =>
          setProgress(uploadBar, fraction, $("#upload-percent")),
        );
        setProgress(uploadBar, 1, $("#upload-percent"));
        say(`${file.name} is uploaded; analysing it.`);
        const job = await followJob(accepted.job.id, analysisBar, $("#analysis-message"));
        if (job.state === "failed") throw new ApiError(0, `The analysis failed: ${job.message}`);
        setProgress(analysisBar, 1);
        showUploadResult(`${file.name}: ${job.message}`);
        form.reset();
        await loadLibrary();
      } finally {
        form.querySelector('button[type="submit"]').disabled = false;
      }
    }));
  }

  function setUpLibrary() {
    setUpUpload();
    $("#library-search").addEventListener("submit", act(async () => {
      libraryOffset = 0;
      await loadLibrary();
    }));
    $("#library-previous").addEventListener("click", act(async () => {
      libraryOffset = Math.max(0, libraryOffset - LIBRARY_PAGE);
      await loadLibrary();
    }));
    $("#library-next").addEventListener("click", act(async () => {
      libraryOffset += LIBRARY_PAGE;
      await loadLibrary();
    }));
    const scan = $("#library-scan");
    scan.addEventListener("click", act(async () => {
      scan.disabled = true; // one scan at a time
      try {
        const job = await api("POST", "/api/library/scan");
        say("Scanning media/…");
        const done = await followJob(job.id, $("#analysis-progress"), $("#analysis-message"));
        if (done.state === "failed") throw new ApiError(0, `The scan failed: ${done.message}`);
        say(`Scan: ${done.message}`);
        await loadLibrary();
      } finally {
        scan.disabled = false;
      }
    }));
    loaders.library = async () => {
      await Promise.all([loadLibrary(), loadPlaylistChoices()]);
    };
  }

  // --- Playlists --------------------------------------------------------------------------

  const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const RULES = {
    rotation: (p) => `rotation, weight ${p.weight}`,
    every_songs: (p) => `one every ${p.every} songs`,
    every_minutes: (p) => `one every ${p.every} minutes`,
    hourly: (p) => `hourly at :${String(p.minute ?? 0).padStart(2, "0")}`,
  };
  let openPlaylist = null;

  async function loadPlaylists() {
    const playlists = await loadPlaylistChoices();
    fillList($("#playlist-list"), playlists.map(playlistRow), "No playlists yet: the whole library plays in shuffle.");
  }

  function playlistRow(playlist) {
    const describe = RULES[playlist.rule] || (() => playlist.rule);
    return listRow(
      [
        h("span", { class: "title" }, playlist.name),
        h("span", { class: "muted" }, ` · ${describe(playlist)}, ${playlist.order}, ${playlist.entry_count} tracks`),
        playlist.enabled ? null : h("span", { class: "badge" }, " off"),
        playlist.schedule.length ? h("span", { class: "badge" }, `${playlist.schedule.length} dayparts`) : null,
      ],
      [
        button("Edit", () => editPlaylist(playlist.id), { "aria-label": `Edit ${playlist.name}` }),
        button("Delete", async () => {
          if (!window.confirm(`Delete the playlist ${playlist.name}?`)) return;
          await api("DELETE", `/api/playlists/${playlist.id}`);
          if (openPlaylist && openPlaylist.id === playlist.id) newPlaylist();
          say(`${playlist.name} was deleted.`);
          await loadPlaylists();
        }, { "aria-label": `Delete ${playlist.name}`, class: "danger" }),
      ],
    );
  }

  function daypartRow(daypart = { days: [0, 1, 2, 3, 4], start: "06:00", end: "10:00" }) {
    const boxes = DAYS.map((day, index) => {
      const box = h("input", { type: "checkbox", value: index, checked: daypart.days.includes(index) });
      box.id = uniqueId("day");
      return h("span", { class: "check" }, box, h("label", { for: box.id }, day));
    });
    const row = h(
      "fieldset",
      { class: "daypart" },
      h("legend", {}, "Daypart"),
      h("span", { class: "days" }, boxes),
      labelled("From", h("input", { type: "time", name: "start", value: daypart.start, required: true })),
      labelled("To", h("input", { type: "time", name: "end", value: daypart.end, required: true })),
    );
    row.append(button("Remove daypart", () => row.remove()));
    return row;
  }

  function readDayparts() {
    return [...document.querySelectorAll("#pl-dayparts .daypart")].map((row) => ({
      days: [...row.querySelectorAll('input[type="checkbox"]:checked')].map((box) => Number(box.value)),
      start: row.querySelector('[name="start"]').value,
      end: row.querySelector('[name="end"]').value,
    }));
  }

  // Only the chosen rule's fields are shown (and sent): a rotation has a weight, "every N"
  // rules their N, an hourly rule its minute and window.
  function showRuleFields() {
    const form = $("#playlist-form");
    const rule = form.elements.rule.value;
    for (const field of form.querySelectorAll("[data-rules]")) {
      const shown = field.dataset.rules.split(" ").includes(rule);
      field.hidden = !shown;
      for (const input of field.querySelectorAll("input")) input.disabled = !shown;
    }
    $("#pl-every-label").textContent = rule === "every_minutes" ? "Every N minutes" : "Every N songs";
  }

  let playlistEdits = null; // formEdits of the playlist form

  function fillPlaylistForm(playlist) {
    const form = $("#playlist-form");
    openPlaylist = playlist;
    playlistEdits.filled();
    form.elements.id.value = playlist ? playlist.id : "";
    form.elements.name.value = playlist ? playlist.name : "";
    form.elements.description.value = playlist ? playlist.description : "";
    form.elements.rule.value = playlist ? playlist.rule : "rotation";
    form.elements.order.value = playlist ? playlist.order : "shuffle";
    form.elements.weight.value = playlist ? playlist.weight : 1;
    form.elements.every.value = playlist && playlist.every !== null ? playlist.every : "";
    form.elements.minute.value = playlist && playlist.minute !== null ? playlist.minute : "";
    form.elements.window_minutes.value = playlist ? playlist.window_minutes : "";
    form.elements.enabled.checked = playlist ? playlist.enabled : true;
    form.elements.is_jingle.checked = playlist ? playlist.is_jingle : false;
    $("#pl-dayparts").replaceChildren(...(playlist ? playlist.schedule.map(daypartRow) : []));
    showRuleFields();
    $("#playlist-form-title").textContent = playlist ? `Playlist: ${playlist.name}` : "New playlist";
    renderEntries(playlist ? playlist.entries : []);
  }

  function renderEntries(entries) {
    const list = $("#playlist-entries");
    const ids = entries.map((entry) => entry.track_id);
    const setIds = async (newIds, message) => {
      fillPlaylistForm(await api("PUT", `/api/playlists/${openPlaylist.id}/entries`, { track_ids: newIds }));
      say(message);
    };
    const rows = entries.map((entry, index) => {
      const name = itemName(entry);
      const swapped = (other) => {
        const copy = [...ids];
        [copy[index], copy[other]] = [copy[other], copy[index]];
        return copy;
      };
      return listRow(
        [name, h("span", { class: "muted" }, ` ${duration(entry.duration)}`)],
        [
          button("Up", () => setIds(swapped(index - 1), "Moved."), { "aria-label": `Move ${name} up`, disabled: index === 0 }),
          button("Down", () => setIds(swapped(index + 1), "Moved."), { "aria-label": `Move ${name} down`, disabled: index === entries.length - 1 }),
          button("Remove", () => setIds(ids.filter((_, i) => i !== index), `${name} left the playlist.`), { "aria-label": `Remove ${name} from the playlist` }),
        ],
      );
    });
    fillList(list, rows, openPlaylist ? "No tracks yet: find some below." : "Save the playlist, then add tracks.");
    $("#playlist-add-tracks").hidden = !openPlaylist;
  }

  // Adding tracks without leaving the playlist: a search of at most PLAYLIST_FINDS tracks.
  const PLAYLIST_FINDS = 10;
  async function findTracksForPlaylist() {
    const playlist = openPlaylist;
    if (!playlist) return;
    const q = $("#playlist-track-search").value.trim();
    const page = await api("GET", `/api/tracks?${query({ q, status: "ready", limit: PLAYLIST_FINDS })}`);
    const rows = page.items.map((track) => {
      const name = itemName(track);
      return listRow([name, h("span", { class: "muted" }, ` ${duration(track.duration)}`)], [
        button("Add", async () => {
          await api("POST", `/api/playlists/${playlist.id}/entries`, { track_ids: [track.id] });
          say(`${name} was added to ${playlist.name}.`);
          if (openPlaylist && openPlaylist.id === playlist.id) fillPlaylistForm(await api("GET", `/api/playlists/${playlist.id}`));
          await loadPlaylists();
        }, { "aria-label": `Add ${name} to ${playlist.name}` }),
      ]);
    });
    fillList($("#playlist-track-results"), rows, "No ready track matches.");
  }

  async function editPlaylist(id) {
    fillPlaylistForm(await api("GET", `/api/playlists/${id}`));
    $("#pl-name").focus();
  }

  function newPlaylist() {
    fillPlaylistForm(null);
  }

  function playlistFields(form) {
    const number = (name) => {
      const input = form.elements[name];
      return input.disabled || input.value === "" ? null : Number(input.value);
    };
    const fields = {
      name: form.elements.name.value.trim(),
      description: form.elements.description.value,
      rule: form.elements.rule.value,
      order: form.elements.order.value,
      weight: number("weight") ?? 1,
      every: number("every"),
      minute: number("minute"),
      enabled: form.elements.enabled.checked,
      is_jingle: form.elements.is_jingle.checked,
      schedule: readDayparts(),
    };
    if (number("window_minutes") !== null) fields.window_minutes = number("window_minutes");
    return fields;
  }

  function setUpPlaylists() {
    const form = $("#playlist-form");
    playlistEdits = formEdits(form);
    form.addEventListener("submit", act(async () => {
      const fields = playlistFields(form);
      const id = form.elements.id.value;
      const saved = id
        ? await api("PATCH", `/api/playlists/${id}`, fields)
        : await api("POST", "/api/playlists", fields);
      fillPlaylistForm(saved);
      say(`${saved.name} is saved.`);
      await loadPlaylists();
    }));
    $("#playlist-new").addEventListener("click", () => {
      newPlaylist();
      $("#pl-name").focus();
    });
    $("#pl-add-daypart").addEventListener("click", () => $("#pl-dayparts").append(daypartRow()));
    $("#pl-rule").addEventListener("change", showRuleFields);
    $("#playlist-add-tracks").addEventListener("submit", act(findTracksForPlaylist));
    loaders.playlists = async () => {
      await loadPlaylists();
      if (playlistEdits.edited) return;
      if (openPlaylist) await editPlaylist(openPlaylist.id);
      else newPlaylist();
    };
  }

  // --- News desk --------------------------------------------------------------------------

  let newsTimer = 0;

  function speechText(speech) {
    if (!speech.status) return "speech: not rendered";
    if (speech.status === "ready") return `speech ready, ${duration(speech.duration)}`;
    if (speech.status === "failed") return `speech failed: ${speech.error || "unknown error"}`;
    return `speech ${speech.status}…`;
  }

  async function loadArticles() {
    const status = $("#article-status").value;
    const page = await api("GET", `/api/articles?${query({ status, limit: 50 })}`);
    const articles = page.items;
    listedArticles = articles;
    fillList($("#article-list"), articles.map(articleRow), "No stories.");
    if (!$("#article-form").elements.id.value) fillRelatedChoices(null);
    // Speech renders in the background: watch it while someone looks.
    clearTimeout(newsTimer);
    const busy = articles.some((a) => ["pending", "rendering"].includes(a.speech.status));
    const refresh = act(loadArticles, { background: true });
    if (busy) newsTimer = setTimeout(() => current === "news" && refresh(), 3000);
  }

  function articleRow(article) {
    const title = article.title;
    const published = article.status === "published";
    return listRow(
      [
        published ? h("a", { href: `/news/${encodeURIComponent(article.slug)}`, class: "title" }, title) : h("span", { class: "title" }, title),
        " ",
        h("span", { class: `badge ${article.status}` }, article.status),
        h("span", { class: "muted" }, ` ${article.category} · ${article.publish_at ? when(article.publish_at) : "not published"} · `),
        h("span", { class: `speech ${article.speech.status || "none"}` }, speechText(article.speech)),
      ],
      [
        button("Edit", () => editArticle(article.id), { "aria-label": `Edit ${title}` }),
        published
          ? button("Retract", () => articleAction(article.id, "retract", `${title} was retracted.`), { "aria-label": `Retract ${title}` })
          : button("Publish", () => articleAction(article.id, "publish", `${title} is published.`), { "aria-label": `Publish ${title}` }),
        published && article.speech.status === "ready"
          ? button("Play next", () => articleAction(article.id, "play-next", `${title} is read next.`), { "aria-label": `Read ${title} on air next` })
          : null,
        button("Delete", async () => {
          if (!window.confirm(`Delete the story ${title} with its comments and ratings?`)) return;
          await api("DELETE", `/api/articles/${article.id}`);
          say(`${title} was deleted.`);
          await loadArticles();
        }, { "aria-label": `Delete ${title}`, class: "danger" }),
      ],
    );
  }

  async function articleAction(id, action, message, body) {
    await api("POST", `/api/articles/${id}/${action}`, body);
    say(message);
    await loadArticles();
  }

  function fillArticleForm(article) {
    const form = $("#article-form");
    form.elements.id.value = article ? article.id : "";
    for (const field of ["title", "category", "author", "summary", "body"]) {
      form.elements[field].value = article ? article[field] : field === "category" ? "News" : "";
    }
    form.elements.tags.value = article ? article.tags.join(", ") : "";
    form.elements.sources.value = article ? article.sources.map((s) => (s.label ? `${s.label} | ${s.url}` : s.url)).join("\n") : "";
    fillRelatedChoices(article);
    $("#article-form-title").textContent = article ? `Edit: ${article.title}` : "Write a story";
  }

  // The related-story choices: the stories listed above (bounded), and those already chosen.
  let listedArticles = [];
  function fillRelatedChoices(article) {
    const chosen = article ? article.related_ids : [];
    const titles = new Map(listedArticles.map((a) => [a.id, a.title]));
    for (const related of article ? article.related : []) titles.set(related.id, related.title);
    const ids = [...chosen, ...[...titles.keys()].filter((id) => !chosen.includes(id))];
    const options = ids
      .filter((id) => !article || id !== article.id)
      .map((id) => h("option", { value: id, selected: chosen.includes(id) }, titles.get(id) || `Story ${id}`));
    $("#ar-related").replaceChildren(...options);
  }

  function readSources(text) {
    return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
      const bar = line.lastIndexOf("|");
      return bar < 0 ? { url: line } : { label: line.slice(0, bar).trim(), url: line.slice(bar + 1).trim() };
    });
  }

  async function editArticle(id) {
    fillArticleForm(await api("GET", `/api/articles/${id}`));
    $("#ar-title").focus();
  }

  async function saveArticle() {
    const form = $("#article-form");
    const fields = {};
    for (const field of ["title", "category", "author", "summary", "body"]) {
      fields[field] = form.elements[field].value;
    }
    fields.tags = form.elements.tags.value.split(",").map((tag) => tag.trim()).filter(Boolean);
    fields.sources = readSources(form.elements.sources.value);
    const related = [...$("#ar-related").selectedOptions].map((option) => Number(option.value));
    const id = form.elements.id.value;
    let saved = id
      ? await api("PATCH", `/api/articles/${id}`, fields)
      : await api("POST", "/api/articles", fields);
    saved = await api("PUT", `/api/articles/${saved.id}/related`, related);
    fillArticleForm(saved);
    return saved;
  }

  async function loadComments() {
    const status = $("#comment-status").value;
    const comments = await api("GET", `/api/comments?${query({ status, limit: 100 })}`);
    fillList($("#comment-list"), comments.map(commentRow), "No comments here.");
  }

  function commentRow(comment) {
    const who = `${comment.name} <${comment.email}>`;
    const decide = (action, label) =>
      button(label, async () => {
        await api("POST", `/api/comments/${comment.id}/${action}`);
        say(`Comment by ${comment.name}: ${action === "approve" ? "approved" : "rejected"}.`);
        await loadComments();
      }, { "aria-label": `${label} the comment by ${comment.name}` });
    return listRow(
      [
        h("span", { class: "title" }, who),
        h("span", { class: "muted" }, ` on “${comment.article_title}”, ${when(comment.created_at)} `),
        h("span", { class: `badge ${comment.status}` }, comment.status),
        h("span", { class: "body" }, comment.body),
      ],
      [
        comment.status !== "approved" ? decide("approve", "Approve") : null,
        comment.status !== "rejected" ? decide("reject", "Reject") : null,
        button("Delete", async () => {
          await api("DELETE", `/api/comments/${comment.id}`);
          say("Comment deleted.");
          await loadComments();
        }, { "aria-label": `Delete the comment by ${comment.name}`, class: "danger" }),
      ],
      { class: "row comment" },
    );
  }

  async function loadFeeds() {
    const feeds = await api("GET", "/api/feeds");
    fillList($("#feed-list"), feeds.map(feedRow), "No feeds.");
  }

  function feedRow(feed) {
    const name = feed.title || feed.url;
    return listRow(
      [
        h("span", { class: "title" }, name),
        h("span", { class: "muted" }, ` · ${feed.category} · ${feed.publish ? "published at once" : "as drafts"} · fetched ${when(feed.last_fetched_at)}`),
        feed.enabled ? null : h("span", { class: "badge" }, " paused"),
        feed.last_error ? h("span", { class: "problem" }, ` ${feed.last_error}`) : null,
      ],
      [
        button("Fetch now", async () => {
          const report = await api("POST", `/api/feeds/${feed.id}/fetch`);
          say(`${name}: ${report.added} new, ${report.duplicates} already here.`);
          await Promise.all([loadFeeds(), loadArticles()]);
        }, { "aria-label": `Fetch ${name} now` }),
        button(feed.enabled ? "Pause" : "Resume", async () => {
          await api("PATCH", `/api/feeds/${feed.id}`, { enabled: !feed.enabled });
          await loadFeeds();
        }, { "aria-label": `${feed.enabled ? "Pause" : "Resume"} ${name}` }),
        button("Remove", async () => {
          await api("DELETE", `/api/feeds/${feed.id}`);
          say(`${name} removed; its stories stay.`);
          await loadFeeds();
        }, { "aria-label": `Remove the feed ${name}`, class: "danger" }),
      ],
    );
  }

  function setUpNews() {
    $("#article-filter").addEventListener("submit", act(loadArticles));
    $("#comment-filter").addEventListener("submit", act(loadComments));
    $("#article-status").addEventListener("change", act(loadArticles));
    $("#comment-status").addEventListener("change", act(loadComments));
    $("#article-form").addEventListener("submit", act(async () => {
      const saved = await saveArticle();
      say(`${saved.title} is saved (${saved.status}).`);
      await loadArticles();
    }));
    $("#article-new").addEventListener("click", () => {
      fillArticleForm(null);
      $("#ar-title").focus();
    });
    $("#article-publish").addEventListener("click", act(async () => {
      const saved = await saveArticle();
      await articleAction(saved.id, "publish", `${saved.title} is published; its speech renders now.`);
    }));
    $("#article-schedule").addEventListener("click", act(async () => {
      const local = $("#ar-schedule").value;
      if (!local) throw new ApiError(0, "Choose when to publish it.");
      const saved = await saveArticle();
      const at = new Date(local).toISOString();
      await articleAction(saved.id, "schedule", `${saved.title} goes live ${when(at)}.`, { at });
    }));
    $("#feed-form").addEventListener("submit", act(async (event) => {
      const form = event.target;
      await api("POST", "/api/feeds", {
        url: form.elements.url.value.trim(),
        category: form.elements.category.value.trim() || "News",
        publish: form.elements.publish.checked,
      });
      form.reset();
      say("Feed added; it is fetched on the next round (or press Fetch now).");
      await loadFeeds();
    }));
    loaders.news = async () => {
      await Promise.all([loadArticles(), loadComments(), loadFeeds()]);
    };
  }

  // --- Listeners --------------------------------------------------------------------------

  const SVG = "http://www.w3.org/2000/svg";
  let chartHours = 24;

  function svg(tag, attrs = {}, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function drawChart(history, hours) {
    const points = history.points;
    const width = 640;
    const height = 220;
    const pad = { left: 36, right: 12, top: 12, bottom: 28 };
    const most = Math.max(0, ...points.map((p) => p.listeners));
    const peak = Math.max(1, most); // the top of the axis, above zero
    // The server's buckets set the time axis; the browser's clock may be off.
    const step = (history.step_seconds || 0) * 1000;
    const end = points.length ? Date.parse(points[points.length - 1].at) + step : Date.now();
    const start = points.length ? Date.parse(points[0].at) : end - hours * 3600 * 1000;
    const x = (time) => pad.left + ((time - start) / (end - start)) * (width - pad.left - pad.right);
    const y = (count) => height - pad.bottom - (count / peak) * (height - pad.top - pad.bottom);
    const period = hours === 24 ? "the last 24 hours" : "the last 7 days";
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": "chart-summary" });
    const atMost = `at most ${most} ${most === 1 ? "listener" : "listeners"} at once`;
    chart.append(svg("title", { id: "chart-summary" }, `Listeners over ${period}: ${atMost}.`));
    for (const tick of new Set([0, Math.ceil(peak / 2), peak])) {
      chart.append(
        svg("line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: "grid" }),
        svg("text", { x: pad.left - 6, y: y(tick) + 4, "text-anchor": "end" }, String(tick)),
      );
    }
    const label = (time) => (hours === 24 ? clock(new Date(time).toISOString()) : new Date(time).toLocaleDateString(undefined, { weekday: "short" }));
    for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
      const time = start + fraction * (end - start);
      const anchor = fraction === 0 ? "start" : fraction === 1 ? "end" : "middle";
      chart.append(svg("text", { x: x(time), y: height - 8, "text-anchor": anchor }, label(time)));
    }
    if (points.length) {
      const line = points.map((p, i) => `${i ? "L" : "M"}${x(Date.parse(p.at)).toFixed(1)},${y(p.listeners).toFixed(1)}`).join(" ");
      const last = points[points.length - 1];
      const area = `${line} L${x(Date.parse(last.at)).toFixed(1)},${y(0)} L${x(Date.parse(points[0].at)).toFixed(1)},${y(0)} Z`;
      chart.append(svg("path", { d: area, class: "area" }), svg("path", { d: line, class: "line" }));
    }
    const caption = h("figcaption", {}, most ? `Over ${period}: ${atMost}.` : `No listeners over ${period}.`);
    $("#listener-chart").replaceChildren(chart, caption);
  }

  async function loadChart() {
    drawChart(await api("GET", `/api/listeners/history?hours=${chartHours}`), chartHours);
  }

  function trackTable(caption, rows) {
    const signed = (n) => (n > 0 ? `+${n}` : String(n));
    return h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, ["Track", "Plays", "Change", "Per play"].map((text) => h("th", { scope: "col" }, text)))),
      h(
        "tbody",
        {},
        rows.length
          ? rows.map((row) => h("tr", {}, h("td", {}, itemName(row)), h("td", {}, String(row.plays)), h("td", {}, signed(row.change)), h("td", {}, signed(Math.round(row.average_change * 10) / 10))))
          : h("tr", {}, h("td", { colspan: 4 }, "Nothing yet.")),
      ),
    );
  }

  async function loadTopTracks() {
    const box = $("#top-tracks");
    const tracks = await api("GET", "/api/listeners/tracks?days=7");
    box.replaceChildren(trackTable("Gained listeners", tracks.gainers), trackTable("Lost listeners", tracks.losers));
  }

  async function loadSessions() {
    const data = await api("GET", "/api/listeners/sessions?limit=50");
    const rows = data.sessions.map((s) =>
      h(
        "tr",
        {},
        h("td", {}, when(s.started_at)),
        h("td", {}, s.name || s.listener || `client ${s.client}`),
        h("td", { class: "agent" }, s.user_agent || "–"),
        h("td", {}, s.ended_at ? duration(s.seconds) : `${duration(s.seconds)} (listening)`),
        h("td", {}, bytes(s.bytes_sent)),
      ),
    );
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 5 }, "No sessions yet.")));
    $("#session-table tbody").replaceChildren(...rows);
  }

  function setUpListeners() {
    for (const choice of document.querySelectorAll("#listeners [data-hours]")) {
      choice.addEventListener("click", act(async () => {
        chartHours = Number(choice.dataset.hours);
        for (const other of document.querySelectorAll("#listeners [data-hours]")) {
          other.setAttribute("aria-pressed", String(other === choice));
        }
        await loadChart();
      }));
    }
    loaders.listeners = async () => {
      await Promise.all([loadChart(), loadTopTracks(), loadSessions()]);
    };
  }

  // --- Problems: faults the station lived through -----------------------------------------

  const PROBLEMS_EVERY_MS = 5000;

  function problemRow(problem) {
    const over = problem.cleared_at
      ? `cleared ${when(problem.cleared_at)}${problem.cleared ? ` (${problem.cleared})` : ""}`
      : "not over";
    const times = problem.count > 1 ? `, met ${problem.count} times` : "";
    return listRow(h("span", {},
      h("strong", {}, problem.what),
      h("span", { class: "detail" }, ` Cause: ${problem.cause}. Since ${when(problem.since)}${times}; ${over}.`)),
    [], { "data-key": problem.key, "data-state": problem.cleared_at ? "cleared" : "open" });
  }

  async function loadProblems() {
    const problems = await api("GET", "/api/station/problems");
    const badge = $("#problems-open");
    badge.textContent = problems.open ? `(${problems.open} open)` : "";
    badge.hidden = !problems.open;
    if (current === "problems") {
      fillList($("#problem-list"), problems.items.map(problemRow), "No problems since the station started.");
    }
  }

  function setUpProblems() {
    loaders.problems = loadProblems;
    act(loadProblems, { background: true })();
    setInterval(() => {
      if (document.visibilityState !== "visible") return;
      act(loadProblems, { background: true })();
    }, PROBLEMS_EVERY_MS);
  }

  // --- Shows: weekly slots, hosts, news and recording -------------------------------------

  const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

  function slotText(slot) {
    return `${WEEKDAYS[slot.weekday]} ${slot.start}–${slot.end}`;
  }

  function showRow(show) {
    const admin = pageData.admin === "true";
    const hosts = show.hosts.map((host) => host.display_name || host.username).join(", ") || "no hosts";
    const slots = show.slots.map((slot) => h("li", {},
      slotText(slot),
      admin ? [" ", button("Remove", async () => {
        await api("DELETE", `/api/shows/${show.id}/slots/${slot.id}`);
        say(`${show.name}: ${slotText(slot)} removed.`);
        await loadShows();
      }, { "aria-label": `Remove the slot ${slotText(slot)} of ${show.name}` })] : null));
    return listRow([
      h("span", { class: "title" }, show.name), " ",
      h("span", { class: "muted" }, `with ${hosts}`), " ",
      h("span", { class: "badge" }, show.interrupt_news ? "news on the hour" : "no news"), " ",
      show.record ? h("span", { class: "badge" }, "recorded") : null,
      show.description ? h("p", { class: "muted" }, show.description) : null,
      slots.length ? h("ul", { class: "slots", "aria-label": `Slots of ${show.name}` }, slots)
        : h("p", { class: "muted" }, "No slots yet."),
    ], admin ? [button("Delete", async () => {
      if (!window.confirm(`Delete the show ${show.name} and its slots?`)) return;
      await api("DELETE", `/api/shows/${show.id}`);
      say(`${show.name} deleted.`);
      await loadShows();
    }, { "aria-label": `Delete ${show.name}`, class: "danger" })] : [], { dataset: { show: show.name } });
  }

  async function loadShows() {
    const [shows, onAir] = await Promise.all([api("GET", "/api/shows"), api("GET", "/api/shows/on-air")]);
    $("#show-on-air").textContent = (onAir.show ? `${onAir.show.label}, until ${clock(onAir.show.ends)}.` : "No show is on now.")
      + (onAir.require_slot ? " Hosts may go live only in a slot of one of their shows." : " Hosts may go live any time.");
    fillList($("#show-list"), shows.map(showRow), "No shows yet.");
    const select = $("#slot-show");
    if (select) {
      const chosen = select.value;
      select.replaceChildren(...shows.map((show) => h("option", { value: String(show.id) }, show.name)));
      if (chosen) select.value = chosen;
    }
    const hostBoxes = $("#show-hosts");
    if (hostBoxes && !hostBoxes.querySelector("input")) {
      const hosts = await api("GET", "/api/hosts");
      hostBoxes.append(...hosts.map((host) => {
        const box = h("input", { type: "checkbox", name: "host_ids", value: String(host.id), id: `show-host-${host.id}` });
        return h("p", {}, box, " ", h("label", { for: box.id }, host.username));
      }));
    }
  }

  function setUpShows() {
    loaders.shows = loadShows;
    const form = $("#show-form");
    if (form) {
      form.addEventListener("submit", act(async () => {
        const fields = new FormData(form);
        const show = await api("POST", "/api/shows", {
          name: fields.get("name").trim(),
          description: fields.get("description"),
          host_ids: fields.getAll("host_ids").map(Number),
          interrupt_news: fields.get("interrupt_news") === "on",
          record: fields.get("record") === "on",
        });
        form.reset();
        say(`${show.name} created: add its weekly slots below.`);
        await loadShows();
        $("#slot-show").value = String(show.id);
      }));
    }
    const slotForm = $("#slot-form");
    if (slotForm) {
      slotForm.addEventListener("submit", act(async () => {
        const fields = new FormData(slotForm);
        const show = await api("POST", `/api/shows/${fields.get("show")}/slots`, {
          weekday: Number(fields.get("weekday")),
          start: fields.get("start"),
          minutes: Number(fields.get("minutes")),
        });
        say(`${show.name} now airs ${show.slots.map(slotText).join(", ")}.`);
        await loadShows();
      }));
    }
  }

  // --- Relays: pushes to Icecast servers --------------------------------------------------

  const RELAYS_EVERY_MS = 5000;

  function relayRow(relay) {
    const state = relay.connected ? `connected since ${when(relay.since)}` : `not connected since ${when(relay.since)}`;
    const error = relay.last_error ? ` Last error (${when(relay.last_error_at)}): ${relay.last_error}.` : "";
    return listRow(h("span", {},
      h("strong", {}, relay.name),
      h("span", { class: "detail" }, ` ${relay.mount} → ${relay.target}: ${state}; ${bytes(relay.bytes_sent)} sent, ${relay.reconnects} reconnects.${error}`)),
    [], { "data-name": relay.name, "data-state": relay.connected ? "connected" : "disconnected" });
  }

  async function loadRelays() {
    const relays = await api("GET", "/api/relays");
    fillList($("#relay-list"), relays.items.map(relayRow), "No relay outputs: set RADIO_RELAYS to push to Icecast servers.");
  }

  function setUpRelays() {
    loaders.relays = loadRelays;
    setInterval(() => {
      if (document.visibilityState !== "visible" || current !== "relays") return;
      act(loadRelays, { background: true })();
    }, RELAYS_EVERY_MS);
  }

  // --- Station: name, tagline, accent colour, public URL, logo ----------------------------

  const IDENTITY_FIELDS = { name: "#identity-name", tagline: "#identity-tagline", public_url: "#identity-public-url" };
  let identity = null;
  let identityEdits = null; // formEdits of the name, tagline, public URL and accent

  function showIdentity(shown, { saved = false } = {}) {
    identity = shown;
    if (saved) identityEdits.filled();
    for (const [field, selector] of Object.entries(IDENTITY_FIELDS)) {
      const input = $(selector);
      if (!identityEdits.edited) input.value = shown.stored.includes(field) ? shown[field] : "";
      input.placeholder = field === "public_url" ? shown.public_base : shown.defaults[field];
    }
    if (!identityEdits.edited) $("#identity-accent").value = shown.accent;
    const sample = $("#identity-accent-sample");
    sample.style.background = shown.accent;
    sample.style.color = shown.accent_text;
    const ink = shown.accent_text === "#ffffff" ? "white" : "black";
    $("#identity-accent-check").textContent =
      `Text on ${shown.accent} is ${ink}: contrast ${shown.accent_contrast.toFixed(1)}:1 (4.5:1 or more reads well). ` +
      "Links in the accent colour are darkened or lightened as far as the page's background needs.";
    const preview = $("#logo-preview");
    preview.hidden = !shown.logo_url;
    if (shown.logo_url) preview.src = shown.logo_url;
    else preview.removeAttribute("src");
    $("#logo-none").hidden = Boolean(shown.logo_url);
    $("#logo-remove").disabled = !shown.logo_url;
  }

  async function loadIdentity() {
    showIdentity(await api("GET", "/api/station/identity"));
  }

  async function sendLogo(file) {
    const response = await fetch("/api/station/identity/logo", {
      method: "PUT",
      credentials: "same-origin",
      headers: unsafeHeaders({ Accept: "application/json", "Content-Type": file.type || "application/octet-stream" }),
      body: file,
    });
    if (!response.ok) throw await errorOf(response);
    return response.json();
  }

  function setUpStation() {
    const form = $("#identity-form");
    identityEdits = formEdits(form);
    form.addEventListener("submit", act(async () => {
      const change = {};
      for (const [field, selector] of Object.entries(IDENTITY_FIELDS)) {
        const value = $(selector).value.trim();
        change[field] = value === "" ? null : value; // empty: the default
      }
      const accent = $("#identity-accent").value;
      if (!identity || accent !== identity.accent) change.accent = accent;
      showIdentity(await api("PATCH", "/api/station/identity", change), { saved: true });
      say("Saved: the pages, feeds and new stream connections show it now.");
    }));
    $("#identity-defaults").addEventListener("click", act(async () => {
      const defaults = { name: null, tagline: null, accent: null, public_url: null };
      showIdentity(await api("PATCH", "/api/station/identity", defaults), { saved: true });
      say("Back to the defaults from the settings.");
    }));
    const logoForm = $("#logo-form");
    logoForm.addEventListener("submit", act(async () => {
      const file = $("#logo-file").files[0];
      if (!file) throw new ApiError(0, "Choose a picture to upload.");
      showIdentity(await sendLogo(file));
      logoForm.reset();
      say(`${file.name} is the station's logo now.`);
    }));
    $("#logo-remove").addEventListener("click", act(async () => {
      showIdentity(await api("DELETE", "/api/station/identity/logo"));
      say("The logo is removed: the pages show the default icon.");
    }));
    loaders.station = loadIdentity;
  }

  // --- Hosts and tokens -------------------------------------------------------------------

  let hostNames = {};

  async function loadHosts() {
    if (pageData.admin !== "true") return;
    const hosts = await api("GET", "/api/hosts");
    hostNames = Object.fromEntries(hosts.map((host) => [host.id, host.username]));
    $("#host-list").replaceChildren(...hosts.map(hostRow));
  }

  function hostRow(host) {
    const other = host.role === "admin" ? "host" : "admin";
    const row = h("li", { class: "row" });
    const show = () =>
      row.replaceChildren(
        ...rowParts(
          [h("span", { class: "title" }, host.username), " ", h("span", { class: "badge" }, host.role), h("span", { class: "muted" }, ` since ${when(host.created_at)}`)],
          [
            button(`Make ${other}`, async () => {
              await api("PATCH", `/api/hosts/${host.id}`, { role: other });
              say(`${host.username} is now ${other === "admin" ? "an admin" : "a host"}.`);
              await loadHosts();
            }, { "aria-label": `Make ${host.username} ${other === "admin" ? "an admin" : "a host"}` }),
            button("Set password", setPassword, { "aria-label": `Set the password of ${host.username}` }),
            button("Remove", async () => {
              if (!window.confirm(`Remove the host ${host.username}?`)) return;
              await api("DELETE", `/api/hosts/${host.id}`);
              say(`${host.username} was removed.`);
              await loadHosts();
            }, { "aria-label": `Remove ${host.username}`, class: "danger" }),
          ],
        ),
      );
    const setPassword = () => {
      const own = host.username === pageData.host;
      const password = (name, autocomplete) => h("input", { type: "password", name, required: true, autocomplete });
      const fields = [
        own ? labelled("Current password", password("current_password", "current-password")) : null,
        labelled("New password", password("password", "new-password")), // the form names the host
      ];
      formInRow(row, show, `New password for ${host.username}`, fields, "Save password", async (form) => {
        await api("PUT", `/api/hosts/${host.id}/password`, Object.fromEntries(form));
        say(own ? "Your password is changed; your other sessions ended." : `The password of ${host.username} is changed; their other sessions ended.`);
      });
    };
    show();
    return row;
  }

  async function loadTokens() {
    const tokens = await api("GET", "/api/tokens");
    const rows = tokens.map((token) => {
      const owner = hostNames[token.host_id];
      const revoke = button("Revoke", async () => {
        await api("DELETE", `/api/tokens/${token.id}`);
        say(`The token ${token.name} no longer works.`);
        await loadTokens();
      }, { "aria-label": `Revoke the token ${token.name}`, class: "danger" });
      return listRow(
        [
          h("span", { class: "title" }, token.name),
          h("span", { class: "muted" }, ` ${token.prefix}… ${owner ? `of ${owner} ` : ""}· created ${when(token.created_at)} · last used ${when(token.last_used_at)}`),
          token.revoked_at ? h("span", { class: "badge rejected" }, " revoked") : null,
        ],
        [token.revoked_at ? null : revoke],
      );
    });
    fillList($("#token-list"), rows, "No tokens.");
  }

  // Your public profile: the name, bio and picture listeners see under your stories.
  let profileEdits = null; // formEdits of the name and bio

  function showProfile(profile, { saved = false } = {}) {
    if (saved) profileEdits.filled();
    if (!profileEdits.edited) {
      $("#profile-name").value = profile.display_name;
      $("#profile-bio").value = profile.bio;
    }
    const link = $("#profile-link");
    link.hidden = !profile.url;
    if (profile.url) link.href = profile.url;
    // The picture is public with the profile only: without a display name it is not served.
    const picture = $("#profile-picture");
    const shown = Boolean(profile.picture_url && profile.url);
    picture.hidden = !shown;
    $("#profile-picture-remove").hidden = !profile.picture_url;
    if (shown) picture.src = profile.picture_url;
    else picture.removeAttribute("src");
  }

  const askProfile = newestOnly();

  async function loadProfile() {
    const { view, latest } = await askProfile(() => api("GET", "/api/profile"));
    if (latest) showProfile(view);
  }

  function setUpProfile() {
    const form = $("#profile-form");
    profileEdits = formEdits(form);
    form.addEventListener("submit", act(async () => {
      const fields = Object.fromEntries(new FormData(form));
      const { view, latest } = await askProfile(() => api("PUT", "/api/profile", fields));
      if (latest) showProfile(view, { saved: true });
      say("Your profile is saved.");
    }));
    const pictureForm = $("#picture-form");
    pictureForm.addEventListener("submit", act(async () => {
      const file = $("#profile-picture-file").files[0];
      if (!file) return;
      // The image itself is the body; the station checks its bytes, not its name.
      const { view, latest } = await askProfile(async () => {
        const response = await fetch("/api/profile/picture", {
          method: "PUT", credentials: "same-origin", body: file,
          headers: unsafeHeaders({ Accept: "application/json", "Content-Type": file.type || "application/octet-stream" }),
        });
        if (!response.ok) throw await errorOf(response);
        return response.json();
      });
      if (latest) showProfile(view);
      pictureForm.reset();
      say("Your picture is saved.");
    }));
    $("#profile-picture-remove").addEventListener("click", act(async () => {
      const { view, latest } = await askProfile(() => api("DELETE", "/api/profile/picture"));
      if (latest) showProfile(view);
      say("Your picture is removed.");
    }));
  }

  function setUpAccounts() {
    setUpProfile();
    const hostForm = $("#host-form");
    if (hostForm) {
      hostForm.addEventListener("submit", act(async () => {
        const fields = new FormData(hostForm);
        const host = await api("POST", "/api/hosts", Object.fromEntries(fields));
        hostForm.reset();
        say(`${host.username} can sign in now.`);
        await loadHosts();
      }));
    }
    $("#token-form").addEventListener("submit", act(async () => {
      const issued = await api("POST", "/api/tokens", { name: $("#token-name").value.trim() });
      $("#token-form").reset();
      $("#new-token").hidden = false;
      const secret = $("#new-token-value");
      secret.value = issued.token;
      secret.focus();
      secret.select();
      say(`Token ${issued.name} created: copy it now, it is not shown again.`);
      await loadTokens();
    }));
    loaders.accounts = async () => {
      $("#new-token").hidden = true;
      $("#new-token-value").value = "";
      await loadProfile();
      await loadHosts();
      await loadTokens();
    };
  }

  // --- Start ------------------------------------------------------------------------------

  function start() {
    const signIn = $("#sign-in");
    if (signIn) {
      setUpSignIn(signIn);
      return;
    }
    $("#sign-out").addEventListener("submit", act(async () => {
      await api("DELETE", "/api/session");
      window.location.replace("/host");
    }));
    setUpQueue();
    setUpLibrary();
    setUpPlaylists();
    setUpNews();
    setUpShows();
    setUpListeners();
    setUpProblems();
    setUpStation();
    setUpRelays();
    setUpAccounts();
    window.addEventListener("hashchange", showSection);
    showSection();
    listenToNowPlaying();
  }

  start();
})();
