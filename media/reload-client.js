// Tiny Server live reload client. The server injects one tag for this script into each page it
// serves, addressed relative to the page (behind a path-prefix proxy such as code-server's
// /proxy/<port>/ every URL here therefore stays inside the prefix).
//
// One EventSource per page would use one of the browser's six HTTP/1.1 connections per host, so a
// seventh tab or frame would hang. This same file therefore also runs as a SharedWorker that holds
// the single event stream for all pages of the server; where SharedWorker is missing or refused
// (sandboxed frames) the page opens its own stream.
//
// What a page does with {"type":"change","paths":[...]} (paths from the served root):
// - a changed stylesheet that the page links with <link rel=stylesheet> is swapped in place
//   (new link with a cache-busting query, old one removed once the new one has loaded);
// - any other changed path the page depends on reloads the page: the page itself (a folder's
//   index.html or index.htm for a folder URL), or a resource it loaded (Resource Timing, which
//   covers scripts, images, fonts, fetches, @imported stylesheets and frames). A changed folder
//   counts for everything below it; "/" means anything may have changed;
// - other paths are ignored: editing one page does not reload the pages that merely link to it;
// - when the page cannot tell (no Resource Timing, or its buffer filled up) it reloads.
// A page without scripts of its own whose only changed path is the page itself is updated in
// place instead of reloaded (see updateInPlace): it shows the same, sooner, and keeps its place.
// A change of unsaved text ("typing": true) that would reload a page waits for TYPING_QUIET_MS
// without another: a page with scripts reloads when the typing pauses, not at every few keys.
// A stream that reconnects to a restarted server (a different instance id) reloads every page once.
//
// Before a reload the page's place is saved in sessionStorage (window and id'd boxes' scroll, the
// focused element, typed values of text-like fields); the reloaded page restores it once.
//
// With the tag's data-console attribute (tinyServer.forwardConsole), the page's console methods,
// uncaught errors and unhandled rejections are also sent to the server (see forwardConsole).
(function () {
  'use strict';

  /** How many changes the server's hello repeats, and a stream keeps for pages that connect later. */
  const RECENT_CHANGES = 32;
  /** How long a page whose fetch failed waits to hear that the event stream broke too (see unanswered). */
  const STREAM_BREAK_MS = 500;
  /** Quiet after a change of unsaved text before a page reloads for it (the editor sends one per 150 ms pause). */
  const TYPING_QUIET_MS = 350;
  /** The query a stylesheet swapped in place gets, so the browser fetches it anew. */
  const RELOAD_QUERY = 'tiny-reload';
  /** Stylesheet swaps whose new sheet has not loaded yet (see swap); each settles within 5 s. */
  const pendingSwaps = new Set();

  /**
   * Opens the event stream at `url`; calls `emit` with change, restart, connected and
   * disconnected messages (the stream broke: the server may be gone). Returns `connected()`, the
   * connected message for a page that joins later, null while the stream is down: the server's id
   * and the changes since its hello (the hello's own recent ones first), so that page can apply
   * the ones that went out while it was loading (see replayMissed).
   */
  function connect(url, emit) {
    let instance = null;
    let recent = [];
    let delay = 500;
    let up = false;
    const connected = () => (instance === null || !up ? null : { type: 'connected', id: instance, recent: recent.slice() });
    const open = () => {
      const source = new EventSource(url);
      source.onmessage = (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch {
          return;
        }
        if (message.type === 'hello') {
          delay = 500;
          if (instance !== null && instance !== message.id) emit({ type: 'restart' });
          instance = message.id;
          recent = Array.isArray(message.recent) ? message.recent.slice(-RECENT_CHANGES) : [];
          up = true;
          emit(connected());
        } else if (message.type === 'change') {
          recent.push(message);
          if (recent.length > RECENT_CHANGES) recent.shift();
          emit(message);
        }
      };
      // EventSource retries network errors itself but gives up on an HTTP error (a proxy's 502
      // while the server restarts); then this loop reconnects with a growing delay.
      source.onerror = () => {
        if (up) {
          up = false;
          emit({ type: 'disconnected' });
        }
        if (source.readyState !== EventSource.CLOSED) return;
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 10000);
      };
    };
    open();
    return connected;
  }

  function runWorker() {
    let ports = [];
    const connected = connect(new URL('events', self.location.href), (message) => {
      for (const port of ports) port.postMessage(message);
    });
    self.onconnect = (event) => {
      const port = event.ports[0];
      ports.push(port);
      port.onmessage = (e) => {
        ports = ports.filter((p) => p !== port);
        if (e.data === 'back') ports.push(port);
      };
      const hello = connected();
      if (hello) port.postMessage(hello);
    };
  }

  function runPage() {
    const script = document.currentScript;
    const key = Symbol.for('tiny-server.reload');
    if (!script || window[key]) return;
    const state = { connected: false };
    window[key] = state;
    // The client is served at <root>/.tiny-server/reload/client.js. Its address is resolved
    // against the page, as it was when it was fetched: `script.src` would resolve it against a
    // <base> that came after the tag.
    const root = new URL('../../', new URL(script.getAttribute('src') ?? '', location.href));
    if (script.hasAttribute('data-console')) safely(() => forwardConsole(script.src, root));
    safely(restorePlace);
    let reloading = false;
    let timingFull = false;
    if (window.performance && performance.addEventListener) {
      performance.addEventListener('resourcetimingbufferfull', () => {
        timingFull = true;
      });
    }

    // The server's id and the number of the last change this page has seen, saved before a
    // reload so the reloaded page can tell which changes it missed (see replayMissed).
    let instance = null;
    let lastSeq = 0;
    const onMessage = (message) => {
      if (reloading) return;
      if (message.type === 'connected') {
        state.connected = true;
        instance = message.id;
        safely(() => replayMissed(message));
      } else if (message.type === 'disconnected') state.connected = false;
      else if (message.type === 'restart') reload();
      else if (message.type === 'change' && Array.isArray(message.paths)) {
        if (typeof message.seq === 'number') lastSeq = Math.max(lastSeq, message.seq);
        onChange(message.paths, message.typing === true);
      }
    };
    const reload = (fromChange) => {
      reloading = true;
      safely(savePlace);
      if (fromChange && instance !== null) safely(() => sessionStorage.setItem(seenKey(), JSON.stringify({ id: instance, seq: lastSeq })));
      location.reload();
    };

    /**
     * A change that goes out while this page reloads for an earlier one reaches no page (the old
     * one is gone, this one has no stream yet): typing "typed" could leave the page at "type".
     * The reloaded page therefore compares the changes the stream repeats with the last one its
     * predecessor saw, once, and applies the newer ones. At worst that reloads once more for a
     * change the page already had.
     */
    function replayMissed(message) {
      const key = seenKey();
      const saved = sessionStorage.getItem(key);
      if (saved === null) return;
      sessionStorage.removeItem(key);
      const seen = JSON.parse(saved);
      if (!seen || seen.id !== message.id || !Array.isArray(message.recent)) return;
      lastSeq = seen.seq;
      const missed = message.recent.filter((change) => typeof change.seq === 'number' && change.seq > seen.seq && Array.isArray(change.paths));
      if (missed.length === 0) return;
      lastSeq = missed[missed.length - 1].seq;
      // Typing still going on when this page reloaded still waits for its pause.
      onChange(missed.flatMap((change) => change.paths), missed.every((change) => change.typing === true));
    }

    // A reload that waits for typing to pause (see onChange).
    let typingTimer = 0;
    function reloadWhenQuiet() {
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => {
        // A server that went away meanwhile would answer with an error page, which has no client
        // to come back with: a restart reloads the page once it is up again.
        if (!reloading && state.connected) reload(true);
      }, TYPING_QUIET_MS);
    }

    function onChange(paths, typing) {
      const sheets = linkedSheets();
      const swaps = [];
      let mustReload = false;
      let pageChanged = false;
      for (const path of paths) {
        const changed = pathKey(new URL('.' + path, root));
        // A link still loading a replacement is replaced through the link it replaces (see swap).
        const own = sheets.filter((sheet) => sheet.key === changed && !loadingSheets.has(sheet.link));
        if (own.length > 0) swaps.push(...own.map((sheet) => sheet.link));
        else if (pageKeys().includes(changed)) pageChanged = true;
        else if (dependsOn(changed)) mustReload = true;
      }
      if (mustReload || (pageChanged && !isStatic(document, script))) {
        if (typing) reloadWhenQuiet();
        else reload(true);
      } else {
        swaps.forEach(swap);
        if (pageChanged) refresh();
      }
    }

    // One in-place update at a time; a change that arrives meanwhile fetches the page once more.
    let refreshing = false;
    let refreshAgain = false;
    function refresh() {
      if (refreshing) {
        refreshAgain = true;
        return;
      }
      refreshing = true;
      const step = () => {
        refreshAgain = false;
        updateInPlace(script).then(
          (updated) => {
            if (updated === null) unanswered();
            else if (!updated) reload(true);
            else if (refreshAgain && !reloading) step();
            else refreshing = false;
          },
          () => reload(true),
        );
      };
      step();
    }

    /**
     * The page's fetch of its own text got no answer. A server that is gone breaks the event
     * stream too, which the page hears within moments: then it stays as it is, and a restart
     * reloads it. A fetch that fails while the stream stays up was refused by the page itself: a
     * Content-Security-Policy whose connect-src leaves out the page's own origin (the shared
     * worker's stream is not under the page's policy). A reload shows the new text instead.
     */
    function unanswered() {
      setTimeout(() => {
        if (state.connected && !reloading) reload(true);
        else refreshing = false;
      }, STREAM_BREAK_MS);
    }

    /** The page's own paths: its URL, and a folder URL's index files. */
    function pageKeys() {
      const page = pathKey(location);
      return page.endsWith('/') ? [page, page + 'index.html', page + 'index.htm'] : [page];
    }

    function linkedSheets() {
      return Array.from(document.querySelectorAll('link[rel~="stylesheet" i][href]'))
        .filter((link) => sameOrigin(link.href))
        .map((link) => ({ link, key: pathKey(new URL(link.href)) }));
    }

    function dependsOn(changed) {
      const used = pageKeys();
      if (!window.performance || !performance.getEntriesByType) return true;
      const entries = performance.getEntriesByType('resource');
      if (timingFull || entries.length >= 250) return true;
      for (const entry of entries) if (sameOrigin(entry.name)) used.push(pathKey(new URL(entry.name)));
      const below = changed.endsWith('/') ? changed : changed + '/';
      return used.some((path) => path === changed || path.startsWith(below));
    }

    /** The new link that is loading in place of a stylesheet link, by the link it replaces. */
    const replacements = new WeakMap();
    /** New links still loading. */
    const loadingSheets = new WeakSet();

    /**
     * Replaces a stylesheet link by a new one that asks for the sheet again, and removes the old
     * one once the new one has loaded. A save that comes while a replacement still loads drops
     * that replacement (it asked for an older version) and starts another from the link still
     * shown: one link per sheet, however fast the saves come.
     */
    function swap(link) {
      const stale = replacements.get(link);
      if (stale !== undefined) stale.remove();
      const next = link.cloneNode(false);
      const url = new URL(link.href);
      url.searchParams.set(RELOAD_QUERY, String(Date.now()));
      next.href = url.href;
      let done = false;
      let settle;
      const pending = new Promise((resolve) => (settle = resolve));
      pendingSwaps.add(pending);
      const finish = () => {
        if (done) return;
        done = true;
        loadingSheets.delete(next);
        if (replacements.get(link) === next) replacements.delete(link);
        // Only while the new link is still there: the page must never be left without either.
        if (next.isConnected) link.remove();
        pendingSwaps.delete(pending);
        settle();
      };
      next.addEventListener('load', finish);
      next.addEventListener('error', finish);
      setTimeout(finish, 5000);
      replacements.set(link, next);
      loadingSheets.add(next);
      link.after(next);
    }

    function sameOrigin(href) {
      try {
        return new URL(href).origin === root.origin;
      } catch {
        return false;
      }
    }

    /** The decoded pathname, so that %7E and ~ (or %C3%A9 and é) compare equal. */
    function pathKey(url) {
      try {
        return decodeURIComponent(url.pathname);
      } catch {
        return url.pathname;
      }
    }

    listen(script.src, onMessage);
    // A document the browser took from its cache without asking the server (going back or
    // forward) may be older than its file: updates in place do not reach the cache, and a change
    // made while another page was shown reached no page at all. Such a page checks its text once:
    // one without scripts is updated in place, one with scripts reloads if it is not current.
    safely(() => {
      const navigation = performance.getEntriesByType('navigation')[0];
      if (navigation && navigation.transferSize === 0) afterParsing(() => (isStatic(document, script) ? refresh() : reloadIfChanged()));
    });

    /**
     * Reloads when the server's entity tag for this page is not the one it was served with (the
     * tag's `data-etag`). A range of one byte asks for the identity bytes' tag, whatever codings
     * the browser accepts; no tag, or no answer, leaves the page as it is.
     */
    function reloadIfChanged() {
      const shown = script.getAttribute('data-etag');
      if (shown === null) return;
      fetch(location.href, { cache: 'no-store', credentials: 'same-origin', headers: { Range: 'bytes=0-0', Accept: 'text/html' } }).then(
        (response) => {
          const current = response.headers.get('etag');
          if (response.ok && !response.redirected && current !== null && current !== shown && !reloading) reload(false);
        },
        () => undefined,
      );
    }
  }

  /** Runs `action` once the document is parsed, so that nothing changes it under the parser. */
  function afterParsing(action) {
    if (document.readyState !== 'loading') action();
    else document.addEventListener('DOMContentLoaded', () => safely(action), { once: true });
  }

  /** Subscribes through the shared worker, or opens a stream of its own. */
  function listen(src, onMessage) {
    let fallback = false;
    const direct = () => {
      if (fallback) return;
      fallback = true;
      connect(new URL('events', src), onMessage);
    };
    if (typeof SharedWorker !== 'function') return direct();
    try {
      const worker = new SharedWorker(src, { name: 'tiny-server-reload' });
      worker.onerror = direct;
      worker.port.onmessage = (event) => {
        if (!fallback) onMessage(event.data);
      };
      worker.port.start();
      // A page kept in the back/forward cache stops listening until it is shown again.
      addEventListener('pagehide', () => worker.port.postMessage('bye'));
      addEventListener('pageshow', (event) => {
        if (event.persisted) worker.port.postMessage('back');
      });
    } catch {
      direct();
    }
  }

  // ---- Updating a page in place ------------------------------------------------------------

  /**
   * Whether `doc` has no scripts of its own (`own`, the client's tag, aside): no script element,
   * no event handler attribute, no javascript: address, no frame or plugin with a document of
   * its own, nothing a parser without scripting reads differently (noscript, declarative shadow
   * roots). Only such a page is updated in place: nothing on it can have changed its DOM or can
   * tell an update from a reload, while a page with scripts reloads so that they run against the
   * new text.
   */
  function isStatic(doc, own) {
    if (doc.querySelector('noscript, template[shadowrootmode], template[shadowroot], iframe[srcdoc], object, embed, frame')) return false;
    for (const el of doc.getElementsByTagName('*')) {
      if (el === own) continue;
      if (el.localName === 'script') return false;
      for (const attribute of el.attributes) if (/^on/i.test(attribute.name) || isScriptAddress(attribute.value)) return false;
    }
    return true;
  }

  /** A javascript: address as URL parsing reads it: tabs and newlines anywhere, controls before. */
  function isScriptAddress(value) {
    return /^[\x00-\x20]*javascript:/i.test(value.replace(/[\t\n\r]/g, ''));
  }

  /** The text of `type`'s charset parameter, if any (`text/html; charset=gbk`). */
  function charsetOf(type) {
    const match = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(type);
    return match ? match[1] : null;
  }

  /**
   * Fetches the page again and changes the document to match it, node by node, where the new
   * text, like the document (the callers checked it), has no scripts of its own (see isStatic)
   * and declares the same charset and doctype. What did not change stays as it is: the scroll
   * position, focus, typed values, playing media, loaded images. Resolves false when the page
   * must reload instead (not static, not HTML, an error answer, a redirect), and null, leaving
   * the page as it is, when the fetch got no answer (see unanswered).
   */
  async function updateInPlace(own) {
    await new Promise(afterParsing);
    let response;
    try {
      // A fetch() gets the file without the client's tag (the server adds it to page loads only).
      response = await fetch(location.href, { cache: 'no-store', credentials: 'same-origin' });
    } catch {
      return null;
    }
    const type = response.headers.get('content-type') || '';
    if (!response.ok || response.redirected || !/^text\/html\s*(;|$)/i.test(type)) return false;
    const text = new TextDecoder(charsetOf(type) || document.characterSet).decode(await response.arrayBuffer());
    const next = new DOMParser().parseFromString(text, 'text/html');
    if (!isStatic(next, null)) return false;
    if (doctypeOf(next) !== doctypeOf(document) || charsetDeclaration(next) !== charsetDeclaration(document)) return false;
    // A stylesheet being swapped has two links until the new one loads: let it finish first.
    await Promise.all(Array.from(pendingSwaps));
    const place = placeNow();
    const focused = document.activeElement;
    morphAttributes(document.documentElement, next.documentElement);
    morphChildren(document.documentElement, next.documentElement, own);
    // Fields and focus on nodes that had to be replaced come back as after a reload.
    place.fields.forEach(safelyRestoreField);
    if (document.activeElement !== focused) safely(() => restoreFocus(place.focus));
    return true;
  }

  function doctypeOf(doc) {
    const type = doc.doctype;
    return type ? `${type.name}|${type.publicId}|${type.systemId}` : '';
  }

  /** A changed charset needs the bytes decoded anew: only a reload does that. */
  function charsetDeclaration(doc) {
    const meta = doc.querySelector('meta[charset], meta[http-equiv="content-type" i]');
    return meta ? (meta.getAttribute('charset') || meta.getAttribute('content') || '').toLowerCase() : '';
  }

  /** Same kind of node: the one in place is changed to match rather than replaced. */
  function sameKind(have, want) {
    if (have.nodeType !== want.nodeType) return false;
    if (have.nodeType !== Node.ELEMENT_NODE) return true;
    return have.localName === want.localName && have.namespaceURI === want.namespaceURI && (have.id || '') === (want.id || '');
  }

  /** How far ahead morphChildren looks for an unchanged node, before it changes one in place. */
  const LOOKAHEAD = 50;

  /**
   * Makes `live`'s children (the client's own tag aside, which stays where it is) match `next`'s.
   * Equal nodes are kept; a node inserted or removed before unchanged ones is found by looking
   * ahead for the equal one, so those keep their state; otherwise a node of the same kind is
   * changed in place and one of another kind replaced.
   */
  function morphChildren(live, next, own) {
    const have = Array.from(live.childNodes).filter((node) => node !== own);
    const want = Array.from(next.childNodes);
    // New nodes go before the client's tag when it is the last child, so it stays last.
    const end = own && own.parentNode === live && own.nextSibling === null ? own : null;
    let i = 0;
    for (let w = 0; w < want.length; w += 1) {
      const node = want[w];
      const old = have[i];
      if (old === undefined) {
        live.insertBefore(document.importNode(node, true), end);
      } else if (old.isEqualNode(node)) {
        i += 1;
      } else if (isMarkup(old) && findEqual(want, w + 1, old) !== -1) {
        live.insertBefore(document.importNode(node, true), old); // inserted before `old`
      } else {
        const found = isMarkup(node) ? findEqual(have, i + 1, node) : -1;
        if (found !== -1) {
          for (; i < found; i += 1) have[i].remove(); // removed before the equal one
        } else if (sameKind(old, node) && old.localName !== 'template') {
          morphNode(old, node, own);
        } else {
          live.replaceChild(document.importNode(node, true), old);
        }
        i += 1;
      }
    }
    for (; i < have.length; i += 1) have[i].remove();
  }

  /** An element or text that is not only white space: what is worth looking ahead for. */
  function isMarkup(node) {
    return node.nodeType === Node.ELEMENT_NODE || (node.nodeType === Node.TEXT_NODE && node.nodeValue.trim() !== '');
  }

  function findEqual(nodes, from, node) {
    const to = Math.min(nodes.length, from + LOOKAHEAD);
    for (let k = from; k < to; k += 1) if (nodes[k].isEqualNode(node)) return k;
    return -1;
  }

  function morphNode(live, next, own) {
    if (live.nodeType !== Node.ELEMENT_NODE) {
      if (live.nodeValue !== next.nodeValue) live.nodeValue = next.nodeValue;
      return;
    }
    // Browsers choose a video's or audio's <source> once: a change takes load().
    const media = live instanceof HTMLMediaElement ? sourcesOf(live) : null;
    morphAttributes(live, next);
    morphChildren(live, next, own);
    if (media !== null && sourcesOf(live) !== media) live.load();
  }

  function sourcesOf(media) {
    return Array.from(media.children, (child) => (child.localName === 'source' ? child.outerHTML : '')).join('');
  }

  function morphAttributes(live, next) {
    for (const attribute of Array.from(live.attributes)) {
      if (!next.hasAttributeNS(attribute.namespaceURI, attribute.localName)) live.removeAttributeNS(attribute.namespaceURI, attribute.localName);
    }
    for (const attribute of Array.from(next.attributes)) {
      const current = live.getAttributeNS(attribute.namespaceURI, attribute.localName);
      if (current === attribute.value) continue;
      // A stylesheet swapped in place has the same address plus a cache-busting query: setting
      // it back would load the sheet again for nothing.
      if (live.localName === 'link' && attribute.name === 'href' && withoutReloadQuery(live.href) === withoutReloadQuery(new URL(attribute.value, document.baseURI).href)) continue;
      live.setAttributeNS(attribute.namespaceURI, attribute.name, attribute.value);
    }
  }

  function withoutReloadQuery(href) {
    const url = new URL(href);
    url.searchParams.delete(RELOAD_QUERY);
    return url.href;
  }

  /** Runs `action`; whatever it throws stays here, never reaching the page. */
  function safely(action) {
    try {
      action();
    } catch {
      // The page must behave as it would without the client.
    }
  }

  // ---- The page's console, forwarded to the server ------------------------------------------

  const CONSOLE_METHODS = ['debug', 'log', 'info', 'warn', 'error'];
  /** Lines are sent in one POST this often... */
  const FLUSH_MS = 200;
  /** ...and lines beyond this many per POST are only counted (the server caps lines a second too). */
  const MAX_PENDING = 1000;
  /** JSON chars per POST: at most 3 UTF-8 bytes each, below the server's 256 KiB. */
  const MAX_BATCH_CHARS = 60000;
  /** A keepalive request (sent as the page goes away) may carry 64 KiB in all. */
  const MAX_KEEPALIVE_CHARS = 20000;
  const MAX_TEXT = 8000;
  const MAX_STRING = 1000;
  const MAX_ITEMS = 100;
  const MAX_DEPTH = 2;
  /** Values one message may visit, so that a huge object costs the page little. */
  const MAX_NODES = 500;

  /**
   * Wraps the console methods (each still calls the original, so the browser's console shows
   * what it showed) and listens for uncaught errors and unhandled rejections. Lines are queued as
   * JSON and POSTed to <root>/.tiny-server/console in batches, also when the page goes away.
   * Nothing here may throw into the page, and a line logged while a line is being rendered (a
   * getter that logs) is not forwarded, so the wrapper cannot recurse.
   */
  function forwardConsole(src, root) {
    const endpoint = new URL('../console', src).href;
    const send = window.fetch.bind(window);
    const later = window.setTimeout.bind(window);
    const page = rootPath(location.href, root, true) || location.pathname;
    let pending = [];
    let dropped = 0;
    let timer = 0;
    let busy = false;

    const flush = (final) => {
      timer = 0;
      while (pending.length > 0 || dropped > 0) {
        let size = 0;
        let count = 0;
        while (count < pending.length && (count === 0 || size + pending[count].length < MAX_BATCH_CHARS)) size += pending[count++].length;
        const body = '{"entries":[' + pending.slice(0, count).join(',') + '],"dropped":' + dropped + '}';
        pending = pending.slice(count);
        dropped = 0;
        const keepalive = final === true && body.length < MAX_KEEPALIVE_CHARS;
        send(endpoint, { method: 'POST', body, keepalive, cache: 'no-store', credentials: 'same-origin' }).catch(() => {});
      }
    };
    const queue = (kind, text, source) => {
      pending.push(JSON.stringify(source ? { kind, page, text, source } : { kind, page, text }));
      if (!timer) timer = later(flush, FLUSH_MS);
    };
    /** Runs `make` unless a line is being made already; a line beyond MAX_PENDING costs a count. */
    const report = (make) => {
      if (busy) return;
      if (pending.length >= MAX_PENDING) {
        dropped++;
        return;
      }
      busy = true;
      try {
        make();
      } catch {
        // A value that cannot be rendered is not worth breaking the page for.
      } finally {
        busy = false;
      }
    };

    for (const method of CONSOLE_METHODS) {
      const original = console[method];
      if (typeof original !== 'function') continue;
      console[method] = function (...args) {
        report(() => queue(method, render(args, root), callerSource(new Error().stack, src, root)));
        return original.apply(this, args);
      };
    }
    addEventListener('error', (event) => {
      // Failed resource loads (an image's 404) are plain Events; only script errors are ErrorEvents.
      if (!(event instanceof ErrorEvent)) return;
      report(() => {
        const error = event.error;
        const text = error instanceof Error ? 'Uncaught ' + errorText(error, root) : event.message || 'Uncaught ' + inspect(error, 0, newWalk(root));
        const source = event.filename ? at(event.filename, event.lineno, event.colno, root) : callerSource(error && error.stack, src, root);
        queue('uncaught', text, source);
      });
    });
    addEventListener('unhandledrejection', (event) => {
      report(() => {
        const reason = event.reason;
        const text = 'Uncaught (in promise) ' + (reason instanceof Error ? errorText(reason, root) : inspect(reason, 0, newWalk(root)));
        queue('rejection', text, reason instanceof Error ? callerSource(reason.stack, src, root) : undefined);
      });
    });
    addEventListener('pagehide', () => report(() => flush(true)));
  }

  /**
   * The URL path of `href` below the served root (`/index.html`), percent-decoded when `decode`;
   * null for a URL elsewhere.
   */
  function rootPath(href, root, decode) {
    const url = new URL(href);
    if (url.origin !== root.origin || !url.pathname.startsWith(root.pathname)) return null;
    const path = '/' + url.pathname.slice(root.pathname.length);
    if (!decode) return path;
    try {
      return decodeURIComponent(path);
    } catch {
      return path;
    }
  }

  /** A source location: a path below the root, which the server turns into a file, or a URL. */
  function at(href, line, column, root) {
    try {
      const path = rootPath(href, root, false);
      return path === null ? { url: href, line, column } : { path, line, column };
    } catch {
      return undefined;
    }
  }

  /** Chromium's `    at f (URL:12:5)` and `    at URL:12:5`, Firefox's and Safari's `f@URL:12:5`. */
  const FRAME = /(?:^\s*at (?:.*\()?|@)((?:https?|file|blob):.*?):(\d+):(\d+)\)?\s*$/;

  /** The first frame of `stack` that is not this script's (the console wrapper). */
  function callerSource(stack, src, root) {
    if (typeof stack !== 'string') return undefined;
    for (const line of stack.split('\n')) {
      const frame = FRAME.exec(line);
      if (frame && frame[1] !== src) return at(frame[1], Number(frame[2]), Number(frame[3]), root);
    }
    return undefined;
  }

  /** One message as the console would print it: printf-style `%s %d %i %f %o %O %c`, then the rest. */
  function render(args, root) {
    const walk = newWalk(root);
    const parts = [];
    let next = 0;
    if (typeof args[0] === 'string') {
      next = 1;
      parts.push(
        args[0].replace(/%([sdifoOc%])/g, (whole, spec) => {
          if (spec === '%') return '%';
          if (next >= args.length) return whole;
          const value = args[next++];
          if (spec === 'c') return '';
          if (spec === 's') return typeof value === 'string' ? value : inspect(value, 1, walk);
          if (spec === 'o' || spec === 'O') return inspect(value, 1, walk);
          if (typeof value !== 'number') return 'NaN';
          return String(spec === 'f' ? value : Math.trunc(value));
        }),
      );
    }
    for (; next < args.length; next++) parts.push(typeof args[next] === 'string' ? args[next] : inspect(args[next], 0, walk));
    const text = parts.join(' ');
    return text.length <= MAX_TEXT ? text : text.slice(0, MAX_TEXT) + '… (' + (text.length - MAX_TEXT) + ' more characters)';
  }

  function newWalk(root) {
    return { root, nodes: 0, ancestors: [] };
  }

  /** The error's stack (or name and message), with URLs below the root written as paths. */
  function errorText(error, root) {
    let head;
    try {
      head = String(error.name) + ': ' + String(error.message);
    } catch {
      head = 'Error';
    }
    const stack = typeof error.stack === 'string' ? error.stack : '';
    // Chromium's stack starts with "Name: message", Firefox's and Safari's with the first frame.
    const text = stack.startsWith(head) ? stack : stack ? head + '\n' + stack : head;
    return text.split(root.href).join('');
  }

  /**
   * A readable, bounded rendering of any value: `depth` levels of nesting, MAX_ITEMS entries per
   * object, MAX_NODES values in all, [Circular] for a reference to an object being rendered,
   * elements as their start tag. Getters are not called (they may have effects).
   */
  function inspect(value, depth, walk) {
    if (++walk.nodes > MAX_NODES) return '…';
    switch (typeof value) {
      case 'string':
        return depth === 0 ? cutString(value) : JSON.stringify(cutString(value));
      case 'bigint':
        return value + 'n';
      case 'symbol':
        return value.toString();
      case 'function':
        return /^class[\s{]/.test(Function.prototype.toString.call(value)) ? '[class ' + (value.name || '(anonymous)') + ']' : '[Function: ' + (value.name || '(anonymous)') + ']';
      case 'number':
        return Object.is(value, -0) ? '-0' : String(value);
      case 'object':
        if (value === null) return 'null';
        if (walk.ancestors.includes(value)) return '[Circular]';
        walk.ancestors.push(value);
        try {
          return inspectObject(value, depth, walk);
        } finally {
          walk.ancestors.pop();
        }
      default:
        return String(value);
    }
  }

  function inspectObject(value, depth, walk) {
    if (value instanceof Error) return depth === 0 ? errorText(value, walk.root) : '[' + value.name + ': ' + value.message + ']';
    if (typeof Node === 'function' && value instanceof Node) return describeNode(value);
    if (value === window) return '[Window]';
    if (value instanceof Date) return isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
    if (value instanceof RegExp) return String(value);
    if (value instanceof Promise) return 'Promise {…}';
    const isList = Array.isArray(value) || ArrayBuffer.isView(value);
    if (depth > MAX_DEPTH) return isList ? '[Array]' : '[Object]';
    if (value instanceof Map) return 'Map(' + value.size + ') ' + entriesOf(value.entries(), value.size, (e) => inspect(e[0], depth + 1, walk) + ' => ' + inspect(e[1], depth + 1, walk), '{', '}');
    if (value instanceof Set) return 'Set(' + value.size + ') ' + entriesOf(value.values(), value.size, (v) => inspect(v, depth + 1, walk), '{', '}');
    if (isList) {
      const name = Array.isArray(value) ? '' : value.constructor.name + '(' + value.length + ') ';
      return name + entriesOf(Array.prototype.values.call(value), value.length, (v) => inspect(v, depth + 1, walk), '[', ']');
    }
    const keys = Object.keys(value);
    const proto = Object.getPrototypeOf(value);
    const name = proto === null ? '[Object: null prototype] ' : proto === Object.prototype ? '' : ((proto.constructor && proto.constructor.name) || 'Object') + ' ';
    const show = (key) => {
      const property = Object.getOwnPropertyDescriptor(value, key);
      const shown = property && 'value' in property ? inspect(property.value, depth + 1, walk) : '[Getter/Setter]';
      return (/^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key)) + ': ' + shown;
    };
    return name + entriesOf(keys.values(), keys.length, show, '{', '}');
  }

  function entriesOf(iterator, size, show, open, close) {
    const items = [];
    for (const item of iterator) {
      if (items.length === MAX_ITEMS) break;
      items.push(show(item));
    }
    if (size > items.length) items.push('… ' + (size - items.length) + ' more');
    return items.length === 0 ? open + close : open + ' ' + items.join(', ') + ' ' + close;
  }

  /** An element as its start tag (id and class), other nodes by their kind. */
  function describeNode(node) {
    if (node.nodeType === 1) {
      const id = node.id ? ' id="' + node.id + '"' : '';
      const cls = node.getAttribute('class') ? ' class="' + node.getAttribute('class') + '"' : '';
      return '<' + node.localName + id + cls + '>';
    }
    if (node.nodeType === 3) return '#text ' + JSON.stringify(cutString(node.data));
    return node.nodeName;
  }

  function cutString(text) {
    return text.length <= MAX_STRING ? text : text.slice(0, MAX_STRING) + '… (' + (text.length - MAX_STRING) + ' more characters)';
  }

  // ---- The page keeps its place -------------------------------------------------------------

  const PLACE_KEY = 'tiny-server.place:';
  /** A saved place older than this belongs to an earlier visit, not to the reload that saved it. */
  const PLACE_MAX_AGE_MS = 60000;
  /** After the load event, layout changes (late images, fonts) restore the scroll for this long. */
  const PLACE_SETTLE_MS = 3000;
  /** Inputs whose typed text is kept: never passwords, files, checkboxes or hidden fields. */
  const TEXT_TYPES = new Set(['text', 'search', 'email', 'url', 'tel', 'number', 'date', 'time', 'datetime-local', 'month', 'week', 'color', 'range']);
  /** Fields whose value is a secret whatever their type (HTML autofill tokens). */
  const SECRET_AUTOCOMPLETE = /password|one-time-code|cc-/i;

  function placeKey() {
    return PLACE_KEY + location.pathname + location.search;
  }

  /** Where a page that reloads for a change leaves the last change it saw (see replayMissed). */
  function seenKey() {
    return 'tiny-server.seen:' + location.pathname + location.search;
  }

  function savePlace() {
    sessionStorage.setItem(placeKey(), JSON.stringify(placeNow()));
  }

  /** The page's place as savePlace keeps it: scroll, id'd boxes' scroll, typed fields, focus. */
  function placeNow() {
    const place = { at: Date.now(), x: window.scrollX, y: window.scrollY, boxes: [], fields: [], focus: null };
    for (const el of document.querySelectorAll('[id]')) {
      if ((el.scrollTop || el.scrollLeft) && place.boxes.length < 200) place.boxes.push({ id: el.id, top: el.scrollTop, left: el.scrollLeft });
    }
    for (const field of document.querySelectorAll('input, textarea, select')) {
      const key = fieldKey(field);
      if (key === null || !keepable(field)) continue;
      if (isDefault(field)) continue;
      if (field.localName === 'select') place.fields.push({ key, values: Array.from(field.selectedOptions, (o) => o.value) });
      else place.fields.push({ key, value: field.value });
    }
    const active = document.activeElement;
    if (active && active !== document.body && active !== document.documentElement) {
      place.focus = { key: active.id ? '#' + CSS.escape(active.id) : cssPath(active), start: null, end: null };
      try {
        place.focus.start = active.selectionStart;
        place.focus.end = active.selectionEnd;
      } catch {
        // Inputs such as type=number have no selection.
      }
    }
    return place;
  }

  /** True while a field shows what the document says (neither the user nor the browser changed it). */
  function isDefault(field) {
    if (field.localName !== 'select') return field.value === field.defaultValue;
    const options = Array.from(field.options);
    if (field.multiple) return options.every((o) => o.selected === o.defaultSelected);
    // A single select without a `selected` attribute shows its first option.
    return field.selectedIndex === Math.max(0, options.findIndex((o) => o.defaultSelected));
  }

  function keepable(field) {
    if (SECRET_AUTOCOMPLETE.test(field.getAttribute('autocomplete') || '')) return false;
    return field.localName !== 'input' || TEXT_TYPES.has(field.type);
  }

  /** `#id`, or the name and its index among fields of that name; null for a field with neither. */
  function fieldKey(field) {
    if (field.id) return '#' + CSS.escape(field.id);
    if (!field.name) return null;
    return 'name:' + Array.prototype.indexOf.call(document.getElementsByName(field.name), field) + ':' + field.name;
  }

  function findField(key) {
    if (key.charAt(0) === '#') return document.querySelector(key);
    const match = /^name:(\d+):(.*)$/s.exec(key);
    return match ? document.getElementsByName(match[2])[Number(match[1])] || null : null;
  }

  /** A selector for an element without an id: tag and position up from the nearest id'd ancestor. */
  function cssPath(el) {
    const steps = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      if (node.id && node !== el) {
        steps.unshift('#' + CSS.escape(node.id));
        break;
      }
      let index = 1;
      for (let sibling = node.previousElementSibling; sibling; sibling = sibling.previousElementSibling) {
        if (sibling.localName === node.localName) index++;
      }
      steps.unshift(node.localName + ':nth-of-type(' + index + ')');
    }
    return steps.join(' > ');
  }

  /** Restores the place a reload saved, once: it is removed from storage as it is read. */
  function restorePlace() {
    const key = placeKey();
    const saved = sessionStorage.getItem(key);
    if (saved === null) return;
    sessionStorage.removeItem(key);
    const place = JSON.parse(saved);
    if (!place || typeof place.at !== 'number' || Date.now() - place.at > PLACE_MAX_AGE_MS) return;
    const fields = Array.isArray(place.fields) ? place.fields : [];
    const boxes = Array.isArray(place.boxes) ? place.boxes : [];
    const ready = () => {
      const missing = fields.filter((saved) => !safelyRestoreField(saved));
      safely(() => restoreFocus(place.focus));
      keepScroll(place, boxes);
      // Fields a script adds while the page loads exist by its load event.
      if (missing.length > 0) whenLoaded(() => missing.forEach(safelyRestoreField));
    };
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => safely(ready), { once: true });
    else ready();
  }

  function whenLoaded(action) {
    if (document.readyState === 'complete') safely(action);
    else addEventListener('load', () => safely(action), { once: true });
  }

  /** False when the field is not there (yet); a field the browser or the user changed is kept. */
  function safelyRestoreField(saved) {
    try {
      const field = findField(String(saved.key));
      if (!field || !keepable(field) || !isDefault(field)) return !!field;
      if (field.localName === 'select') {
        for (const option of field.options) option.selected = saved.values.includes(option.value);
      } else {
        field.value = String(saved.value);
      }
      // Frameworks keep their own copy of a field's value and learn of changes from these events.
      field.dispatchEvent(new Event('input', { bubbles: true }));
      field.dispatchEvent(new Event('change', { bubbles: true }));
      return true;
    } catch {
      return true;
    }
  }

  function restoreFocus(focus) {
    if (!focus || typeof focus.key !== 'string') return;
    const el = document.querySelector(focus.key);
    if (!el || typeof el.focus !== 'function') return;
    el.focus({ preventScroll: true });
    if (typeof focus.start === 'number' && typeof el.setSelectionRange === 'function') el.setSelectionRange(focus.start, focus.end);
  }

  /**
   * Scrolls back now and again whenever layout may have moved (the load event, a frame later,
   * images loading, the document resizing) until the page has settled or the user scrolls.
   */
  function keepScroll(place, boxes) {
    const userInput = ['wheel', 'touchstart', 'keydown', 'mousedown'];
    let active = true;
    let observer = null;
    const apply = () => {
      if (!active) return;
      window.scrollTo(Number(place.x) || 0, Number(place.y) || 0);
      for (const box of boxes) {
        const el = document.getElementById(String(box.id));
        if (!el) continue;
        el.scrollTop = Number(box.top) || 0;
        el.scrollLeft = Number(box.left) || 0;
      }
    };
    const onLoad = () => safely(apply);
    const stop = () => {
      active = false;
      for (const type of userInput) removeEventListener(type, stop, true);
      document.removeEventListener('load', onLoad, true);
      if (observer) observer.disconnect();
    };
    for (const type of userInput) addEventListener(type, stop, true);
    document.addEventListener('load', onLoad, true);
    if (typeof ResizeObserver === 'function') {
      observer = new ResizeObserver(onLoad);
      observer.observe(document.documentElement);
    }
    apply();
    requestAnimationFrame(onLoad);
    whenLoaded(() => {
      apply();
      requestAnimationFrame(onLoad);
      setTimeout(stop, PLACE_SETTLE_MS);
    });
  }

  if (typeof document === 'undefined') runWorker();
  else runPage();
})();
