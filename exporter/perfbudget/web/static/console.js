// The console's script (templates/console.html): a file, so the page's CSP allows no inline script.
// Every server.console_refresh_seconds (data-refresh) it fetches the page again and swaps its live parts
// ([data-live]: the vitals, the runs, the routes) in place: no reload, so the token typed stays. While a run
// is queued or running (one started here or by an alert) it refreshes every 2 s until the run is final.
(function () {
  var status = document.getElementById('status');
  var stamp = document.getElementById('refreshed');
  var every = parseInt(document.body.getAttribute('data-refresh') || '0', 10);
  var chosen = null;  // the run a person opened ('' when they closed them all); null: the latest stays open
  var timer = null;
  function say(text) { status.textContent = text; }
  function openOnly(id) {
    document.querySelectorAll('details.run').forEach(function (run) { run.open = run.id === 'run-' + id; });
  }
  function busy() {
    return document.querySelector('details.run[data-state="queued"], details.run[data-state="running"]') !== null;
  }
  function schedule() {
    clearTimeout(timer);
    var wait = busy() ? 2000 : every * 1000;
    if (wait > 0) timer = setTimeout(refresh, wait);
  }
  function refresh() {
    clearTimeout(timer);
    return fetch(location.pathname + location.search, {headers: {'Accept': 'text/html'}, cache: 'no-store'})
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, 'text/html');
        document.querySelectorAll('[data-live]').forEach(function (part) {
          var next = fresh.getElementById(part.id);
          if (next) part.replaceWith(document.importNode(next, true));
        });
        if (chosen !== null) openOnly(chosen);
        stamp.textContent = '· updated ' + new Date().toLocaleTimeString([], {timeZoneName: 'short'});
      })
      .catch(function (error) { stamp.textContent = '· refresh failed: ' + error.message; })
      .then(schedule);
  }
  document.addEventListener('click', function (event) {
    var summary = event.target.closest('details.run > summary');
    if (!summary) return;
    var run = summary.parentNode;
    chosen = run.open ? '' : run.id.slice(4);  // the click is about to toggle it
  });
  // The site selector (with sites configured) shows that site's summary: ?site= (delegated, as the vitals part
  // it sits in is swapped on every refresh).
  document.addEventListener('change', function (event) {
    if (event.target.id === 'site') event.target.form.submit();
  });
  document.getElementById('token-form').addEventListener('submit', function (event) {
    event.preventDefault();  // the token is only kept here, never sent anywhere but with a run
  });
  function poll(id, tries) {
    fetch('/api/perf-fix/runs/' + id).then(function (r) { return r.json(); }).then(function (run) {
      if (['queued', 'running'].indexOf(run.state) >= 0 && tries > 0) {
        say('run ' + id + ' ' + run.state + '...');
        setTimeout(function () { poll(id, tries - 1); }, 500);
      } else {
        say('run ' + id + ' ' + run.state);
        chosen = id;
        refresh();
      }
    });
  }
  document.querySelectorAll('button[data-playbook]').forEach(function (button) {
    button.addEventListener('click', function () {
      var execute = button.getAttribute('data-execute') === 'true';
      var headers = {'Content-Type': 'application/json'};
      var token = document.getElementById('token').value;
      if (execute && token) headers['Authorization'] = 'Bearer ' + token;
      var body = {playbookId: button.getAttribute('data-playbook'), dryRun: !execute, autoApprove: execute};
      say('starting ' + body.playbookId + '...');
      fetch('/api/perf-fix', {method: 'POST', headers: headers, body: JSON.stringify(body)})
        .then(function (r) { return r.json().then(function (answer) { return [r.status, answer]; }); })
        .then(function (result) {
          if (result[0] >= 400) { say('refused (' + result[0] + '): ' + result[1].error); return; }
          var id = result[1].id || result[1].runId;
          // 200: the run ended within the server's wait (the answer says what it did); 202: poll it.
          if (result[0] === 200) { say('run ' + id + ' ' + result[1].state + ': ' + result[1].message); chosen = id; refresh(); return; }
          poll(id, 240);
        });
    });
  });
  schedule();
})();
