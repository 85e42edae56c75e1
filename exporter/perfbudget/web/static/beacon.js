/*! perfbudget beacon: sends Google's web-vitals measurements to a perfbudget exporter.
 *
 * Include the web-vitals IIFE build first (it defines window.webVitals), then this script:
 *   <script src="/js/web-vitals.attribution.iife.js"></script>
 *   <script src="https://perfbudget.example.com/beacon.js" data-endpoint="https://perfbudget.example.com/api/web-vitals"></script>
 * Attributes (all optional):
 *   data-endpoint      where beacons go; by default /api/web-vitals on the host that served this file.
 *   data-soft-navs     report each soft navigation of a single-page app on its own (web-vitals' reportSoftNavs;
 *                      browsers without the Soft Navigations API report hard navigations only).
 *   data-keep-query    send page and resource URLs whole; by default their query string and fragment are cut.
 *   data-credentials   "include": the fetch fallback sends cookies; by default it omits them.
 *   data-before-send   the name of a global function (report) => report | null that may edit or drop each
 *                      report before it is sent; without it, window.perfbudgetBeforeSend is used if defined.
 *   data-site          the site the page belongs to (counted only when it names one of the exporter's sites;
 *                      without it, the exporter picks the site from the page URL's host).
 *   data-version       the release the page was built from (counted only when the exporter knows the
 *                      version: configured, or announced with POST /api/releases; anything else is `other`).
 * The sample rate is the exporter's (beacons.sample_rate), written into this file when it is served: one draw
 * per page view decides whether the page view reports at all. Nothing is loaded from the internet.
 * Each metric is sent once, at the page's first hide (INP is followed with reportAllChanges but only its
 * latest value per metric id is kept, so a value the library settles during the hide is not lost).
 */
