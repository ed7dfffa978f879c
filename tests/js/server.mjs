// Starts a published arc-native binary on a free loopback port over a fresh data directory, and stops it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

async function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

export async function startServer(binary, env = {}) {
  const work = mkdtempSync(join(tmpdir(), 'arc-js-'));
  const port = await freePort();
  const log = [];
  // Authentication is on by default: install an admin token at startup and send it with every request.
  const token = `arc_${randomBytes(24).toString('hex')}`;
  const child = spawn(resolve(binary), [], {
    cwd: work,
    env: {
      ...process.env,
      ARC_SERVER_HOST: '127.0.0.1',
      ARC_SERVER_PORT: String(port),
      ARC_STORAGE_LOCAL_PATH: join(work, 'data'),
      // Not ./data/arc.db, which would lie inside the storage root (the server refuses to start so).
      ARC_AUTH_DB_PATH: join(work, 'auth', 'arc.db'),
      ARC_AUTH_BOOTSTRAP_TOKEN: token,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => log.push(d.toString()));
  child.stderr.on('data', (d) => log.push(d.toString()));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(`${url}/ready`)).ok) {
        return { url, token, log, stop: () => stop(child, work) };
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
  throw new Error(`server did not become ready:\n${log.join('')}`);
}

async function stop(child, work) {
  if (child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(work, { recursive: true, force: true });
}
