// npm_deps.mjs: a test tool's pinned npm dependencies (its package.json and package-lock.json),
// installed once into a cache outside the checkout, or the reason they cannot be had here.
//
// The cache is $<envVar>, else $XDG_CACHE_HOME/cleave/<name>, else ~/.cache/cleave/<name> (the
// temporary directory where that cannot be written), in a directory named after the lock's hash:
// a changed lock installs anew, and checkouts and build trees share one install.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

// SKIP: the exit status that tells the calling test to skip (ctest's SKIP_RETURN_CODE).
export const SKIP = 77;

// What npm prints when it cannot reach the registry (as opposed to a broken lock or package).
const UNREACHABLE =
  /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT|E502|E503|E504)\b|npm error network/;

// give_up prints why (one line: the caller reports the last) and exits with status.
export function give_up(status, why) {
  console.log(why);
  process.exit(status);
}

// cache_dir is where the dependencies of dir's package-lock.json are (or go).
function cache_dir(dir, name, envVar) {
  let base = process.env[envVar] ||
    path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "cleave", name);
  try {
    fs.mkdirSync(base, { recursive: true });
    fs.accessSync(base, fs.constants.W_OK);
  } catch {
    base = path.join(os.tmpdir(), `cleave-${name}-${os.userInfo().uid}`);
  }
  const hash = createHash("sha256");
  for (const f of ["package.json", "package-lock.json"])
    hash.update(fs.readFileSync(path.join(dir, f)));
  return path.join(base, hash.digest("hex").slice(0, 16));
}

// npm_deps makes sure the locked dependencies of the package in dir are installed (npm ci into a
// fresh directory, renamed into place when complete, so a concurrent or interrupted run never
// sees half an install) and returns the directory holding their node_modules. Where npm is
// missing or the registry cannot be reached it exits with SKIP, saying why; on another failure,
// with 1.
export function npm_deps(dir, name, envVar) {
  const target = cache_dir(dir, name, envVar);
  if (fs.existsSync(path.join(target, "installed")))
    return target;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmp = fs.mkdtempSync(`${target}.tmp-`);
  for (const f of ["package.json", "package-lock.json"])
    fs.copyFileSync(path.join(dir, f), path.join(tmp, f));
  console.log(`${name}: installing the pinned npm packages (npm ci) into ${target}`);
  const r = spawnSync(
    "npm",
    ["ci", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund",
      "--fetch-retries=1", "--fetch-timeout=30000"],
    { cwd: tmp, encoding: "utf8", timeout: 180000 });
  const out = `${r.stdout || ""}${r.stderr || ""}`;
  if (r.error || r.status !== 0)
    fs.rmSync(tmp, { recursive: true, force: true });
  if (r.error && r.error.code === "ENOENT")
    give_up(SKIP, `${name}: npm is not installed, so its packages cannot be (see infra/deps.sh)`);
  if (r.error && r.error.code === "ETIMEDOUT")
    give_up(SKIP, `${name}: npm ci did not finish in 180 s: is the npm registry reachable?`);
  if (r.error)
    give_up(1, `${name}: npm ci: ${r.error.message}`);
  if (r.status !== 0) {
    console.log(out.trim());
    if (UNREACHABLE.test(out))
      give_up(SKIP, `${name}: npm ci cannot reach the npm registry (see above)`);
    give_up(1, `${name}: npm ci failed (exit ${r.status}; see above)`);
  }
  fs.writeFileSync(path.join(tmp, "installed"), "");
  try {
    fs.renameSync(tmp, target);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true }); // another run installed it first
    if (!fs.existsSync(path.join(target, "installed")))
      throw e;
  }
  return target;
}
