// Structured JSON log lines on stdout: mcpd redirects stdout to a size-rotated
// file per instance (`mcpctl logs`), so one JSON object per line keeps them
// machine-readable. Registered secrets are masked in every line as a last line
// of defence: callers should never pass them in the first place.

const LEVELS = {debug: 10, info: 20, warn: 30, error: 40};

export function parseLogLevel(value) {
  const v = String(value ?? '').trim().toLowerCase();
  if (v === 'warning') return 'warn';
  return v in LEVELS ? v : 'info';
}

export function createLogger({level = 'info', base = {}, stream = process.stdout} = {}) {
  let threshold = LEVELS[parseLogLevel(level)];
  const secrets = new Set();

  function mask(line) {
    for (const s of secrets) {
      if (line.includes(s)) line = line.split(s).join('***');
    }
    return line;
  }

  function write(lvl, msg, fields) {
    if (LEVELS[lvl] < threshold) return;
    const record = {ts: new Date().toISOString(), level: lvl, msg, ...base, ...fields};
    let line;
    try {
      line = JSON.stringify(record, errorReplacer);
    } catch {
      line = JSON.stringify({ts: record.ts, level: lvl, msg, ...base, note: 'unserialisable fields'});
    }
    stream.write(mask(line) + '\n');
  }

  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields) => write('warn', msg, fields),
    error: (msg, fields) => write('error', msg, fields),
    enabled: (lvl) => LEVELS[lvl] >= threshold,
    setLevel: (lvl) => { threshold = LEVELS[parseLogLevel(lvl)]; },
    // Short values (< 8 chars) are not masked: they would garble ordinary text.
    addSecret: (value) => { if (typeof value === 'string' && value.length >= 8) secrets.add(value); },
  };
}

function errorReplacer(_key, value) {
  if (value instanceof Error) return {name: value.name, message: value.message, code: value.code};
  if (typeof value === 'bigint') return value.toString();
  return value;
}
