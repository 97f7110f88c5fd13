// Runs wrk with one of the Lua scripts in bench/wrk/ and returns the JSON line
// that bench/wrk/report.lua prints from wrk's `done` hook.

import { spawn } from 'node:child_process';
import { cpuSeconds } from './proc.mjs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const WRK_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'wrk');

export function parseWrkReport(stdout) {
  const line = stdout.split('\n').find((l) => l.startsWith('{"bench":'));
  if (!line) return undefined;
  return JSON.parse(line);
}

/**
 * @param {{url: string, script: string, env?: object, threads?: number,
 *   connections?: number, duration?: number, label?: string, timeout?: string}} o
 */
export function runWrk({ url, script, env = {}, threads = 2, connections = 64, duration = 15, label = 'wrk', timeout = '5s' }) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${duration}s`, `--timeout`, timeout,
    '-s', path.join(WRK_DIR, script), url];
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, {
      env: { ...process.env, ...env, BENCH_LABEL: label, BENCH_WRK_DIR: WRK_DIR },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    // wrk's own CPU time, sampled while it runs (a process's times are gone
    // once it has exited): the last sample misses at most the final 200 ms.
    let cpu0;
    let cpuLast = 0;
    const sample = () => {
      const s = cpuSeconds(child.pid);
      if (s > 0 || cpu0 !== undefined) {
        cpu0 ??= s;
        if (s >= cpuLast) cpuLast = s;
      }
    };
    const timer = setInterval(sample, 200);
    sample();
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { err += c; });
    child.on('error', (e) => { clearInterval(timer); reject(e); });
    // 'close', not 'exit': 'exit' may fire before stdout has been read to its end, which
    // lost wrk's report now and then (an empty `out` with exit code 0).
    child.on('close', (code) => {
      clearInterval(timer);
      const report = parseWrkReport(out);
      if (code !== 0 || !report) {
        reject(new Error(`wrk ${args.join(' ')} exited ${code}\n${out}\n${err}`));
        return;
      }
      resolve({ ...report, raw: out, wrkCpuSeconds: cpuLast - (cpu0 ?? cpuLast) });
    });
  });
}
