// The dashboard's "Go live" panel (web/templates/host.html): the host's microphone, and a
// library track under it if they like, mixed in WebAudio, recorded by MediaRecorder as
// WebM/Opus in 250 ms chunks and sent over a WebSocket to the station (/api/live/ws, see
// app/api/live_ws.py for the conversation). "On air" shows only once the station says it
// has taken over; whatever it refuses is shown as the sentence it sends.
"use strict";

(() => {
  const panel = document.getElementById("golive");
  if (!panel) return;
  const $ = (id) => document.getElementById(id);
  const MIME = "audio/webm;codecs=opus";
  const TIMESLICE_MS = 250;
  const BITS_PER_SECOND = 128000;
  const METER_MS = 100;
  const TOO_FAR_BEHIND_BYTES = 1024 * 1024; // about a minute of audio the network has not taken
  const START_PHASES = new Set(["connecting", "waiting", "on-air", "news"]);

  const indicator = $("live-indicator");
  const startButton = $("live-start");
  const stopButton = $("live-stop");
  const meter = $("live-level");
  const meterText = $("live-level-text");
  const trackElement = $("live-track");

  // The mixing desk, made at the first click (browsers start audio only after a gesture):
  // microphone -> micGain ┐
  //                       ├-> mix -> analyser (the level meter)
  // track -> trackGain ---┘      └-> recorded (what goes on air)
  let desk = null;
  let live = null; // while going live or live: {stream, mic, recorder, socket, meterTimer}

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function setState(state, text) {
    indicator.dataset.state = state;
    indicator.textContent = text;
    startButton.disabled = START_PHASES.has(state);
    stopButton.disabled = !START_PHASES.has(state);
  }

  function problem(text) {
    $("live-problem").textContent = text;
  }

  function makeDesk() {
    if (desk) return desk;
    const context = new AudioContext();
    const micGain = context.createGain();
    const trackGain = context.createGain();
    const mix = context.createGain();
    const analyser = context.createAnalyser();
    analyser.fftSize = 2048;
    const recorded = context.createMediaStreamDestination();
    micGain.connect(mix);
    trackGain.connect(mix);
    mix.connect(analyser);
    mix.connect(recorded);
    const track = context.createMediaElementSource(trackElement);
    track.connect(trackGain);
    desk = { context, micGain, trackGain, analyser, recorded, samples: new Float32Array(analyser.fftSize) };
    applyVolumes();
    applyMonitor();
    return desk;
  }

  function applyVolumes() {
    if (!desk) return;
    desk.micGain.gain.value = Number($("live-mic-volume").value);
    desk.trackGain.gain.value = Number($("live-track-volume").value);
  }

  function applyMonitor() {
    if (!desk) return;
    if ($("live-track-monitor").checked) desk.trackGain.connect(desk.context.destination);
    else {
      try {
        desk.trackGain.disconnect(desk.context.destination);
      } catch {
        // It was not connected there.
      }
    }
  }

  // The level of what goes on air: the loudest sample of the last ~40 ms, and in dBFS.
  function showLevel() {
    desk.analyser.getFloatTimeDomainData(desk.samples);
    let peak = 0;
    for (const sample of desk.samples) peak = Math.max(peak, Math.abs(sample));
    meter.value = Math.min(1, peak);
    meterText.textContent = peak > 0.0001 ? `${(20 * Math.log10(peak)).toFixed(0)} dB` : "silence";
  }

  function microphoneProblem(error) {
    if (error.name === "NotAllowedError" || error.name === "SecurityError") {
      return "The browser may not use your microphone here: allow it (the icon in the address bar) and go live again.";
    }
    if (error.name === "NotFoundError" || error.name === "OverconstrainedError") {
      return "No microphone was found: plug one in and go live again.";
    }
    if (error.name === "NotReadableError") {
      return "Your microphone is in use by another program, or failed: close that program and go live again.";
    }
    return `The microphone could not be opened: ${error.message || error.name}`;
  }

  async function goLive() {
    problem("");
    if (!window.MediaRecorder || !MediaRecorder.isTypeSupported(MIME)) {
      problem("This browser cannot record Opus in WebM, which the station takes: go live from a recent Chrome, Edge or Firefox.");
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      problem("This browser offers no microphone to this page: open the dashboard over HTTPS, in a recent browser.");
      return;
    }
    setState("connecting", "Opening your microphone…");
    let stream;
    try {
      // Broadcast sound: no telephone processing (it would pump music and hum over pauses).
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (error) {
      setState("off", "Off air");
      problem(microphoneProblem(error));
      return;
    }
    const { context } = makeDesk();
    await context.resume();
    const mic = context.createMediaStreamSource(stream);
    mic.connect(desk.micGain);
    live = { stream, mic, recorder: null, socket: null, refused: false, stopping: false };
    live.meterTimer = setInterval(showLevel, METER_MS);
    setState("connecting", "Connecting to the station…");
    connect(live);
  }

  function connect(session) {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${window.location.host}/api/live/ws`);
    session.socket = socket;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "start", csrf: csrfToken() }));
    });
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      heard(session, message);
    });
    socket.addEventListener("close", (event) => {
      if (live !== session) return;
      if (!session.refused && !session.stopping) {
        problem(`The connection to the station was lost (code ${event.code}): you are off air. Go live again when it is back.`);
      }
      finish(session);
    });
  }

  function heard(session, message) {
    if (live !== session) return;
    if (message.type === "accepted") {
      record(session);
      const title = $("live-title").value.trim();
      if (title && session.socket.readyState === WebSocket.OPEN) {
        session.socket.send(JSON.stringify({ type: "title", text: title }));
      }
      setState("waiting", "Waiting for the station to take over…");
    } else if (message.type === "on_air") {
      setState("on-air", "On air");
    } else if (message.type === "news") {
      // The hourly news has the air; what the host says meanwhile is not heard.
      setState("news", "News on air: you are back on air when it ends");
    } else if (message.type === "off_air") {
      setState("waiting", "Off air: the station has the air back.");
    } else if (message.type === "refused") {
      session.refused = true;
      problem(message.message || "The station refused to take you live.");
    }
  }

  function record(session) {
    const recorder = new MediaRecorder(desk.recorded.stream, { mimeType: MIME, audioBitsPerSecond: BITS_PER_SECOND });
    session.recorder = recorder;
    recorder.addEventListener("dataavailable", (event) => {
      const socket = session.socket;
      if (!event.data.size || socket.readyState !== WebSocket.OPEN) return;
      if (socket.bufferedAmount > TOO_FAR_BEHIND_BYTES) {
        problem("Your connection to the station is too slow for live audio: you are off air.");
        session.refused = true;
        socket.close();
        return;
      }
      socket.send(event.data);
    });
    recorder.addEventListener("stop", () => {
      // The last chunk went out just before this: now the station may hand back.
      if (session.socket.readyState === WebSocket.OPEN) session.socket.send(JSON.stringify({ type: "stop" }));
    });
    recorder.start(TIMESLICE_MS);
  }

  function stop() {
    const session = live;
    if (!session) return;
    session.stopping = true;
    setState("connecting", "Handing back to the programme…");
    if (session.recorder && session.recorder.state !== "inactive") session.recorder.stop();
    else if (session.socket) session.socket.close();
  }

  function finish(session) {
    clearInterval(session.meterTimer);
    if (session.recorder && session.recorder.state !== "inactive") session.recorder.stop();
    session.mic.disconnect();
    for (const track of session.stream.getTracks()) track.stop();
    live = null;
    meter.value = 0;
    meterText.textContent = "no input";
    setState("off", "Off air");
  }

  // --- the track under the voice ------------------------------------------------------------

  async function findTracks(event) {
    event.preventDefault();
    const q = $("live-track-q").value.trim();
    const list = $("live-track-results");
    const params = new URLSearchParams({ status: "ready", limit: "10" });
    if (q) params.set("q", q);
    try {
      const response = await fetch(`/api/tracks?${params}`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) throw new Error(`the library answered ${response.status}`);
      const page = await response.json();
      list.replaceChildren(...page.items.map(trackRow));
      if (!page.items.length) list.append(row("Nothing found.", null, "empty"));
    } catch (error) {
      problem(`The library could not be searched: ${error.message}`);
    }
  }

  function row(text, control, className = "row") {
    const item = document.createElement("li");
    item.className = className;
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = text;
    item.append(what);
    if (control) {
      const buttons = document.createElement("span");
      buttons.className = "buttons";
      buttons.append(control);
      item.append(buttons);
    }
    return item;
  }

  function trackRow(track) {
    const name = track.artist ? `${track.artist} – ${track.title}` : track.title;
    const choose = document.createElement("button");
    choose.type = "button";
    choose.textContent = "Choose";
    choose.setAttribute("aria-label", `Choose ${name}`);
    choose.addEventListener("click", () => {
      makeDesk();
      desk.context.resume();
      trackElement.src = `/api/tracks/${track.id}/audio`;
      $("live-track-name").textContent = name;
      trackElement.focus();
    });
    return row(name, choose);
  }

  startButton.addEventListener("click", () => {
    goLive().catch((error) => {
      if (live) finish(live);
      else setState("off", "Off air");
      problem(`Going live failed: ${error.message || error}`);
    });
  });
  stopButton.addEventListener("click", stop);
  $("live-mic-volume").addEventListener("input", applyVolumes);
  $("live-track-volume").addEventListener("input", applyVolumes);
  $("live-track-monitor").addEventListener("change", () => {
    makeDesk();
    applyMonitor();
  });
  $("live-track-search").addEventListener("submit", findTracks);
  $("live-title-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const title = $("live-title").value.trim();
    const status = $("status");
    if (live && live.socket && live.socket.readyState === WebSocket.OPEN && live.recorder) {
      live.socket.send(JSON.stringify({ type: "title", text: title }));
      if (status) status.textContent = "Title sent to the station.";
    } else if (status) {
      status.textContent = "The title goes to the station when you go live.";
    }
  });
  window.addEventListener("pagehide", () => {
    if (live) stop();
  });
})();
