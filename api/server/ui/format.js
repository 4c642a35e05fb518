// How the page writes times, CPU and memory: as kubectl does (kubectl get's ages, kubectl top's
// millicores and Mi).

// "1d2h", "3h4m", "5m6s", "7s": the largest two units of a span in ms.
export function span(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) return h ? `${d}d${h}h` : `${d}d`;
  if (h) return m ? `${h}h${m}m` : `${h}h`;
  if (m) return s ? `${m}m${s}s` : `${m}m`;
  return `${s}s`;
}

// Time since an RFC 3339 timestamp.
export function age(timestamp, now) {
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? '' : span(now - t);
}

// Time left until an RFC 3339 timestamp: "" when there is none, "expired" once past.
export function countdown(timestamp, now) {
  if (!timestamp) return '';
  const t = Date.parse(timestamp);
  if (Number.isNaN(t)) return '';
  return t <= now ? 'expired' : span(t - now);
}

// Percent of a core as millicores ("250m"); "" when not measured.
export function cpu(percent) {
  return typeof percent === 'number' ? `${Math.round(percent * 10)}m` : '';
}

// Bytes in binary units ("45Mi"); "" when not measured.
export function memory(bytes) {
  if (typeof bytes !== 'number') return '';
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)}Gi`;
  if (bytes >= 1024 ** 2) return `${Math.round(bytes / 1024 ** 2)}Mi`;
  return `${Math.round(bytes / 1024)}Ki`;
}

// The Ready condition's status: "True", "False", "Unknown", or "" when there is none.
export function readyOf(obj) {
  const conditions = (obj.status && obj.status.conditions) || [];
  const ready = conditions.find((c) => c.type === 'Ready');
  return ready ? ready.status : '';
}