(function () {
  'use strict';
  var SAMPLE_RATE = /*perfbudget:sample-rate*/1;
  var script = document.currentScript;
  function attr(name) { return script ? script.getAttribute(name) : null; }
  var endpoint = attr('data-endpoint') ||
    (script && script.src ? new URL('/api/web-vitals', script.src).href : '/api/web-vitals');
  var wv = window.webVitals;
  if (!wv || typeof wv.onLCP !== 'function') {
    if (window.console) console.warn('perfbudget: window.webVitals is missing; include the web-vitals IIFE build before beacon.js');
    return;
  }
  // The one draw of this page view (soft navigations and bfcache restores included follow it).
  if (!(Math.random() < SAMPLE_RATE)) return;

  var softNavs = !!script && script.hasAttribute('data-soft-navs') && attr('data-soft-navs') !== 'false';
  var keepQuery = !!script && script.hasAttribute('data-keep-query') && attr('data-keep-query') !== 'false';
  var credentials = attr('data-credentials') === 'include' ? 'include' : 'omit';
  var hookName = attr('data-before-send');
  var site = attr('data-site') || undefined;
  var version = attr('data-version') || undefined;
  // A batch never exceeds the exporter's default beacons.max_batch (32).
  var MAX_QUEUE = 24;

  var queue = [];
  var scheduled = false;
  var hiding = false;       // inside a visibilitychange to hidden: the final flush is at its end
  var inpReported = false;  // an INP report was made in this page view
  var inpMissingSent = false;
  var latestInpId = null;
  var device = (navigator.userAgentData && navigator.userAgentData.mobile === true) ? 'phone' : undefined;

  function clean(url) {
    if (typeof url !== 'string' || keepQuery) return url;
    return url.split(/[?#]/)[0];
  }

  function pick(source, names) {
    var out = {};
    for (var i = 0; i < names.length; i++) {
      var value = source[names[i]];
      if (value !== undefined && value !== null && typeof value !== 'object') out[names[i]] = value;
    }
    return out;
  }

  // Attribution flattened to plain fields (DOM nodes and performance entries do not serialise).
  function attribution(metric) {
    var a = metric.attribution;
    if (!a) return undefined;
    switch (metric.name) {
      case 'LCP': {
        var lcp = pick(a, ['target', 'url', 'timeToFirstByte', 'resourceLoadDelay', 'resourceLoadDuration', 'elementRenderDelay']);
        if (!lcp.target && typeof a.element === 'string') lcp.target = a.element;
        if (lcp.url) lcp.url = clean(lcp.url);
        return lcp;
      }
      case 'INP': {
        var inp = pick(a, ['interactionTarget', 'interactionType', 'inputDelay', 'processingDuration', 'presentationDelay', 'loadState']);
        if (!inp.interactionTarget && typeof a.eventTarget === 'string') inp.interactionTarget = a.eventTarget;
        var ls = a.longestScript;
        if (ls && ls.entry) {
          inp.longestScript = {
            url: clean(ls.entry.sourceURL) || undefined,
            invoker: ls.entry.invoker || undefined,
            subpart: ls.subpart,
            intersectingDuration: ls.intersectingDuration
          };
        }
        return inp;
      }
      case 'CLS':
        return pick(a, ['largestShiftTarget', 'largestShiftValue', 'largestShiftTime', 'loadState']);
      case 'FCP':
        return pick(a, ['timeToFirstByte', 'firstByteToFCP', 'loadState']);
      case 'TTFB':
        return pick(a, ['waitingDuration', 'cacheDuration', 'dnsDuration', 'connectionDuration', 'requestDuration']);
    }
    return undefined;
  }

  function beforeSend(report) {
    var hook = hookName ? window[hookName] : window.perfbudgetBeforeSend;
    if (typeof hook !== 'function') {
      if (hookName && window.console) console.warn('perfbudget: data-before-send names ' + hookName + ', which is not a global function; nothing is sent');
      return hookName ? null : report;
    }
    try {
      var out = hook(report);
      return out && typeof out === 'object' ? out : null;
    } catch (e) {
      if (window.console) console.warn('perfbudget: the before-send hook threw, the report is dropped', e);
      return null;
    }
  }

  function interacted() {
    return typeof performance.interactionCount === 'number' ? performance.interactionCount > 0 : interactions > 0;
  }
  var interactions = 0;
  if (typeof performance.interactionCount !== 'number') {
    addEventListener('pointerup', function () { interactions++; }, true);
    addEventListener('keydown', function () { interactions++; }, true);
  }

  // final: the end of a hide, when web-vitals has reported what it reports for it.
  function flush(final, holdLatestInp) {
    scheduled = false;
    var held = [];
    var out = [];
    for (var i = 0; i < queue.length; i++) {
      if (holdLatestInp && queue[i].name === 'INP' && queue[i].id === latestInpId) { held.push(queue[i]); continue; }
      var report = beforeSend(queue[i]);
      if (report) out.push(report);
    }
    queue = held;
    // The page saw an interaction but no INP came by the end of its hide: say so, once, on the batch's
    // last report, so the exporter can count the page views INP misses (perfbudget_inp_missing_total).
    if (final && !inpReported && !inpMissingSent && out.length && interacted()) {
      out[out.length - 1].inpMissing = true;
      inpMissingSent = true;
    }
    if (!out.length) return;
    var body = JSON.stringify(out);
    var sent = false;
    try { sent = !!(navigator.sendBeacon && navigator.sendBeacon(endpoint, body)); } catch (e) { sent = false; }
    if (!sent && window.fetch) {
      fetch(endpoint, {
        method: 'POST', body: body, keepalive: true, credentials: credentials, mode: 'cors',
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' }
      }).catch(function () {});
    }
  }

  function add(metric) {
    var report = {
      name: metric.name, value: metric.value, delta: metric.delta, id: metric.id,
      rating: metric.rating, navigationType: metric.navigationType,
      pageUrl: clean(location.href), timestamp: Date.now()
    };
    // The URL of the navigation the metric belongs to (a soft navigation's own, or the page's as loaded),
    // not the one the page shows when the batch leaves: the exporter routes by it.
    if (metric.navigationURL) report.navigationURL = clean(metric.navigationURL);
    if (device) report.device = device;
    if (site) report.site = site;
    if (version) report.version = version;
    var detail = attribution(metric);
    if (detail) report.attribution = detail;
    if (metric.name === 'INP') {
      inpReported = true;
      latestInpId = metric.id;
      // reportAllChanges: keep only the latest value of each INP metric id until it is sent.
      for (var i = 0; i < queue.length; i++) {
        if (queue[i].name === 'INP' && queue[i].id === metric.id) { queue.splice(i, 1); break; }
      }
    }
    queue.push(report);
    if (queue.length >= MAX_QUEUE) flush(false, true);
    // Reports made while the page is hidden outside a visibilitychange (a late callback) go out together.
    if (document.visibilityState === 'hidden' && !hiding && !scheduled) {
      scheduled = true;
      (window.queueMicrotask || function (fn) { Promise.resolve().then(fn); })(function () { flush(false, false); });
    }
  }

  // Registered before the library's own listeners, so it runs first in the capture phase: what the library
  // reports during the hide (its idle-callback INP included) is held for the flush at the end of the event.
  addEventListener('visibilitychange', function () { if (document.visibilityState === 'hidden') hiding = true; }, true);

  var opts = { reportSoftNavs: softNavs };
  wv.onTTFB(add, opts);
  wv.onFCP(add, opts);
  wv.onLCP(add, opts);
  wv.onCLS(add, opts);
  wv.onINP(add, { reportSoftNavs: softNavs, reportAllChanges: true });
  // Registered after the library's listeners, in the bubble phase, so they run after its hide handlers.
  addEventListener('visibilitychange', function () {
    if (document.visibilityState !== 'hidden') return;
    hiding = false;
    flush(true, false);
  });
  addEventListener('pagehide', function () { flush(false, false); });
})();
