// The console's script (templates/console.html): a file, so the page's CSP allows no inline script.
(function () {
  var status = document.getElementById('status');
  function say(text) { status.textContent = text; }
  function poll(id, tries) {
    fetch('/api/perf-fix/runs/' + id).then(function (r) { return r.json(); }).then(function (run) {
      if (['queued', 'running'].indexOf(run.state) >= 0 && tries > 0) {
        say('run ' + id + ' ' + run.state + '...');
        setTimeout(function () { poll(id, tries - 1); }, 500);
      } else {
        location.hash = 'run-' + id;
        location.reload();
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
          poll(result[1].id, 240);
        });
    });
  });
})();
