// Reads process statistics from /proc (Linux only): resident memory and CPU
// time, the latter summed over a process and its descendants.

import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

let clkTck;
export function clockTicksPerSecond() {
  if (clkTck === undefined) {
    try {
      clkTck = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }), 10) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** VmRSS of a process in KiB, or undefined if it is gone. */
export function rssKiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

// /proc/<pid>/stat: "pid (comm) state ppid ... utime stime ..." — comm may
// contain spaces and parentheses, so fields are counted after the last ')'.
function statFields(pid) {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function descendants(pid) {
  const parentOf = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(name);
    if (f) parentOf.set(Number(name), Number(f[1]));
  }
  const out = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift();
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

/** user+system CPU seconds used so far by pid and (optionally) its descendants. */
export function cpuSeconds(pid, { withDescendants = false } = {}) {
  const pids = withDescendants ? [pid, ...descendants(pid)] : [pid];
  let ticks = 0;
  for (const p of pids) {
    const f = statFields(p);
    // After "pid (comm) ", index 0 is state; utime and stime are fields 14
    // and 15 of the full line, i.e. indexes 11 and 12 here.
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / clockTicksPerSecond();
}
