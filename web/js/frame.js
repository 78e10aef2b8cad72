// Page writes wait for the next animation frame: a burst of events then costs one style and
// layout pass, not one per event. A hidden tab gets no animation frames, so a timer stands
// in and the page is current when it is shown again.

const HIDDEN_TAB_MS = 250;

const tasks = new Set();
let raf = 0;
let timer = 0;

function run() {
  cancelAnimationFrame(raf);
  clearTimeout(timer);
  raf = 0;
  timer = 0;
  const due = [...tasks];
  tasks.clear();
  // A task may ask for the next frame again (more to draw): that lands in the fresh set.
  for (const task of due) {
    try {
      task();
    } catch (e) {
      // One broken drawing must not stop the others (nor every later frame).
      console.error(e);
    }
  }
}

/** Runs `task` once in the next frame, however often it is asked for before then. */
export function nextFrame(task) {
  tasks.add(task);
  if (raf || timer) return;
  raf = requestAnimationFrame(run);
  timer = setTimeout(run, HIDDEN_TAB_MS);
}
