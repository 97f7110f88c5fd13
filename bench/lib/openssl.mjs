// Single-core signing speed of this machine's OpenSSL: the floor that token
// issuance is compared against.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

const PATTERNS = {
  rsa2048: /^\s*rsa\s+2048\s+bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/m,
  ecdsap256: /^\s*256\s+bits\s+ecdsa\s+\(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/m,
  ed25519: /^\s*\d+\s+bits\s+EdDSA\s+\(Ed25519\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/m,
};

/** Parses `openssl speed` output into {algo: {sign, verify}} (operations per second). */
export function parseOpensslSpeed(text) {
  const out = {};
  for (const [name, re] of Object.entries(PATTERNS)) {
    const m = re.exec(text);
    if (m) out[name] = { sign: Number(m[1]), verify: Number(m[2]) };
  }
  return out;
}

/**
 * Runs `openssl speed -seconds N` for each algorithm in turn: single core, or
 * with `multi` > 1 as `-multi <multi>` (that many processes at once; the
 * figures are then the sum over them).
 */
export async function opensslSpeed({ seconds = 5, algorithms = ['rsa2048', 'ecdsap256', 'ed25519'], multi = 1 } = {}) {
  const result = {};
  for (const algo of algorithms) {
    const args = ['speed', '-seconds', String(seconds), ...(multi > 1 ? ['-multi', String(multi)] : []), algo];
    const { stdout } = await run('openssl', args, {
      maxBuffer: 1 << 20,
    });
    const parsed = parseOpensslSpeed(stdout)[algo];
    if (!parsed) throw new Error(`could not parse openssl speed ${algo} output:\n${stdout}`);
    result[algo] = parsed;
  }
  const { stdout: version } = await run('openssl', ['version']);
  result.version = version.trim();
  return result;
}
