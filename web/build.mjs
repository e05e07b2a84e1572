// Bundles the pages into dist/: GraphiQL (dist/graphiql.html) and the customer's SPA
// (dist/app.html), their scripts and styles in dist/assets/ under content-hashed names.
// Nothing in the output loads from another host, and the HTML has no inline script or
// style, so the pages work offline under a Content-Security-Policy of 'self' only.
//   node build.mjs            (npm run build)
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, "dist");
const staging = path.join(here, `dist.tmp-${process.pid}`);
const assets = path.join(staging, "assets");
const pages = { graphiql: "src/graphiql", app: "src/app" };

const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">
<rect width="64" height="64" rx="14" fill="#0b6e6e"/>
<path d="M12 40 L52 22 L46 30 L30 36 L24 48 L20 46 L22 38 Z" fill="#fff"/>
</svg>
`;

const started = Date.now();
await rm(staging, { recursive: true, force: true });
const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: Object.fromEntries(
    Object.entries(pages).map(([name, dir]) => [name, `${dir}/main.tsx`]),
  ),
  bundle: true,
  splitting: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: true,
  sourcemap: "linked",
  legalComments: "linked",
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  outdir: assets,
  entryNames: "[name]-[hash]",
  chunkNames: "chunk-[hash]",
  assetNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning",
});

// data: URLs in the bundled CSS (GraphiQL's fonts and images) become files, so the pages
// need no `data:` source in font-src or img-src.
const outputs = {};
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (!output.entryPoint) continue;
  const name = Object.keys(pages).find((page) => output.entryPoint.startsWith(pages[page]));
  outputs[name] = { js: file, css: output.cssBundle };
  if (output.cssBundle) await extractDataUrls(path.join(here, output.cssBundle));
}

for (const [name, dir] of Object.entries(pages)) {
  let html = await readFile(path.join(here, dir, "index.html"), "utf8");
  for (const kind of ["js", "css"]) {
    const file = outputs[name][kind];
    if (!file) throw new Error(`no ${kind} bundle for ${name}`);
    html = html.replaceAll(`{{${name}.${kind}}}`, `/assets/${path.basename(file)}`);
  }
  await writeFile(path.join(staging, `${name}.html`), html);
}
await writeFile(path.join(assets, "favicon.svg"), FAVICON);

// Swap the new build in at once: a running service never serves half of one.
await rm(dist, { recursive: true, force: true });
await rename(staging, dist);
console.log(`web: built dist/ (GraphiQL and the SPA) in ${Date.now() - started} ms`);

async function extractDataUrls(cssFile) {
  const css = await readFile(cssFile, "utf8");
  const pattern = /url\((["']?)data:([a-z0-9.+/-]+);base64,([A-Za-z0-9+/=]+)\1\)/gi;
  const extensions = { "font/woff2": "woff2", "font/woff": "woff", "image/png": "png",
    "image/svg+xml": "svg", "image/gif": "gif", "image/jpeg": "jpg" };
  const files = new Map();
  const rewritten = css.replace(pattern, (_match, _quote, type, data) => {
    const bytes = Buffer.from(data, "base64");
    const digest = createHash("sha256").update(bytes).digest("hex").slice(0, 12);
    const name = `inline-${digest}.${extensions[type.toLowerCase()] ?? "bin"}`;
    files.set(name, bytes);
    return `url(/assets/${name})`;
  });
  for (const [name, bytes] of files) await writeFile(path.join(assets, name), bytes);
  await writeFile(cssFile, rewritten);
}
