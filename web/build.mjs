// Bundles the console (src/) with esbuild into src/Arc.Native/Console/assets, which the server embeds and serves:
// app-<hash>.js and app-<hash>.css (content-hashed names, cached for a year) and index.html naming them (never cached).
// The output depends only on the sources and the locked packages, so the committed assets can be checked:
//   node build.mjs            rebuild the committed assets
//   node build.mjs --check    rebuild into a temporary folder and fail if it differs from the committed assets
import * as esbuild from 'esbuild';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const committed = join(here, '..', 'src', 'Arc.Native', 'Console', 'assets');
const check = process.argv.includes('--check');
const out = check ? mkdtempSync(join(tmpdir(), 'arc-console-')) : committed;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: 'src/main.js' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022', 'chrome109', 'firefox115', 'safari16'],
  entryNames: '[name]-[hash]',
  outdir: out,
  metafile: true,
  legalComments: 'eof',
  charset: 'utf8',
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((path) => basename(path));
const js = outputs.find((name) => name.endsWith('.js'));
const css = outputs.find((name) => name.endsWith('.css'));
const html = readFileSync(join(here, 'src', 'index.html'), 'utf8').replace('{{app.js}}', js).replace('{{app.css}}', css);
writeFileSync(join(out, 'index.html'), html);

const sizes = readdirSync(out).sort().map((name) => {
  const bytes = readFileSync(join(out, name));
  return `${name} ${bytes.length} B`;
});

if (!check) {
  console.log(`console assets in ${committed}:\n  ${sizes.join('\n  ')}`);
} else {
  const names = (dir) => readdirSync(dir).sort();
  const built = names(out);
  const stored = names(committed);
  const stale = built.length !== stored.length || built.some((name, i) =>
    name !== stored[i] || !readFileSync(join(out, name)).equals(readFileSync(join(committed, name))));
  rmSync(out, { recursive: true, force: true });
  if (stale) {
    console.error(`the committed console assets are not what web/src builds to:\n  built:     ${built.join(' ')}\n  committed: ${stored.join(' ')}\n` +
      'run `npm ci && node build.mjs` in web/ and commit src/Arc.Native/Console/assets');
    process.exit(1);
  }
  console.log(`console assets are up to date (${built.join(', ')})`);
}
