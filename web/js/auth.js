// The access token of a server started with --auth-token: asked for once, kept for the
// browser session, sent as a header where possible and as ?token= where a URL is all a
// request can carry (links, media, EventSource).

import { $ } from './dom.js';

const TOKEN_KEY = 'vidscribe.token';

let token = sessionStorage.getItem(TOKEN_KEY) || '';
let asking = null;
let declined = false; // the user dismissed the question: do not ask again by ourselves
let rejected = false; // the server refused the last token we had: say so when asking

/**
 * `needed` (detail `{ rejected }`): there is no usable token and the user declined to give
 * one, so every request would be refused; the page stops streaming and polling until the
 * user enters one through the button, which fires `provided`.
 */
export const authEvents = new EventTarget();

export const currentToken = () => token;

export function authHeaders() {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** A URL usable where headers cannot be set (links, media, EventSource). */
export function withToken(url) {
  if (!token) return url;
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

function needed() {
  $('btn-token').hidden = false;
  authEvents.dispatchEvent(new CustomEvent('needed', { detail: { rejected } }));
}

/** Asks for the token (once at a time; a rejected token is asked for again, saying so). */
function ask() {
  if (!asking) {
    asking = new Promise((resolve) => {
      // A macrotask later, so callers that hit 401 together share this one question.
      setTimeout(() => {
        const question = rejected
          ? 'The access token was not accepted by this Vidscribe server. Enter the access token:'
          : 'This Vidscribe server needs an access token:';
        const answer = (window.prompt(question, '') || '').trim();
        if (answer) {
          token = answer;
          sessionStorage.setItem(TOKEN_KEY, token);
          declined = false;
          rejected = false;
        } else {
          declined = true;
          needed();
        }
        $('btn-token').hidden = !declined;
        asking = null;
        resolve(Boolean(answer));
      }, 0);
    });
  }
  return asking;
}

/** After a 401 for a request sent with `sentWith`: true when it is worth sending again. */
export async function recoverFrom401(sentWith) {
  if (token && token !== sentWith) return true; // a token arrived while the request was in flight
  if (token) {
    token = '';
    rejected = true;
    sessionStorage.removeItem(TOKEN_KEY);
  }
  if (declined) {
    needed();
    return false;
  }
  return ask();
}

/** The "Enter access token" button: asks again after the user declined once. */
export function initTokenButton() {
  $('btn-token').addEventListener('click', async () => {
    declined = false;
    if (await ask()) authEvents.dispatchEvent(new Event('provided'));
  });
}
