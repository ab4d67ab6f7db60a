// The player bar on every public page (and the embed): the <audio> element, what this listener
// hears (live from the push channel, or from the time-shift archive when they went back),
// previous / play-stop / next / live, skip votes, the top-listeners board, and in-site
// navigation that swaps <main id="content"> so the audio keeps playing. Every page is
// complete without this script; it makes it live.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const audio = $("audio");
  if (!audio) return;
  const bar = $("bar"); // null in the embed
  const playButton = $("play");
  const muteButton = $("mute");
  const volume = $("volume");
  const skipButton = $("skip");
  const previousButton = $("previous");
  const liveButton = $("live");
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
  const voteCooldown = Number(bar?.dataset.voteCooldown || 0);
  const voteListen = Number(bar?.dataset.voteListen || 0);
  const RETRY_MAX_SECONDS = 10;
  const STALL_SECONDS = 8; // waiting this long for data means the connection is gone
  const BOARD_REFRESH_MS = 60000;
  const FOLLOW_MS = 1000; // looks again at least this often while a change is due
  const STREAM_SPAN_SECONDS = 60; // a change due later than this is not this stream's
  const PREVIOUS_GRACE_MS = 5000; // "previous" this early in an item goes to the one before
  const LIVE_MARGIN_MS = 1500; // an `at` this close to now is the live stream
  const NAVIGABLE = new Set(["music", "news"]); // jingles play under their song's title

  let wanted = false; // the listener pressed play and has not pressed stop
  let shiftAt = null; // ms (station clock) the time-shifted stream began at; null: live
  let retries = 0;
  let retryTimer = 0;
  let stallTimer = 0;
  let shownKey = null; // started_at (or archive starts) of the item on screen
  let shown = null; // the item on screen
  let startedAt = 0; // client clock (s) when the item on screen passed the live point
  let duration = null;
  let latest = null; // the newest now-playing snapshot received
  let syncTag = ""; // names this page's live stream connection, to ask where its audio began
  let joinedAt = null; // where that audio began, in seconds of the stream (see stream_at)
  let followTimer = 0;
  let archive = null; // {oldest, items, skew, fetched}: GET /api/archive, times in ms
  let listeningSince = null; // client ms the current connection started playing
  let voteNote = null; // {key, text}: the answer to this listener's vote on an item
  let pausedForOther = false;

  const clock = (seconds) => {
    if (seconds == null || !isFinite(seconds)) return "–";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
  };
  // The station's refusals are phrases ("you voted a moment ago: …"); the page shows sentences.
  const sentence = (text) => {
    const t = String(text || "").trim();
    if (!t) return t;
    return t[0].toUpperCase() + t.slice(1) + (/[.!?…]$/.test(t) ? "" : ".");
  };
  const say = (text) => { $("player-status").textContent = text; };
  const setText = (id, text) => { const el = $(id); if (el) el.textContent = text || ""; };
  // The volume is remembered where the browser allows: in another site's iframe (the embed)
  // a browser that blocks third-party storage throws on any use of localStorage.
  const remembered = (key) => { try { return localStorage.getItem(key); } catch { return null; } };
  const remember = (key, value) => { try { localStorage.setItem(key, value); } catch { /* not kept */ } };
  const now = () => Date.now() / 1000;
  const stationNow = () => Date.now() + (archive ? archive.skew : 0);
  const hhmm = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

  // --- the time-shift archive --------------------------------------------------------------

  const loadArchive = async () => {
    const response = await fetch("/api/archive").catch(() => null);
    if (!response || !response.ok) return archive;
    const body = await response.json();
    const items = body.items.map((entry) => ({
      ...entry, starts: Date.parse(entry.starts), ends: entry.ends ? Date.parse(entry.ends) : null,
    }));
    archive = {
      oldest: body.oldest ? Date.parse(body.oldest) : null, items,
      skew: Date.parse(body.live) - Date.now(), fetched: Date.now(),
    };
    return archive;
  };
  // The items one can go back to, newest first (a jingle belongs to the song it follows).
  const navigable = () => (archive ? archive.items.filter((entry) => NAVIGABLE.has(entry.kind)) : []);
  const oldestNow = () => (archive && archive.oldest !== null
    ? archive.oldest + (Date.now() - archive.fetched) : null);

  // Where in the programme this listener is, in ms of the station's clock.
  const position = () => {
    if (shiftAt !== null) return shiftAt + audio.currentTime * 1000;
    const heard = heardAt();
    if (heard !== null && shown && shown.stream_at != null && shown.started_at) {
      return Date.parse(shown.started_at) + (heard - shown.stream_at) * 1000;
    }
    return stationNow();
  };
  const itemAt = (at) => navigable().find((entry) => entry.starts <= at + 250) || null;

  // --- the audio element -------------------------------------------------------------------

  // Where in the live stream the listener is, in seconds of the stream's audio: where this
  // connection's audio began plus the element's clock. null while not listening live.
  const heardAt = () => (wanted && shiftAt === null && joinedAt !== null
    ? joinedAt + audio.currentTime : null);

  const newTag = () => Array.from(crypto.getRandomValues(new Uint8Array(12)),
    (byte) => byte.toString(16).padStart(2, "0")).join("");

  // The station tells where the audio of this page's connection began (its burst). Asked
  // as the connection is opened (the station waits for it to arrive), so the answer is
  // there before the burst's audio plays even on a slow machine and the screen follows the
  // ear from the first second. Asked once per connection ("playing" asks only if the
  // opening did not).
  let locating = "";
  const locate = async (tag, attempt = 0) => {
    if (attempt === 0 && locating === tag) return;
    locating = tag;
    const response = await fetch(`/api/stream/joined/${tag}?wait=true`).catch(() => null);
    if (tag !== syncTag) return;
    if (response && response.ok) {
      joinedAt = (await response.json()).stream_seconds;
      follow();
    } else if (attempt < 3) {
      setTimeout(() => locate(tag, attempt + 1), 1000);
    } else {
      syncTag = ""; // the station cannot say: show the live point
      follow();
    }
  };

  // The live mount this browser plays best: Opus, then AAC (the highest bitrate of each),
  // else the default MP3 `/stream`, which every browser plays. Mounts are in data-mounts
  // (RADIO_MOUNTS); the time-shift archive (`?at=`) is on /stream alone.
  const liveMount = () => {
    let mounts = [];
    try { mounts = JSON.parse(audio.dataset.mounts || "[]"); } catch (error) { mounts = []; }
    for (const codec of ["opus", "aac"]) {
      const playable = mounts.filter((m) => m.codec === codec && audio.canPlayType(m.type) !== "")
        .sort((a, b) => b.kbps - a.kbps);
      if (playable.length) return playable[0].path;
    }
    return "/stream";
  };

  // The live stream: HLS where the browser says it plays it natively (Safari), else the
  // mount it plays best (liveMount). A browser that says so but fails before the first
  // "playing" (Chromium's own HLS takes MPEG-TS segments only, not packed audio) gets the
  // mount from then on.
  const HLS_URL = audio.dataset.hls || "";
  let hlsFailed = false;
  const onHls = () => HLS_URL !== "" && audio.getAttribute("src") === HLS_URL;
  const liveSource = () => {
    const hls = HLS_URL && !hlsFailed && audio.canPlayType("application/vnd.apple.mpegurl");
    syncTag = hls ? "" : newTag(); // HLS carries its own clock: no sync tag
    return hls ? HLS_URL : `${liveMount()}?sync=${syncTag}`;
  };
  const hlsUnplayable = () => {
    if (!onHls() || listeningSince !== null) return false;
    hlsFailed = true;
    connect();
    return true;
  };

  const connect = () => {
    clearTimeout(retryTimer);
    clearTimeout(stallTimer);
    listeningSince = null;
    joinedAt = null;
    if (shiftAt !== null) {
      syncTag = "";
      audio.src = `/stream?at=${encodeURIComponent(new Date(shiftAt).toISOString())}`;
    } else {
      // A fresh request each time: a radio resumes at the live point, never where it paused.
      audio.src = liveSource();
      if (syncTag) locate(syncTag);
    }
    audio.play().catch((error) => {
      if (error.name === "NotAllowedError") {
        halt();
        say(shiftAt !== null ? `Press play to listen from ${hhmm(shiftAt)}.` : "Press play to listen.");
      }
    });
  };

  const start = () => {
    wanted = true;
    pausedForOther = false;
    $("resume-offer") && ($("resume-offer").hidden = true);
    retries = 0;
    say("Connecting…");
    connect();
    render();
  };

  // Stops the audio and closes the connection; keeps shiftAt (a pending `?at=` start).
  const halt = () => {
    wanted = false;
    clearTimeout(retryTimer);
    clearTimeout(stallTimer);
    audio.pause();
    audio.removeAttribute("src");
    audio.load(); // closes the stream connection
    syncTag = "";
    joinedAt = null;
    listeningSince = null;
    render();
  };

  const stop = () => {
    shiftAt = null; // the next play is live, as on a radio
    halt();
    say("Stopped.");
    follow();
    setTimeout(loadBoard, 1500); // the session just ended may now count
  };

  // Plays the programme from `when` (ISO time or ms of the station's clock), time-shifted;
  // at or after now it is the live stream. Older than the archive: says so, plays nothing new.
  const listenFrom = async (when) => {
    let at = typeof when === "number" ? when : Date.parse(when);
    if (!isFinite(at)) return;
    await loadArchive();
    const oldest = oldestNow();
    if (at >= stationNow() - LIVE_MARGIN_MS) { live(); return; }
    if (oldest === null || at < oldest - 1000) {
      say(oldest === null ? "Nothing is kept to go back to yet."
        : `The station keeps the programme from ${hhmm(oldest)} on only.`);
      return;
    }
    shiftAt = Math.max(at, oldest);
    start();
    showHeard();
  };

  const live = () => {
    shiftAt = null;
    start();
    follow();
  };

  const reconnectSoon = (why) => {
    if (!wanted) return;
    clearTimeout(retryTimer);
    clearTimeout(stallTimer);
    const wait = Math.min(2 ** retries, RETRY_MAX_SECONDS);
    retries += 1;
    if (shiftAt !== null) shiftAt = position(); // go on from what was heard last
    say(`${why} Reconnecting in ${wait} s…`);
    retryTimer = setTimeout(connect, wait * 1000);
  };

  const playingText = () => {
    if (shiftAt === null) return "Playing live.";
    const behind = Math.max(0, Math.round((stationNow() - position()) / 1000));
    const m = Math.floor(behind / 60);
    return `Playing from ${hhmm(shiftAt)}, ${m ? `${m} min ` : ""}${behind % 60} s behind live.`;
  };

  audio.addEventListener("playing", () => {
    clearTimeout(stallTimer);
    retries = 0;
    listeningSince = Date.now();
    if (joinedAt === null && syncTag) locate(syncTag);
    say(playingText());
    render();
    setTimeout(loadBoard, 1000); // this browser now counts among the listeners
  });
  audio.addEventListener("waiting", () => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => reconnectSoon("The stream stalled."), STALL_SECONDS * 1000);
  });
  audio.addEventListener("error", () => {
    if (audio.getAttribute("src") && !hlsUnplayable()) reconnectSoon("The stream dropped.");
  });
  audio.addEventListener("ended", () => reconnectSoon("The stream ended."));
  window.addEventListener("online", () => { if (wanted) connect(); });

  playButton.addEventListener("click", () => (wanted ? stop() : start()));
  muteButton.addEventListener("click", () => {
    audio.muted = !audio.muted;
    remember("radio.muted", audio.muted ? "1" : "");
    render();
  });
  volume.addEventListener("input", () => {
    audio.volume = Number(volume.value);
    remember("radio.volume", volume.value);
  });

  // --- previous / next / live ----------------------------------------------------------------

  const previous = async () => {
    await loadArchive();
    const at = position();
    const items = navigable();
    const here = itemAt(at);
    if (!here) { say("Nothing is kept to go back to yet."); return; }
    let target = here;
    if (at - here.starts < PREVIOUS_GRACE_MS) {
      target = items[items.indexOf(here) + 1] || here; // pressed again: the item before
    }
    const oldest = oldestNow();
    await listenFrom(oldest !== null ? Math.max(target.starts, oldest) : target.starts);
  };

  const next = async () => {
    if (shiftAt === null) { skip(); return; }
    await loadArchive();
    const items = navigable();
    const here = itemAt(position());
    const after = here ? items[items.indexOf(here) - 1] : null;
    if (after) listenFrom(after.starts); else live();
  };

  if (previousButton) previousButton.addEventListener("click", previous);
  if (liveButton) liveButton.addEventListener("click", live);
  if (skipButton) skipButton.addEventListener("click", next);

  // --- now playing -------------------------------------------------------------------------

  const showItem = (current, receivedAt) => {
    shown = current;
    shownKey = current ? current.started_at : null;
    startedAt = receivedAt - (current ? current.elapsed || 0 : 0);
    duration = current ? current.duration : null;
    const title = current ? current.title : (latest ? "Starting up…" : document.title);
    for (const [id, value] of [["now-title", title], ["hero-title", title],
      ["now-artist", current ? current.artist : ""], ["hero-artist", current ? current.artist : ""],
      ["now-album", current ? current.album : ""], ["hero-album", current ? current.album : ""]]) {
      setText(id, value);
    }
    const story = $("now-story");
    if (story) {
      story.hidden = !(current && current.url);
      if (current && current.url) $("now-story-link").href = current.url;
    }
    const coverUrl = (current && current.cover) || "/static/favicon.svg";
    for (const id of ["cover", "hero-cover"]) {
      const cover = $(id);
      if (cover && cover.getAttribute("src") !== coverUrl) cover.src = coverUrl;
    }
    mediaSession(current, coverUrl);
    tick();
  };

  // An archived item, in the shape of now-playing's items.
  const fromArchive = (entry) => {
    const onAir = latest && latest.current;
    const same = onAir && Math.abs(Date.parse(onAir.started_at) - entry.starts) < 3000;
    return {
      ...(same ? onAir : {}),
      title: entry.title, artist: entry.artist, cover: entry.cover, kind: entry.kind,
      display_title: entry.artist ? `${entry.artist} - ${entry.title}` : entry.title,
      started_at: new Date(entry.starts).toISOString(), startsMs: entry.starts,
      duration: entry.ends ? (entry.ends - entry.starts) / 1000 : (same ? onAir.duration : null),
      url: same ? onAir.url : null,
    };
  };

  const listItem = (entry) => {
    const li = document.createElement("li");
    const img = document.createElement("img");
    img.src = entry.cover || "/static/favicon.svg";
    img.alt = ""; img.width = 40; img.height = 40;
    const what = document.createElement("span");
    what.className = "what";
    if (entry.url) {
      const a = document.createElement("a");
      a.href = entry.url;
      a.textContent = entry.display_title;
      what.append(a);
    } else {
      what.textContent = entry.display_title;
    }
    li.append(img, what);
    const at = entry.startsMs ?? Date.parse(entry.started_at);
    const oldest = oldestNow();
    if (oldest !== null && at >= oldest - 1000) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "listen-from";
      button.textContent = "Listen";
      button.setAttribute("aria-label", `Listen to ${entry.display_title} from its start`);
      button.addEventListener("click", () => listenFrom(at));
      li.append(button);
    }
    return li;
  };

  // Up next and recently played, as seen from what this listener hears.
  const showLists = () => {
    const recent = $("recent");
    const nextLine = $("next");
    if (!recent && !nextLine) return;
    let before;
    let after;
    if (shiftAt !== null && archive) {
      const items = navigable();
      const here = items.findIndex((entry) => entry.starts <= position() + 250);
      before = items.slice(here + 1, here + 11).map(fromArchive);
      after = here > 0 ? fromArchive(items[here - 1]) : latest && latest.current;
    } else if (latest) {
      const aired = [latest.current, ...latest.history];
      const at = aired.findIndex((entry) => entry && entry.started_at === shownKey);
      after = at > 0 ? aired[at - 1] : latest.next;
      before = latest.history.slice(Math.max(at, 0));
    } else {
      return;
    }
    if (nextLine) {
      setText("next", after ? after.display_title
        + (after.requested_by ? ` · requested by ${after.requested_by}` : "") : "—");
    }
    if (recent) {
      const rows = before.map(listItem);
      if (!rows.length) { const li = document.createElement("li"); li.textContent = "Nothing yet."; rows.push(li); }
      recent.replaceChildren(...rows);
    }
  };

  const tick = () => {
    const progress = $("now-progress");
    let elapsed;
    if (shiftAt !== null && shown && shown.startsMs != null) {
      elapsed = (position() - shown.startsMs) / 1000;
    } else {
      const heard = heardAt();
      elapsed = heard !== null && shown && shown.stream_at != null
        ? heard - shown.stream_at : now() - startedAt;
    }
    const shownElapsed = duration ? Math.min(Math.max(elapsed, 0), duration) : Math.max(elapsed, 0);
    progress.max = duration || 1;
    progress.value = duration ? shownElapsed : 0;
    setText("now-elapsed", clock(shownElapsed));
    setText("now-duration", clock(duration));
    if (wanted && shiftAt !== null && !audio.paused) {
      say(playingText());
      if (shown && shown.startsMs != null && duration && elapsed > duration) showHeard();
    }
  };

  // Time-shifted: the archived item at this listener's place in the programme.
  let heardTimer = 0;
  const showHeard = () => {
    clearTimeout(heardTimer);
    if (shiftAt === null || !archive) return;
    const entry = itemAt(position());
    const item = entry ? fromArchive(entry) : null;
    if ((item && item.started_at) !== shownKey) {
      showItem(item, now());
      showLists();
      render();
    }
    heardTimer = setTimeout(showHeard, FOLLOW_MS);
  };

  // Live: an item reaches the push channel when its first audio reaches the live point,
  // stamped with where it is in the stream (stream_at); this listener hears it when their own
  // place in the stream gets there. So the screen shows the newest item at or before the
  // place they hear, and looks again when the next one is due.
  const follow = () => {
    clearTimeout(followTimer);
    if (shiftAt !== null) { showHeard(); return; }
    if (!latest) return;
    const heard = heardAt();
    // Connecting: keep what the listener heard last until their audio resumes (also while an
    // HLS attempt has not played yet: it may fall back to a mount, which is behind live).
    const connecting = syncTag || (onHls() && listeningSince === null);
    if (heard === null && wanted && connecting && shownKey !== null) return;
    let showing = latest.current;
    if (heard !== null) {
      const aired = [latest.current, ...latest.history].filter((e) => e && e.stream_at != null);
      const due = aired.filter((entry) => entry.stream_at > heard);
      const wait = due.length ? due[due.length - 1].stream_at - heard : 0;
      if (wait < STREAM_SPAN_SECONDS) { // else out of step (the station restarted): live
        const heardItem = aired.find((entry) => entry.stream_at <= heard);
        if (heardItem) showing = heardItem;
        else if (due.length && shown) showing = shown; // began before anything stamped
        if (due.length) followTimer = setTimeout(follow, Math.min(wait * 1000, FOLLOW_MS) + 1);
      }
    }
    const key = showing ? showing.started_at : null;
    if (key !== shownKey) { showItem(showing, latest.receivedAt); showLists(); render(); }
  };

  const receive = (snapshot) => {
    snapshot.receivedAt = now();
    const changed = !latest || !snapshot.current || !latest.current
      || snapshot.current.started_at !== latest.current.started_at;
    latest = snapshot;
    setText("listeners-now", String(snapshot.listeners));
    // The show whose slot is on: "On air: Morning Show with Ann".
    for (const id of ["hero-show", "now-show"]) {
      const line = $(id);
      if (line) { line.textContent = snapshot.show ? snapshot.show.label : ""; line.hidden = !snapshot.show; }
    }
    if (shiftAt !== null) {
      if (changed) loadArchive().then(() => { showHeard(); showLists(); });
    } else {
      follow();
      showLists();
      if (shown && snapshot.current && shown.started_at === snapshot.current.started_at) {
        shown = snapshot.current;
      }
    }
    render();
  };

  const events = new EventSource("/api/now-playing/events");
  events.addEventListener("now-playing", (event) => receive(JSON.parse(event.data)));

  // --- skip votes --------------------------------------------------------------------------

  const votes = () => (latest && latest.skip) || null;
  const onAirKey = () => (latest && latest.current ? latest.current.started_at : null);
  const cooldownLeft = () => Math.ceil((Number(remembered("radio.voteUntil") || 0) - Date.now()) / 1000);
  // The station counts a vote once the connection has received voteListen s of audio.
  const listenLeft = () => {
    if (voteListen <= 0) return 0;
    if (listeningSince === null) return Math.ceil(voteListen);
    return Math.ceil(voteListen + 1 - (Date.now() - listeningSince) / 1000);
  };

  const skip = async () => {
    if (!skipButton || skipButton.disabled) return;
    skipButton.disabled = true;
    const key = onAirKey();
    const title = latest && latest.current ? latest.current.title : "this";
    const headers = csrf ? { "X-CSRF-Token": csrf } : {};
    const response = await fetch("/api/skip", { method: "POST", headers });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      voteNote = { key, text: typeof body.detail === "string" ? sentence(body.detail) : "The skip did not go through." };
    } else {
      if (!csrf) remember("radio.voteUntil", String(Date.now() + voteCooldown * 1000 + 500));
      if (body.skipped) {
        voteNote = { key, text: csrf ? `You skipped “${title}”.` : `Your vote skipped “${title}”.`, skipped: true };
      } else {
        voteNote = { key, text: `Your vote counts: ${body.votes} of ${body.needed} votes to skip “${title}”.`, voted: true };
        if (latest) latest.skip = { ...(latest.skip || {}), votes: body.votes, needed: body.needed };
      }
    }
    render();
  };

  // --- the state of the controls -----------------------------------------------------------

  let renderTimer = 0;
  const render = () => {
    clearTimeout(renderTimer);
    const playing = wanted;
    setText("play-label", playing ? "Stop" : "Play");
    playButton.classList.toggle("playing", playing);
    playButton.setAttribute("aria-pressed", String(playing));
    setText("mute-label", audio.muted ? "Unmute" : "Mute");
    muteButton.setAttribute("aria-pressed", String(audio.muted));
    muteButton.classList.toggle("muted", audio.muted);
    if (bar) bar.classList.toggle("shifted", shiftAt !== null);
    setText("bar-mode", shiftAt !== null ? `Heard from ${hhmm(shiftAt)}` : (playing ? "Live" : "On air"));
    if (liveButton) {
      liveButton.disabled = shiftAt === null;
      liveButton.setAttribute("aria-pressed", String(shiftAt === null));
      liveButton.title = shiftAt === null ? "You are at the live point" : "Back to the live point";
    }
    if (previousButton) previousButton.disabled = false;
    if (!skipButton) return;
    const line = $("skip-votes");
    const state = votes();
    const key = onAirKey();
    if (shiftAt !== null) {
      setText("skip-label", "Next item");
      skipButton.title = "The next item (or back to live)";
      skipButton.disabled = false;
      line.textContent = "";
      return;
    }
    skipButton.title = csrf ? "Skip what is on air now" : "Vote to skip what is on air";
    if (csrf) {
      setText("skip-label", "Skip now");
      skipButton.disabled = false;
      line.textContent = voteNote && voteNote.key === shownKey ? voteNote.text
        : state && state.votable ? `${state.votes} of ${state.needed} votes to skip` : "";
      return;
    }
    setText("skip-label", "Vote to skip");
    const votable = Boolean(state && state.votable);
    let why = "";
    // The answer to a vote stays with the item it was about, while the listener hears it.
    if (voteNote && (voteNote.key === key || voteNote.key === shownKey)) why = voteNote.text;
    else if (!state) why = "";
    else if (!votable) why = latest.current && latest.current.kind === "news"
      ? "News can't be skipped by vote." : "What is on air now can't be skipped by vote.";
    else if (!playing || audio.paused) why = ""; // nothing to vote with: no noise either
    else if (cooldownLeft() > 0) {
      why = `You voted a moment ago: you can vote again in ${cooldownLeft()} s.`;
      renderTimer = setTimeout(render, 1000);
    } else if (listenLeft() > 0) {
      why = `You can vote to skip in ${listenLeft()} s.`;
      renderTimer = setTimeout(render, 1000);
    } else why = `${state.votes} of ${state.needed} votes to skip.`;
    line.textContent = why;
    const voted = voteNote && voteNote.key === key;
    skipButton.disabled = !(votable && playing && !audio.paused && !voted
      && cooldownLeft() <= 0 && listenLeft() <= 0);
  };

  // --- lock screen and headset buttons -----------------------------------------------------

  const mediaSession = (current, coverUrl) => {
    if (!("mediaSession" in navigator) || !current) return;
    navigator.mediaSession.metadata = new MediaMetadata({
      title: current.title,
      artist: current.artist || document.title,
      album: current.album || "",
      artwork: [{ src: new URL(coverUrl, location.href).href }],
    });
  };
  if ("mediaSession" in navigator) {
    const handlers = { play: start, pause: stop, stop: stop,
      nexttrack: () => skipButton && !skipButton.disabled && next(),
      previoustrack: () => previousButton && previous() };
    for (const [action, handler] of Object.entries(handlers)) {
      try { navigator.mediaSession.setActionHandler(action, handler); } catch { /* unsupported here */ }
    }
  }

  // --- the top-listeners board -------------------------------------------------------------

  const listenedText = (seconds) => {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    if (h) return `${h} h ${m} min`;
    return m ? `${m} min` : "under a minute";
  };

  const boardList = (id, entries) => {
    const list = $(id);
    if (!list) return;
    const rows = entries.map((entry) => {
      const li = document.createElement("li");
      li.value = entry.rank;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = entry.name;
      const time = document.createElement("span");
      time.className = "time";
      time.textContent = listenedText(entry.seconds);
      li.append(who, " ", time);
      return li;
    });
    if (!rows.length) {
      const li = document.createElement("li");
      li.className = "nobody";
      li.textContent = "No one yet: listen for a while and pick a name.";
      rows.push(li);
    }
    list.replaceChildren(...rows);
  };

  const showBoard = (board) => {
    setText("listeners-now", String(board.listeners_now));
    boardList("board-week", board.week);
    boardList("board-all", board.all_time);
    const you = board.you;
    const leave = $("leave-board");
    if (leave) leave.hidden = !(you && you.on_board);
    const input = $("display-name");
    if (input && you && you.name && document.activeElement !== input) input.value = you.name;
    let rank = "";
    if (you && you.week_rank) rank = `You are #${you.week_rank} this week`;
    else if (you && you.seconds) rank = `You have listened ${listenedText(you.seconds)}`;
    if (you && you.week_rank && you.all_time_rank) rank += `, #${you.all_time_rank} of all time`;
    if (rank && !(you && you.on_board)) rank += " (pick a name to appear on the board)";
    setText("your-rank", rank ? rank + "." : "");
  };

  async function loadBoard() {
    if (!$("board")) return;
    const response = await fetch("/api/listeners/board").catch(() => null);
    if (response && response.ok) showBoard(await response.json());
  }

  const boardSay = (text) => setText("board-status", text);
  // The page's own parts (inside <main>): bound on load and after each in-site navigation.
  const bindPage = () => {
    const nameForm = $("name-form");
    if (nameForm && !nameForm.dataset.bound) {
      nameForm.dataset.bound = "yes";
      nameForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        const name = $("display-name").value;
        const response = await fetch("/api/listeners/me/name", {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name }),
        });
        const body = await response.json().catch(() => ({}));
        boardSay(response.ok ? `You are on the board as ${body.name || name}.`
          : sentence(body.detail || "That name cannot be used."));
        loadBoard();
      });
      $("leave-board").addEventListener("click", async () => {
        await fetch("/api/listeners/me/name", { method: "DELETE" });
        boardSay("You have left the board.");
        loadBoard();
      });
    }
    // The page was rendered with the live point: show what this listener hears instead.
    if (latest) showItem(shown, startedAt + ((shown && shown.elapsed) || 0));
    showLists();
    loadBoard();
  };

  // --- in-site navigation: the page changes, the audio goes on ------------------------------

  const OTHER_THINGS = /^\/(stream|listen\.|api\/|static\/|covers\/|host|docs|embed|openapi|metrics|healthz|readyz|status-json)|\.(mp3|xml|m3u|pls|json|svg|png|jpe?g|csv)$/;
  const inSite = (url) => url.origin === location.origin && !OTHER_THINGS.test(url.pathname);

  const swap = async (url, init, push) => {
    let response;
    try {
      response = await fetch(url, { ...init, headers: { Accept: "text/html" } });
    } catch {
      location.href = url; return;
    }
    const type = response.headers.get("content-type") || "";
    if (!type.startsWith("text/html")) { location.href = response.url || url; return; }
    const html = await response.text();
    const doc = new DOMParser().parseFromString(html, "text/html");
    const main = doc.getElementById("content");
    if (!main || !doc.getElementById("bar")) { location.href = response.url || url; return; }
    document.getElementById("content").replaceWith(document.adoptNode(main));
    document.title = doc.title;
    for (const selector of ['meta[name="description"]', 'link[rel="canonical"]']) {
      document.querySelectorAll(`head ${selector}`).forEach((el) => el.remove());
      doc.querySelectorAll(`head ${selector}`).forEach((el) => document.head.append(document.adoptNode(el)));
    }
    document.querySelectorAll('head meta[property^="og:"], head meta[property^="article:"], head script[type="application/ld+json"]')
      .forEach((el) => el.remove());
    doc.querySelectorAll('head meta[property^="og:"], head meta[property^="article:"], head script[type="application/ld+json"]')
      .forEach((el) => document.head.append(document.adoptNode(el)));
    // The header's "you are here".
    const nav = doc.querySelector("header.site nav");
    const here = document.querySelector("header.site nav");
    if (nav && here) here.replaceWith(document.adoptNode(nav));
    // Stylesheets and scripts a page brings along that this document does not have yet.
    for (const link of doc.querySelectorAll('head link[rel="stylesheet"]')) {
      if (!document.querySelector(`head link[rel="stylesheet"][href="${link.getAttribute("href")}"]`)) {
        document.head.append(document.adoptNode(link));
      }
    }
    for (const script of doc.querySelectorAll("script[src]")) {
      const src = script.getAttribute("src");
      if (!document.querySelector(`script[src="${src}"]`)) {
        const fresh = document.createElement("script");
        fresh.src = src;
        fresh.defer = true;
        document.head.append(fresh);
      }
    }
    const finalUrl = response.url || String(url);
    const target = new URL(finalUrl);
    target.hash = new URL(url, location.href).hash;
    if (push) history.pushState({ radio: true }, "", target);
    else if (push === null) history.replaceState({ radio: true }, "", target);
    if (target.hash) document.getElementById(decodeURIComponent(target.hash.slice(1)))?.scrollIntoView();
    else if (push !== false) window.scrollTo(0, 0);
    const heading = document.querySelector("#content h1");
    if (heading && push !== false) { heading.setAttribute("tabindex", "-1"); heading.focus({ preventScroll: true }); }
    bindPage();
    document.dispatchEvent(new CustomEvent("radio:navigated", { detail: { url: String(target) } }));
  };

  if (bar) {
    history.replaceState({ radio: true }, "", location.href);
    document.addEventListener("click", (event) => {
      if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey
        || event.shiftKey || event.altKey) return;
      const link = event.target.closest && event.target.closest("a[href]");
      if (!link || link.target || link.hasAttribute("download")) return;
      const url = new URL(link.href, location.href);
      if (!inSite(url)) return;
      if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
      event.preventDefault();
      // "Listen from here" (/?at=<time>): the bar goes there, and the page to the player.
      const at = url.pathname === "/" && url.searchParams.get("at");
      if (at) listenFrom(at);
      swap(url, {}, true);
    });
    // Forms: a GET form (a search) always; a POST form (a rating, a comment) while the
    // radio plays, so sending it does not stop the audio. Otherwise the browser's own way.
    document.addEventListener("submit", (event) => {
      const form = event.target;
      if (event.defaultPrevented || !(form instanceof HTMLFormElement) || form.target) return;
      const url = new URL(form.action, location.href);
      if (!inSite(url)) return;
      const method = (form.method || "get").toLowerCase();
      const data = new URLSearchParams(new FormData(form, event.submitter));
      if (method === "get") {
        event.preventDefault();
        url.search = data.toString();
        swap(url, {}, true);
      } else if (method === "post" && wanted) {
        event.preventDefault();
        swap(url, { method: "POST", body: data }, true);
      }
    });
    window.addEventListener("popstate", (event) => {
      if (event.state && event.state.radio) swap(new URL(location.href), {}, false);
    });
  }

  // --- for other scripts on the page ---------------------------------------------------------

  window.radioBar = {
    play: () => { if (!wanted) start(); },
    stop: () => { if (wanted) stop(); },
    listenFrom,
    live,
    // Another audio element starts (a story read aloud): stop the stream, remember it played.
    pauseForOther: () => {
      if (!wanted) return;
      pausedForOther = true;
      shiftAt = null;
      halt();
      say("Paused while the other audio plays.");
    },
    // The other audio is over: offer to go back to the live radio, if it was playing.
    resumeOffer: () => {
      const offer = $("resume-offer");
      if (!pausedForOther || !offer) return;
      offer.hidden = false;
      say("");
    },
  };
  $("resume")?.addEventListener("click", live);

  // --- start -------------------------------------------------------------------------------

  const savedVolume = remembered("radio.volume");
  if (savedVolume !== null) { volume.value = savedVolume; audio.volume = Number(savedVolume); }
  audio.muted = Boolean(remembered("radio.muted"));
  for (const control of [playButton, muteButton, volume]) control.disabled = false;
  render();
  setInterval(tick, 1000);
  bindPage();
  setInterval(loadBoard, BOARD_REFRESH_MS);
  // A link to /?at=<time> starts the programme from then (a "listen from here" link).
  const startAt = new URLSearchParams(location.search).get("at");
  if (bar && startAt) listenFrom(startAt);
  else if (bar) loadArchive().then(showLists);
})();
