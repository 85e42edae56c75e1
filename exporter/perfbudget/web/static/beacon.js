/*! perfbudget beacon: sends Google's web-vitals measurements to a perfbudget exporter.
 *
 * Include the web-vitals IIFE build first (it defines window.webVitals), then this script:
 *   <script src="/js/web-vitals.attribution.iife.js"></script>
 *   <script src="https://perfbudget.example.com/beacon.js" data-endpoint="https://perfbudget.example.com/api/web-vitals"></script>
 * data-endpoint is optional: by default the beacon goes to /api/web-vitals on the host that served this file.
 * Nothing is loaded from the internet. Each metric is reported once, at the page's first hide (the
 * library's default; never reportAllChanges, whose early values are partial).
 */
(function () {
  'use strict';
  var script = document.currentScript;
  var endpoint = (script && script.getAttribute('data-endpoint')) ||
    (script && script.src ? new URL('/api/web-vitals', script.src).href : '/api/web-vitals');
  var wv = window.webVitals;
  if (!wv || typeof wv.onLCP !== 'function') {
    if (window.console) console.warn('perfbudget: window.webVitals is missing; include the web-vitals IIFE build before beacon.js');
    return;
  }

  var queue = [];
  var scheduled = false;
  var device = (navigator.userAgentData && navigator.userAgentData.mobile === true) ? 'phone' : undefined;

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
        return lcp;
      }
      case 'INP': {
        var inp = pick(a, ['interactionTarget', 'interactionType', 'inputDelay', 'processingDuration', 'presentationDelay', 'loadState']);
        if (!inp.interactionTarget && typeof a.eventTarget === 'string') inp.interactionTarget = a.eventTarget;
        var ls = a.longestScript;
        if (ls && ls.entry) {
          inp.longestScript = {
            url: ls.entry.sourceURL || undefined,
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

  function flush() {
    scheduled = false;
    if (!queue.length) return;
    var body = JSON.stringify(queue);
    queue = [];
    var sent = false;
    try { sent = !!(navigator.sendBeacon && navigator.sendBeacon(endpoint, body)); } catch (e) { sent = false; }
    if (!sent && window.fetch) {
      fetch(endpoint, {
        method: 'POST', body: body, keepalive: true, credentials: 'include', mode: 'cors',
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' }
      }).catch(function () {});
    }
  }

  function add(metric) {
    var report = {
      name: metric.name, value: metric.value, delta: metric.delta, id: metric.id,
      rating: metric.rating, navigationType: metric.navigationType,
      pageUrl: location.href, timestamp: Date.now()
    };
    if (device) report.device = device;
    var attr = attribution(metric);
    if (attr) report.attribution = attr;
    queue.push(report);
    // Reports made while the page is hidden (LCP, CLS, INP at the first hide) go out together, right
    // after the library's own hide handlers have run.
    if (document.visibilityState === 'hidden' && !scheduled) {
      scheduled = true;
      (window.queueMicrotask || function (fn) { Promise.resolve().then(fn); })(flush);
    }
  }

  wv.onTTFB(add);
  wv.onFCP(add);
  wv.onLCP(add);
  wv.onCLS(add);
  wv.onINP(add);
  // Registered after the library's listeners, so they run after its hide handlers have reported.
  addEventListener('visibilitychange', function () { if (document.visibilityState === 'hidden') flush(); });
  addEventListener('pagehide', flush);
})();
