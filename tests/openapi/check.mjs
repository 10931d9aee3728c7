// check.mjs: the OpenAPI document put through maintained npm tools: linted by Redocly CLI (its
// recommended rules, redocly.yaml; a warning fails too), and made into a typed client
// (openapi-typescript's types for openapi-fetch) that client.ts drives, type-checked by tsc.
//
// usage: node tests/openapi/check.mjs lint DOC
//        node tests/openapi/check.mjs build DOC
//
// build generates DIR/api.ts from DOC, type-checks client.ts against it and compiles it into
// DIR/out/client.js, then prints "built: DIR" last: run `node DIR/out/client.js PHASE` (see
// client.ts) and remove DIR after. DIR is in the packages' cache, where the imports resolve.
// The pinned packages (package-lock.json) are installed the first time, into
// $CLEAVE_OPENAPI_CACHE, else ~/.cache/cleave/openapi (tests/support/npm_deps.mjs).
// Exit status: 0 valid and built; 1 a problem (each on a line); 77 the tools cannot be had here
// (no npm, or the registry unreachable): the caller skips; 2 usage.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { give_up, npm_deps } from "../support/npm_deps.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const quiet = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true",
  NO_COLOR: "1" };

// run runs a package's script with node and returns spawnSync's result (stdout and stderr
// together in out).
function run(deps, script, args, cwd) {
  const r = spawnSync(process.execPath, [path.join(deps, "node_modules", script), ...args],
    { cwd, env: quiet, encoding: "utf8", timeout: 120000 });
  r.out = `${r.stdout || ""}${r.stderr || ""}`.trim();
  if (r.error)
    give_up(1, `${script}: ${r.error.message}`);
  return r;
}

// lint lints doc with Redocly's recommended rules (redocly.yaml) and fails on any problem,
// warnings included.
function lint(deps, doc) {
  const r = run(deps, "@redocly/cli/bin/cli.js",
    ["lint", doc, "--config", path.join(here, "redocly.yaml"), "--format", "json"], deps);
  let report;
  try {
    report = JSON.parse(r.stdout.slice(r.stdout.indexOf("{")));
  } catch {
    give_up(1, `lint: redocly exited ${r.status} without a report:\n${r.out}`);
  }
  for (const p of report.problems) {
    const at = (p.location || []).map((l) => l.pointer).join(", ");
    console.log(`${doc}: ${p.severity} ${p.ruleId}: ${at}: ${p.message}`);
  }
  if (report.problems.length > 0 || r.status !== 0)
    give_up(1, `lint: ${report.totals.errors} errors, ${report.totals.warnings} warnings ` +
      `(redocly ${report.version}, exit ${r.status})`);
  console.log(`lint: ${doc} is valid OpenAPI (redocly ${report.version}, recommended rules)`);
}

// build generates the client's types from doc and compiles client.ts with them.
function build(deps, doc) {
  for (const old of fs.readdirSync(deps).filter((f) => f.startsWith("client-"))) {
    const full = path.join(deps, old); // what an interrupted run left, after a day
    if (Date.now() - fs.statSync(full).mtimeMs > 86400000)
      fs.rmSync(full, { recursive: true, force: true });
  }
  const dir = fs.mkdtempSync(path.join(deps, "client-"));
  let r = run(deps, "openapi-typescript/bin/cli.js", [path.resolve(doc), "-o",
    path.join(dir, "api.ts")], dir);
  if (r.status !== 0)
    give_up(1, `build: openapi-typescript exited ${r.status}:\n${r.out}`);
  fs.copyFileSync(path.join(here, "client.ts"), path.join(dir, "client.ts"));
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
  fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({
    compilerOptions: {
      strict: true, noUncheckedIndexedAccess: true, noEmitOnError: true, skipLibCheck: true,
      target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", types: ["node"],
      rootDir: ".", outDir: "out",
    },
    files: ["client.ts", "api.ts"],
  }, null, 1));
  r = run(deps, "typescript/bin/tsc", ["-p", dir], dir);
  if (r.status !== 0)
    give_up(1, `build: tsc found errors in client.ts against the types of ${doc}:\n${r.out}`);
  console.log(`built: ${dir}`);
}

const [cmd, doc] = process.argv.slice(2);
if (!["lint", "build"].includes(cmd) || doc === undefined || process.argv.length !== 4) {
  console.error("usage: node tests/openapi/check.mjs lint|build DOC");
  process.exit(2);
}
if (!fs.existsSync(doc))
  give_up(1, `${doc}: no such file`);
const deps = npm_deps(here, "openapi", "CLEAVE_OPENAPI_CACHE");
if (cmd === "lint")
  lint(deps, doc);
else
  build(deps, doc);
