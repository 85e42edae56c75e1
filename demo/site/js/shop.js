// The demo's deliberate problems: a banner inserted after load (layout shift) and a click handler that
// blocks the main thread (slow INP).
setTimeout(function () {
  var promo = document.createElement('div');
  promo.className = 'promo';
  promo.textContent = 'Winter sale: 20% off all tents this week';
  document.getElementById('promo-slot').appendChild(promo);
}, 600);
document.getElementById('add').addEventListener('click', function () {
  var until = performance.now() + 280;
  while (performance.now() < until) { /* busy: a heavy, synchronous cart update */ }
  document.getElementById('status').textContent = 'added to cart';
});
