// The web player: the live <audio> element, now playing from the push channel, skip votes
// and the top-listeners board. The page is complete without this script; it makes it live.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const audio = $("audio");
  const playButton = $("play");
  const muteButton = $("mute");
  const volume = $("volume");
  const skipButton = $("skip");
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
  const RETRY_MAX_SECONDS = 10;
  const STALL_SECONDS = 8; // waiting this long for data means the connection is gone
  const BOARD_REFRESH_MS = 60000;
  const FOLLOW_MS = 1000; // looks again at least this often while a change is due
  const STREAM_SPAN_SECONDS = 60; // a change due later than this is not this stream's

  let wanted = false; // the listener pressed play and has not pressed stop
  let retries = 0;
  let retryTimer = 0;
  let stallTimer = 0;
  let shownKey = null; // started_at of the item on screen
  let shown = null; // the item on screen, as the push described it
  let startedAt = 0; // client clock (s) when the item on screen passed the live point
  let duration = null;
  let votedFor = null;
  let latest = null; // the newest snapshot received
  let syncTag = ""; // names this page's stream connection, to ask where its audio began
  let joinedAt = null; // where that audio began, in seconds of the stream (see stream_at)
  let followTimer = 0;

  const clock = (seconds) => {
    if (seconds == null || !isFinite(seconds)) return "–";
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
  };
  const say = (text) => { $("player-status").textContent = text; };
  // The volume is remembered where the browser allows: in another site's iframe (the embed)
  // a browser that blocks third-party storage throws on any use of localStorage.
  const remembered = (key) => { try { return localStorage.getItem(key); } catch { return null; } };
  const remember = (key, value) => { try { localStorage.setItem(key, value); } catch { /* not kept */ } };
  const now = () => Date.now() / 1000;

  // --- the audio element -------------------------------------------------------------------

  // Where in the stream the listener is, in seconds of the stream's audio: where this
  // connection's audio began plus the element's clock, which counts the audio played out.
  // null while not listening, or not yet known.
  const heardAt = () => (wanted && joinedAt !== null ? joinedAt + audio.currentTime : null);

  const newTag = () => Array.from(crypto.getRandomValues(new Uint8Array(12)),
    (byte) => byte.toString(16).padStart(2, "0")).join("");

  // The station tells where the audio of this page's connection began (its burst).
  const locate = async (tag, attempt = 0) => {
    const response = await fetch(`/api/stream/joined/${tag}`).catch(() => null);
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

  const connect = () => {
    clearTimeout(retryTimer);
    clearTimeout(stallTimer);
    // A fresh request each time: a radio resumes at the live point, never where it paused.
    syncTag = newTag();
    joinedAt = null;
    audio.src = `/stream?sync=${syncTag}`;
    audio.play().catch((error) => {
      if (error.name === "NotAllowedError") { stop(); say("Press play to listen."); }
    });
  };

  const start = () => {
    wanted = true;
    retries = 0;
    say("Connecting…");
    connect();
    render();
  };

  const stop = () => {
    wanted = false;
    clearTimeout(retryTimer);
    clearTimeout(stallTimer);
    audio.pause();
    audio.removeAttribute("src");
    audio.load(); // closes the stream connection
    syncTag = "";
    joinedAt = null;
    say("Stopped.");
    follow();
    render();
    setTimeout(loadBoard, 1500); // the session just ended may now count
  };

  const reconnectSoon = (why) => {
    if (!wanted) return;
    clearTimeout(retryTimer);
    clearTimeout(stallTimer);
    const wait = Math.min(2 ** retries, RETRY_MAX_SECONDS);
    retries += 1;
    say(`${why} Reconnecting in ${wait} s…`);
    retryTimer = setTimeout(connect, wait * 1000);
  };

  audio.addEventListener("playing", () => {
    clearTimeout(stallTimer);
    retries = 0;
    if (joinedAt === null && syncTag) locate(syncTag);
    say("Playing live.");
    render();
    setTimeout(loadBoard, 1000); // this browser now counts among the listeners
  });
  audio.addEventListener("waiting", () => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => reconnectSoon("The stream stalled."), STALL_SECONDS * 1000);
  });
  audio.addEventListener("error", () => { if (audio.getAttribute("src")) reconnectSoon("The stream dropped."); });
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

  // --- now playing -------------------------------------------------------------------------

  const setText = (id, text) => { const el = $(id); if (el) el.textContent = text || ""; };

  const showItem = (current, snapshot) => {
    shown = current;
    shownKey = current ? current.started_at : null;
    startedAt = snapshot.receivedAt - (current ? current.elapsed || 0 : 0);
    duration = current ? current.duration : null;
    setText("now-title", current ? current.title : "Starting up…");
    setText("now-artist", current ? current.artist : "");
    setText("now-album", current ? current.album : "");
    const story = $("now-story");
    if (story) {
      story.hidden = !(current && current.url);
      if (current && current.url) $("now-story-link").href = current.url;
    }
    const cover = $("cover");
    const coverUrl = (current && current.cover) || "/static/favicon.svg";
    if (cover.getAttribute("src") !== coverUrl) cover.src = coverUrl;
    mediaSession(current, coverUrl);
    tick();
  };

  const item = (entry) => {
    const li = document.createElement("li");
    if (entry.url) {
      const a = document.createElement("a");
      a.href = entry.url;
      a.textContent = entry.display_title;
      li.append(a);
    } else {
      li.textContent = entry.display_title;
    }
    return li;
  };

  // Up next and recently played, as seen from the item on screen: while the listener still
  // hears an item the live point has left, what followed it is next.
  const showLists = (snapshot) => {
    const aired = [snapshot.current, ...snapshot.history];
    const at = aired.findIndex((entry) => entry && entry.started_at === shownKey);
    const next = at > 0 ? aired[at - 1] : snapshot.next;
    if ($("next")) setText("next", next ? next.display_title : "—");
    const recent = $("recent");
    if (recent) recent.replaceChildren(...snapshot.history.slice(Math.max(at, 0)).map(item));
  };

  const tick = () => {
    const progress = $("now-progress");
    const heard = heardAt();
    const elapsed = heard !== null && shown && shown.stream_at != null
      ? heard - shown.stream_at : now() - startedAt;
    const shownElapsed = duration ? Math.min(Math.max(elapsed, 0), duration) : Math.max(elapsed, 0);
    progress.max = duration || 1;
    progress.value = duration ? shownElapsed : 0;
    setText("now-elapsed", clock(shownElapsed));
    setText("now-duration", clock(duration));
  };

  // An item reaches the push channel when its first audio reaches the live point, stamped
  // with where it is in the stream (stream_at); this listener hears it when their own place in
  // the stream gets there, after the audio they have buffered. So the screen shows the newest
  // item at or before the place they hear, and looks again when the next one is due.
  const follow = () => {
    clearTimeout(followTimer);
    if (!latest) return;
    const heard = heardAt();
    // Connecting: keep what the listener heard last until their audio resumes.
    if (heard === null && wanted && syncTag && shownKey !== null) return;
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
    if (key !== shownKey) { showItem(showing, latest); showLists(latest); render(); }
  };

  const receive = (snapshot) => {
    snapshot.receivedAt = now();
    latest = snapshot;
    setText("listeners-now", String(snapshot.listeners));
    follow();
    showLists(snapshot);
    if (shown && snapshot.current && shown.started_at === snapshot.current.started_at) {
      shown = snapshot.current;
    }
    render();
  };

  const events = new EventSource("/api/now-playing/events");
  events.addEventListener("now-playing", (event) => receive(JSON.parse(event.data)));

  // --- skip --------------------------------------------------------------------------------

  const votes = () => (latest && latest.skip) || null;

  const skip = async () => {
    skipButton.disabled = true;
    const headers = csrf ? { "X-CSRF-Token": csrf } : {};
    const response = await fetch("/api/skip", { method: "POST", headers });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      say(typeof body.detail === "string" ? body.detail : "The skip did not go through.");
    } else if (body.skipped) {
      say(csrf ? "Skipped." : "Your vote skipped it.");
    } else {
      votedFor = shownKey;
      say(`Vote counted: ${body.votes} of ${body.needed} votes to skip.`);
      if (latest) latest.skip = { ...(latest.skip || {}), votes: body.votes, needed: body.needed };
    }
    render();
  };
  if (skipButton) skipButton.addEventListener("click", skip);

  // --- the state of the controls -----------------------------------------------------------

  const render = () => {
    const playing = wanted;
    playButton.textContent = playing ? "Stop" : "Play";
    playButton.setAttribute("aria-pressed", String(playing));
    muteButton.textContent = audio.muted ? "Unmute" : "Mute";
    muteButton.setAttribute("aria-pressed", String(audio.muted));
    if (!skipButton) return;
    const state = votes();
    const line = $("skip-votes");
    if (csrf) {
      skipButton.disabled = false;
      skipButton.textContent = "Skip now";
      line.textContent = state && state.votable ? `${state.votes} of ${state.needed} votes to skip` : "";
      return;
    }
    const votable = Boolean(state && state.votable);
    skipButton.textContent = "Vote to skip";
    skipButton.disabled = !(votable && playing && !audio.paused && votedFor !== shownKey);
    if (!state) line.textContent = "";
    else if (!votable) line.textContent = "This can't be skipped by vote.";
    else line.textContent = `${state.votes} of ${state.needed} votes to skip` +
      (playing ? "" : " (press play to vote)");
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
    const handlers = { play: start, pause: stop, stop: stop, nexttrack: () => skipButton && !skipButton.disabled && skip() };
    for (const [action, handler] of Object.entries(handlers)) {
      try { navigator.mediaSession.setActionHandler(action, handler); } catch { /* unsupported here */ }
    }
  }

  // --- the top-listeners board -------------------------------------------------------------

  const listenedText = (seconds) => {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    return h ? `${h} h ${m} min` : `${m} min`;
  };

  const boardList = (id, entries) => {
    const list = $(id);
    if (!list) return;
    const rows = entries.map((entry) => {
      const li = document.createElement("li");
      li.value = entry.rank;
      li.textContent = `${entry.name} · ${listenedText(entry.seconds)}`;
      return li;
    });
    if (!rows.length) { const li = document.createElement("li"); li.textContent = "No one yet."; rows.push(li); }
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
    const response = await fetch("/api/listeners/board");
    if (response.ok) showBoard(await response.json());
  }

  const nameForm = $("name-form");
  const boardSay = (text) => setText("board-status", text);
  if (nameForm) {
    nameForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = $("display-name").value;
      const response = await fetch("/api/listeners/me/name", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name }),
      });
      const body = await response.json().catch(() => ({}));
      boardSay(response.ok ? `You are on the board as ${body.name || name}.` : String(body.detail || "That name cannot be used."));
      loadBoard();
    });
    $("leave-board").addEventListener("click", async () => {
      await fetch("/api/listeners/me/name", { method: "DELETE" });
      boardSay("You have left the board.");
      loadBoard();
    });
  }

  // --- start -------------------------------------------------------------------------------

  const savedVolume = remembered("radio.volume");
  if (savedVolume !== null) { volume.value = savedVolume; audio.volume = Number(savedVolume); }
  audio.muted = Boolean(remembered("radio.muted"));
  for (const control of [playButton, muteButton, volume]) control.disabled = false;
  render();
  setInterval(tick, 1000);
  loadBoard();
  setInterval(loadBoard, BOARD_REFRESH_MS);
})();
