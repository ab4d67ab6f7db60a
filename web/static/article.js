// The article and news pages' script. The pages work without it (the rating and comment
// forms post and come back); with it, those forms answer in place, so the player bar keeps
// playing, and a story's audio or a past bulletin pauses the live stream and offers to
// resume it at the live point afterwards.
//
// The player bar (window.radioBar, when the page has one) swaps <main id="content"> in place
// on in-site navigation and then dispatches "radio:navigated": everything here (re)binds on
// that event as well as on DOMContentLoaded, and binds each element once.
"use strict";

(() => {
  const STORY_AUDIO = ".listen audio, .bulletins audio";
  const pausedByUs = new Set(); // without the bar: the page's other audio we paused
  // Elements already bound. Not a data- attribute: markup copied into the page again (the
  // bar swapping <main>) would carry it, and the new elements would look bound.
  const bound = new WeakSet();
  const offered = new WeakSet(); // story audio whose end already offered the live stream

  const radioBar = () =>
    window.radioBar && typeof window.radioBar.pauseForOther === "function" ? window.radioBar : null;

  function storyAudios() {
    return [...document.querySelectorAll(STORY_AUDIO)];
  }

  function onStoryPlay(event) {
    const audio = event.currentTarget;
    offered.delete(audio);
    for (const other of storyAudios()) {
      if (other !== audio && !other.paused) other.pause(); // one story at a time
    }
    for (const offer of document.querySelectorAll(".resume-live")) offer.hidden = true;
    const bar = radioBar();
    if (bar) {
      bar.pauseForOther();
      return;
    }
    // No bar on this page: pause any other audio playing here (a live stream) ourselves.
    for (const other of document.querySelectorAll("audio")) {
      if (other.matches(STORY_AUDIO) || other.paused) continue;
      other.pause();
      pausedByUs.add(other);
    }
  }

  function onStoryStop(event) {
    const audio = event.currentTarget;
    if (offered.has(audio)) return; // "pause" and then "ended" at the end
    if (storyAudios().some((other) => !other.paused)) return; // another story took over
    offered.add(audio);
    const bar = radioBar();
    if (bar) {
      if (typeof bar.resumeOffer === "function") bar.resumeOffer();
      return;
    }
    if (pausedByUs.size) showOffer(audio);
  }

  function showOffer(audio) {
    let offer = audio.parentElement.querySelector(".resume-live");
    if (!offer) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Back to the live radio";
      button.addEventListener("click", () => {
        offer.hidden = true;
        for (const live of pausedByUs) {
          live.load(); // a live stream starts again at the live point
          live.play().catch(() => {});
        }
        pausedByUs.clear();
      });
      const text = document.createElement("span");
      text.textContent = "The live radio was paused while you listened.";
      offer = document.createElement("p");
      offer.className = "resume-live";
      offer.setAttribute("role", "status");
      offer.append(text, button);
      audio.after(offer);
    }
    offer.hidden = false;
  }

  // --- forms that answer in place ---------------------------------------------------------

  async function postJson(url, fields) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(fields),
    });
    let data = {};
    try {
      data = await response.json();
    } catch {
      // Not JSON: the status says enough.
    }
    if (!response.ok) {
      const detail = typeof data.detail === "string" ? data.detail : "";
      throw new Error(detail || `Sorry, that did not work (${response.status}). Please try again.`);
    }
    return data;
  }

  function bindRating(form) {
    const status = form.parentElement.querySelector(".rate-status");
    form.addEventListener("submit", async (event) => {
      const stars = event.submitter && event.submitter.value;
      if (!stars || !window.fetch) return; // the plain form post then
      event.preventDefault();
      try {
        const result = await postJson(form.action, { stars });
        for (const star of form.querySelectorAll(".star")) {
          const value = Number(star.value);
          star.classList.toggle("on", value <= result.your_stars);
          if (value === result.your_stars) star.setAttribute("aria-pressed", "true");
          else star.removeAttribute("aria-pressed");
        }
        const summary = form.parentElement.querySelector(".rating-summary");
        if (summary && result.count) {
          const ratings = result.count === 1 ? "rating" : "ratings";
          summary.textContent =
            `Average ${result.average.toFixed(1)} out of 5 from ${result.count} ${ratings}.`;
        }
        status.textContent = `Thank you: you rated this story ${result.your_stars} out of 5.`;
      } catch (error) {
        status.textContent = error.message;
      }
    });
  }

  function bindComment(form) {
    const status = form.querySelector(".form-status");
    form.addEventListener("submit", async (event) => {
      if (!window.fetch) return;
      event.preventDefault();
      const fields = Object.fromEntries(new FormData(form));
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const result = await postJson(form.action, fields);
        status.textContent = result.message;
        form.querySelector("textarea").value = "";
      } catch (error) {
        status.textContent = error.message;
      } finally {
        button.disabled = false;
      }
    });
  }

  function once(selector, binder) {
    for (const element of document.querySelectorAll(selector)) {
      if (bound.has(element)) continue;
      bound.add(element);
      binder(element);
    }
  }

  function bind() {
    once(STORY_AUDIO, (audio) => {
      audio.addEventListener("play", onStoryPlay);
      audio.addEventListener("pause", onStoryStop);
      audio.addEventListener("ended", onStoryStop);
    });
    once("form.rate", bindRating);
    once("form.comment-form", bindComment);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", bind);
  else bind();
  document.addEventListener("radio:navigated", bind);
})();
