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
// A stream that reconnects to a restarted server (a different instance id) reloads every page once.
(function () {
  'use strict';

  /** Opens the event stream at `url`; calls `emit` with change and restart messages. */
  function connect(url, emit) {
    let instance = null;
    let delay = 500;
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
          emit({ type: 'connected' });
        } else if (message.type === 'change') {
          emit(message);
        }
      };
      // EventSource retries network errors itself but gives up on an HTTP error (a proxy's 502
      // while the server restarts); then this loop reconnects with a growing delay.
      source.onerror = () => {
        if (source.readyState !== EventSource.CLOSED) return;
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 10000);
      };
    };
    open();
  }

  function runWorker() {
    let ports = [];
    const last = {};
    connect(new URL('events', self.location.href), (message) => {
      if (message.type === 'connected') last.connected = message;
      for (const port of ports) port.postMessage(message);
    });
    self.onconnect = (event) => {
      const port = event.ports[0];
      ports.push(port);
      port.onmessage = (e) => {
        ports = ports.filter((p) => p !== port);
        if (e.data === 'back') ports.push(port);
      };
      if (last.connected) port.postMessage(last.connected);
    };
  }

  function runPage() {
    const script = document.currentScript;
    const key = Symbol.for('tiny-server.reload');
    if (!script || window[key]) return;
    const state = { connected: false };
    window[key] = state;
    // The client is served at <root>/.tiny-server/reload/client.js.
    const root = new URL('../../', script.src);
    let reloading = false;
    let timingFull = false;
    if (window.performance && performance.addEventListener) {
      performance.addEventListener('resourcetimingbufferfull', () => {
        timingFull = true;
      });
    }

    const onMessage = (message) => {
      if (reloading) return;
      if (message.type === 'connected') state.connected = true;
      else if (message.type === 'restart') reload();
      else if (message.type === 'change' && Array.isArray(message.paths)) onChange(message.paths);
    };
    const reload = () => {
      reloading = true;
      location.reload();
    };

    function onChange(paths) {
      const sheets = linkedSheets();
      const swaps = [];
      let mustReload = false;
      for (const path of paths) {
        const changed = pathKey(new URL('.' + path, root));
        const own = sheets.filter((sheet) => sheet.key === changed);
        if (own.length > 0) swaps.push(...own.map((sheet) => sheet.link));
        else if (dependsOn(changed)) mustReload = true;
      }
      if (mustReload) reload();
      else swaps.forEach(swap);
    }

    function linkedSheets() {
      return Array.from(document.querySelectorAll('link[rel~="stylesheet" i][href]'))
        .filter((link) => sameOrigin(link.href))
        .map((link) => ({ link, key: pathKey(new URL(link.href)) }));
    }

    function dependsOn(changed) {
      const used = [pathKey(location)];
      if (used[0].endsWith('/')) used.push(used[0] + 'index.html', used[0] + 'index.htm');
      if (!window.performance || !performance.getEntriesByType) return true;
      const entries = performance.getEntriesByType('resource');
      if (timingFull || entries.length >= 250) return true;
      for (const entry of entries) if (sameOrigin(entry.name)) used.push(pathKey(new URL(entry.name)));
      const below = changed.endsWith('/') ? changed : changed + '/';
      return used.some((path) => path === changed || path.startsWith(below));
    }

    function swap(link) {
      const next = link.cloneNode(false);
      const url = new URL(link.href);
      url.searchParams.set('tiny-reload', String(Date.now()));
      next.href = url.href;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        link.remove();
      };
      next.addEventListener('load', finish);
      next.addEventListener('error', finish);
      setTimeout(finish, 5000);
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

  if (typeof document === 'undefined') runWorker();
  else runPage();
})();
