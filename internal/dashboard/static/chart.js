// A small line chart on <canvas>: series of numbers drawn left to right,
// scaled to their common range, with the range written in the corner. It
// records how many points it drew in the canvas's data-points attribute.
'use strict';

function drawChart(canvas, series) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width, height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  let lo = Infinity, hi = -Infinity, longest = 0, points = 0;
  for (const s of series) {
    for (const v of s.values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    longest = Math.max(longest, s.values.length);
  }
  if (longest === 0) { canvas.dataset.points = '0'; return; }
  if (lo === hi) { lo -= 1; hi += 1; }
  const pad = 8, top = 18;
  const x = (i) => pad + (width - 2 * pad) * (longest === 1 ? 1 : i / (longest - 1));
  const y = (v) => height - pad - (height - pad - top) * (v - lo) / (hi - lo);
  ctx.strokeStyle = '#e3e6eb';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(pad, y(lo)); ctx.lineTo(width - pad, y(lo));
  ctx.stroke();
  for (const s of series) {
    const offset = longest - s.values.length;
    ctx.strokeStyle = s.color;
    ctx.fillStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    s.values.forEach((v, i) => {
      const px = x(i + offset), py = y(v);
      if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
    });
    ctx.stroke();
    if (s.values.length === 1) ctx.fillRect(x(offset) - 2, y(s.values[0]) - 2, 4, 4);
    points += s.values.length;
  }
  ctx.fillStyle = '#687083';
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillText(formatNumber(lo) + ' … ' + formatNumber(hi), pad, 12);
  canvas.dataset.points = String(points);
}

function formatNumber(v) {
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + 'M';
  if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(1) + 'k';
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
