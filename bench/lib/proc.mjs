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

/**
 * Memory of a process from /proc/<pid>/status, in KiB: VmRSS and its split
 * into RssAnon (heap, stacks), RssFile (mapped files: the binary, shared
 * libraries and the memory-mapped SQLite database) and RssShmem, plus VmHWM
 * (peak RSS). Undefined if the process is gone.
 */
export function memoryKiB(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const out = {};
  for (const key of ['VmRSS', 'VmHWM', 'RssAnon', 'RssFile', 'RssShmem']) {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    if (m) out[key] = Number(m[1]);
  }
  return out;
}

/**
 * CPU ticks (user+system, and each) of every thread of pid, from
 * /proc/<pid>/task/<tid>/stat: Map tid -> {name, ticks, utime, stime}. Thread names are the
 * kernel's comm (pthread_setname_np), at most 15 characters.
 */
export function threadTicks(pid) {
  const out = new Map();
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const raw = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = raw.slice(raw.indexOf('(') + 1, raw.lastIndexOf(')'));
      const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { name, ticks: Number(f[11]) + Number(f[12]), utime: Number(f[11]), stime: Number(f[12]) });
    } catch { /* the thread ended */ }
  }
  return out;
}

/** CPU seconds per pid for pid and (optionally) its descendants: Map pid -> seconds. */
export function cpuSecondsByPid(pid, { withDescendants = false } = {}) {
  const pids = withDescendants ? [pid, ...descendants(pid)] : [pid];
  const out = new Map();
  for (const p of pids) {
    const f = statFields(p);
    if (f) out.set(p, (Number(f[11]) + Number(f[12])) / clockTicksPerSecond());
  }
  return out;
}

/**
 * Machine-wide CPU ticks from the first line of /proc/stat: {steal, idle, total}.
 * Steal is time the hypervisor ran something else while this VM wanted the
 * CPU: a run with much of it measured a slower machine.
 */
export function machineTicks() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice
    return { steal: f[7] ?? 0, idle: (f[3] ?? 0) + (f[4] ?? 0), total: f.slice(0, 8).reduce((a, b) => a + b, 0) };
  } catch {
    return { steal: 0, idle: 0, total: 0 };
  }
}
