// validate.mjs: checks meshctl render's output with maintained validators: every Kubernetes
// object against the Kubernetes API schemas (kubernetes-models), and for unknown fields, which
// those schemas allow but the API server's strict field validation (kubectl's default) refuses,
// against kubernetes-models' types (TypeScript's excess property check); cert-manager's Issuers
// and Certificates, which have no such model, by a check of their shape; compose.yml (and
// compose.postgres.yml, alone and merged over it) against the Compose specification's JSON
// schema (the copy dclint ships, with ajv); the ECS render's
// CloudFormation template against the CloudFormation resource specification (@aws-cdk/cfnspec,
// by cfn.mjs).
//
// usage: node tests/renders/validate.mjs TARGET DIR [TARGET DIR...]
//        (TARGET: kubernetes|compose|ecs)
//
// Installs its pinned dependencies (package-lock.json) itself, once, into a cache outside the
// checkout: $CLEAVE_RENDERS_CACHE, else $XDG_CACHE_HOME/cleave/renders, else
// ~/.cache/cleave/renders, in a directory named after the lock's hash (a changed lock installs
// anew; checkouts and build trees share one install).
// Exit status: 0 every file valid; 1 a file invalid (each problem on a line: file, document,
// object, property, what is wrong) or the install failed for a reason of its own; 77 the
// validators cannot be had here (no npm, or the registry unreachable): the caller skips; 2 usage.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { cloudformation } from "./cfn.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const SKIP = 77;

// What npm prints when it cannot reach the registry (as opposed to a broken lock or package).
const UNREACHABLE =
  /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT|E502|E503|E504)\b|npm error network/;

// give_up prints why (one line: the caller reports the last) and exits with status.
function give_up(status, why) {
  console.log(why);
  process.exit(status);
}

// cache_dir is where the dependencies of this package-lock.json are (or go): under the cache,
// or the temporary directory where the cache cannot be written.
function cache_dir() {
  let base =
    process.env.CLEAVE_RENDERS_CACHE ||
    path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "cleave", "renders");
  try {
    fs.mkdirSync(base, { recursive: true });
    fs.accessSync(base, fs.constants.W_OK);
  } catch {
    base = path.join(os.tmpdir(), `cleave-renders-${os.userInfo().uid}`);
  }
  const hash = createHash("sha256");
  for (const f of ["package.json", "package-lock.json"])
    hash.update(fs.readFileSync(path.join(here, f)));
  return path.join(base, hash.digest("hex").slice(0, 16));
}

// install makes sure the locked dependencies are in dir (npm ci into a fresh directory, renamed
// into place when complete, so a concurrent or interrupted run never sees half an install).
function install(dir) {
  const stamp = path.join(dir, "installed");
  if (fs.existsSync(stamp))
    return;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  for (const f of ["package.json", "package-lock.json"])
    fs.copyFileSync(path.join(here, f), path.join(tmp, f));
  console.log(`validate: installing the validators (npm ci) into ${dir}`);
  const r = spawnSync(
    "npm",
    ["ci", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund",
      "--fetch-retries=1", "--fetch-timeout=30000"],
    { cwd: tmp, encoding: "utf8", timeout: 180000 });
  const out = `${r.stdout || ""}${r.stderr || ""}`;
  if (r.error || r.status !== 0)
    fs.rmSync(tmp, { recursive: true, force: true });
  if (r.error && r.error.code === "ENOENT")
    give_up(SKIP, "validate: npm is not installed, so the validators cannot be (see infra/deps.sh)");
  if (r.error && r.error.code === "ETIMEDOUT")
    give_up(SKIP, "validate: npm ci did not finish in 180 s: is the npm registry reachable?");
  if (r.error)
    give_up(1, `validate: npm ci: ${r.error.message}`);
  if (r.status !== 0) {
    console.log(out.trim());
    if (UNREACHABLE.test(out))
      give_up(SKIP, "validate: npm ci cannot reach the npm registry (see above)");
    give_up(1, `validate: npm ci failed (exit ${r.status}; see above)`);
  }
  fs.writeFileSync(path.join(tmp, "installed"), "");
  try {
    fs.renameSync(tmp, dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true }); /* another run installed it first */
    if (!fs.existsSync(stamp))
      throw e;
  }
}

const problems = [];

// problem records one: where (file, document, object) and what.
function problem(where, what) {
  problems.push(`${where}: ${what}`);
}

// documents parses file's YAML documents (reporting syntax errors) and returns them as plain
// values.
function documents(file, YAML) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  const out = [];
  docs.forEach((d, i) => {
    for (const e of d.errors)
      problem(`${file}: document ${i + 1}`, `YAML: ${e.message}`);
    if (d.errors.length === 0 && d.contents !== null)
      out.push(d.toJS());
  });
  return out;
}

// ajv_problem says what one ajv error means, naming the property.
function ajv_problem(e) {
  const at = e.instancePath || "/";
  if (e.keyword === "additionalProperties")
    return `${at}: unknown property '${e.params.additionalProperty}'`;
  if (e.keyword === "required")
    return `${at}: missing property '${e.params.missingProperty}'`;
  if (e.keyword === "enum")
    return `${at}: ${e.message} (${e.params.allowedValues.join(", ")})`;
  return `${at}: ${e.message}`;
}

// The keys of a kustomization that meshctl renders, and of one of its secretGenerator entries.
const KUSTOMIZATION_KEYS = ["apiVersion", "kind", "resources", "generatorOptions", "secretGenerator"];
const GENERATOR_KEYS = ["name", "type", "files"];

// kustomization checks one kustomization.yaml, which kubernetes-models does not cover (it is
// kustomize's, not the API's): its kind and keys, that each resource is a file of its directory
// or a directory holding a kustomization, and that each secretGenerator entry makes a
// kubernetes.io/tls Secret from files under tls/, or (store/, with PostgreSQL stores) an Opaque
// Secret <name>-store whose one key, url, is the file <name>.url beside the kustomization.
// Returns the resources' paths, resolved.
function kustomization(dir, file, doc) {
  const where = `${file}: Kustomization`;
  if (doc.apiVersion !== "kustomize.config.k8s.io/v1beta1" || doc.kind !== "Kustomization")
    problem(where, `apiVersion/kind is ${doc.apiVersion}/${doc.kind}`);
  for (const k of Object.keys(doc))
    if (!KUSTOMIZATION_KEYS.includes(k))
      problem(where, `/${k}: not a key meshctl renders`);
  const resources = (doc.resources || []).map((r) => path.resolve(dir, r));
  resources.forEach((r, i) => {
    const ok = fs.existsSync(r) && (fs.statSync(r).isFile() ||
      fs.existsSync(path.join(r, "kustomization.yaml")));
    if (!ok)
      problem(where, `/resources/${i}: ${doc.resources[i]} is no file, nor a directory with a kustomization.yaml`);
  });
  (doc.secretGenerator || []).forEach((g, i) => {
    const at = `/secretGenerator/${i}`;
    for (const k of Object.keys(g))
      if (!GENERATOR_KEYS.includes(k))
        problem(where, `${at}/${k}: not a key meshctl renders`);
    const store = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?)-store$/.exec(String(g.name));
    if (store && g.type === "Opaque") {
      const files = (g.files || []).map(String);
      if (files.length !== 1 || !/^url=[A-Za-z0-9_.-]+\.url$/.test(files[0]) ||
        files[0].replace(/_/g, "-") !== `url=${store[1]}.url`)
        problem(where, `${at}/files: [${files.join(", ")}], not [url=${store[1]}.url]`);
      return;
    }
    if (g.type !== "kubernetes.io/tls")
      problem(where, `${at}/type: ${g.type}, not kubernetes.io/tls`);
    const keys = (g.files || []).map((f) => String(f).split("=")[0]).sort();
    if (JSON.stringify(keys) !== JSON.stringify(["ca.crt", "tls.crt", "tls.key"]))
      problem(where, `${at}/files: makes ${keys.join(", ")}, not ca.crt, tls.crt, tls.key`);
    for (const f of g.files || [])
      if (!/^[a-z.]+=tls\/[A-Za-z0-9_.-]+\.(crt|key)$/.test(String(f)) || /ca\.key$/.test(String(f)))
        problem(where, `${at}/files: '${f}' is not KEY=tls/FILE of meshctl certs (never ca.key)`);
  });
  return resources;
}

// cert-manager's kinds have no kubernetes-models model: a minimal check of what meshctl renders
// of them (cert-manager.io/v1), with the values cert-manager accepts.
const CERT_USAGES = ["signing", "digital signature", "content commitment", "key encipherment",
  "key agreement", "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only",
  "any", "server auth", "client auth", "code signing", "email protection", "s/mime",
  "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
  "microsoft sgc", "netscape sgc"];
const CERT_SPEC = ["secretName", "commonName", "dnsNames", "duration", "renewBefore", "usages",
  "privateKey", "issuerRef", "isCA"];
const GO_DURATION = /^([0-9]+(\.[0-9]+)?(h|m|s|ms))+$/;

function cert_manager(where, doc, issuers) {
  const spec = doc.spec || {};
  const known = (obj, keys, at) => {
    for (const k of Object.keys(obj || {}))
      if (!keys.includes(k))
        problem(where, `${at}/${k}: not a field of cert-manager.io/v1 ${doc.kind}`);
  };
  if (doc.apiVersion !== "cert-manager.io/v1")
    return problem(where, `apiVersion ${doc.apiVersion}, not cert-manager.io/v1`);
  known(doc, ["apiVersion", "kind", "metadata", "spec"], "");
  known(doc.metadata, ["name", "labels"], "/metadata");
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(doc.metadata?.name ?? ""))
    problem(where, "/metadata/name: not a DNS label");
  if (doc.kind === "Issuer") {
    known(spec, ["selfSigned", "ca"], "/spec");
    if (Object.keys(spec).length !== 1)
      problem(where, "/spec: wants exactly one of selfSigned, ca");
    if (spec.ca !== undefined && typeof spec.ca?.secretName !== "string")
      problem(where, "/spec/ca/secretName: missing");
    return;
  }
  if (doc.kind !== "Certificate")
    return problem(where, `no kind ${doc.kind} in cert-manager.io/v1 (Issuer, Certificate)`);
  known(spec, CERT_SPEC, "/spec");
  if (typeof spec.secretName !== "string" || spec.secretName === "")
    problem(where, "/spec/secretName: missing");
  if (typeof spec.commonName !== "string" || spec.commonName.length < 1 || spec.commonName.length > 64)
    problem(where, "/spec/commonName: wants 1 to 64 characters");
  for (const k of ["duration", "renewBefore"])
    if (spec[k] !== undefined && !GO_DURATION.test(String(spec[k])))
      problem(where, `/spec/${k}: '${spec[k]}' is not a duration`);
  for (const u of spec.usages || [])
    if (!CERT_USAGES.includes(u))
      problem(where, `/spec/usages: '${u}' is not a key usage`);
  known(spec.privateKey, ["algorithm", "size", "rotationPolicy", "encoding"], "/spec/privateKey");
  if (spec.privateKey && !["RSA", "ECDSA", "Ed25519"].includes(spec.privateKey.algorithm))
    problem(where, `/spec/privateKey/algorithm: '${spec.privateKey.algorithm}'`);
  if (spec.privateKey?.algorithm === "ECDSA" && ![256, 384, 521].includes(spec.privateKey.size))
    problem(where, `/spec/privateKey/size: ${spec.privateKey.size} is no ECDSA size`);
  known(spec.issuerRef, ["name", "kind", "group"], "/spec/issuerRef");
  if (spec.issuerRef?.kind !== "Issuer" || spec.issuerRef?.group !== "cert-manager.io" ||
    !issuers.has(spec.issuerRef?.name))
    problem(where, `/spec/issuerRef: names no Issuer of this directory (${spec.issuerRef?.name})`);
  if (!spec.isCA && !(spec.dnsNames || []).includes(spec.commonName))
    problem(where, "/spec/dnsNames: lacks the commonName");
}

// Every Kubernetes object that has a model, for strict_fields: where it is (file, document, kind
// and name), its apiVersion, kind and content.
const objects = [];

// strict_fields type-checks every object of objects against its model's TypeScript type, which
// lists every field the API has: a field it does not know (a misspelt key) is an error, as in
// the API server's strict field validation. The program is written into the cache, where its
// imports resolve.
function strict_fields(cache, req) {
  if (objects.length === 0)
    return;
  const ts = req("typescript");
  const tmp = fs.mkdtempSync(path.join(cache, "check-"));
  const file = path.join(tmp, "objects.ts");
  const starts = [];
  let text = "", line = 0;
  objects.forEach((o, i) => {
    const body = `import type { I${o.kind} as T${i} } from "kubernetes-models/${o.apiVersion}/${o.kind}";\n` +
      `export const o${i}: T${i} = ${JSON.stringify(o.object, null, 1)};\n`;
    starts.push(line);
    line += body.split("\n").length - 1;
    text += body;
  });
  fs.writeFileSync(file, text);
  const program = ts.createProgram([file], {
    noEmit: true, strict: true, skipLibCheck: true, types: [],
    module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16,
  });
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, " ");
    if (d.file === undefined || path.resolve(d.file.fileName) !== file) {
      problem("strict fields", msg);
      continue;
    }
    const at = d.file.getLineAndCharacterOfPosition(d.start).line;
    let i = starts.length - 1;
    while (i > 0 && starts[i] > at)
      i--;
    problem(objects[i].where, msg);
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

// pod_secrets collects the Secrets the pods of a Deployment use: those they mount, and those
// their containers' variables come from (a store URL's secretKeyRef, an envFrom).
function pod_secrets(doc, into) {
  const pod = doc.spec?.template?.spec || {};
  for (const v of pod.volumes || [])
    if (v.secret?.secretName)
      into.add(v.secret.secretName);
  for (const c of [...(pod.initContainers || []), ...(pod.containers || [])]) {
    for (const e of c.env || [])
      if (e.valueFrom?.secretKeyRef?.name)
        into.add(e.valueFrom.secretKeyRef.name);
    for (const e of c.envFrom || [])
      if (e.secretRef?.name)
        into.add(e.secretRef.name);
  }
}

// kubernetes validates a rendered directory: every kustomization.yaml in it (the root's, and
// those of its subdirectories), and every document of the files they list, Kubernetes objects
// against the API's schema of their apiVersion and kind (kept for strict_fields), cert-manager's
// by shape. Each kustomization that makes Secrets (a secretGenerator, or cert-manager
// Certificates) and has pods must make exactly those its pods use (one that only makes Secrets,
// such as store/, is checked with the kustomizations that include it).
function kubernetes(dir, req, YAML) {
  let n = 0;
  const listed = new Set(), parsed = new Map();
  // load parses a file's documents once, validating each the first time
  const load = (file) => {
    if (parsed.has(file))
      return parsed.get(file);
    const docs = documents(file, YAML);
    const issuers = new Set(docs.filter((d) => d.kind === "Issuer").map((d) => d.metadata?.name));
    docs.forEach((doc, i) => {
      const kind = `${doc.apiVersion}/${doc.kind}`;
      const where = `${file}: document ${i + 1} (${doc.kind} ${doc.metadata?.name ?? "?"})`;
      n++;
      if (String(doc.apiVersion).startsWith("cert-manager.io/"))
        return cert_manager(where, doc, issuers);
      let Model;
      try {
        Model = req(`kubernetes-models/${kind}`)[doc.kind];
      } catch {
        Model = undefined;
      }
      if (Model === undefined || Model.apiVersion !== doc.apiVersion || Model.kind !== doc.kind)
        return problem(where, `no kind ${kind} in the Kubernetes API`);
      objects.push({ where, apiVersion: doc.apiVersion, kind: doc.kind, object: doc });
      try {
        new Model(doc).validate();
      } catch (e) {
        for (const err of e.errors ?? [{ instancePath: "", message: e.message }])
          problem(where, ajv_problem(err));
      }
    });
    parsed.set(file, docs);
    return docs;
  };
  // build follows a kustomization and its resources: the Secrets its pods mount and those it
  // makes
  const build = (kdir) => {
    const file = path.join(kdir, "kustomization.yaml");
    const k = documents(file, YAML)[0] || {};
    n++;
    listed.add(file);
    const out = { mounted: new Set(), made: new Set(), ca: new Set(), pods: false };
    for (const g of k.secretGenerator || [])
      out.made.add(g.name);
    for (const r of kustomization(kdir, file, k)) {
      if (fs.existsSync(path.join(r, "kustomization.yaml"))) {
        const sub = build(r);
        sub.mounted.forEach((x) => out.mounted.add(x));
        sub.made.forEach((x) => out.made.add(x));
        sub.ca.forEach((x) => out.ca.add(x));
        out.pods ||= sub.pods;
        continue;
      }
      if (!fs.existsSync(r))
        continue;
      listed.add(r);
      for (const doc of load(r)) {
        if (doc.kind === "Deployment") {
          out.pods = true;
          pod_secrets(doc, out.mounted);
        }
        if (doc.kind === "Certificate")
          (doc.spec?.isCA ? out.ca : out.made).add(doc.spec?.secretName);
      }
    }
    // the kustomizations that make Secrets must make what their pods use, and no more (a CA's
    // own Secret aside)
    if (out.made.size > 0 && out.pods) {
      const want = [...out.mounted].sort();
      const got = [...out.made].filter((x) => !out.ca.has(x)).sort();
      if (JSON.stringify(want) !== JSON.stringify(got))
        problem(`${file}: Kustomization`,
          `makes the Secrets ${got.join(", ")}, its pods use ${want.join(", ")}`);
    }
    return out;
  };
  const roots = [dir, ...fs.readdirSync(dir).map((d) => path.join(dir, d)).filter((d) =>
    fs.statSync(d).isDirectory() && fs.existsSync(path.join(d, "kustomization.yaml")))];
  for (const r of roots)
    if (fs.existsSync(path.join(r, "kustomization.yaml")))
      build(r);
    else
      problem(r, "no kustomization.yaml");
  // every file of the tree is some kustomization's (certificates aside, nothing is left out)
  const walk = (d) => fs.readdirSync(d).flatMap((f) => {
    const p = path.join(d, f);
    return fs.statSync(p).isDirectory() ? walk(p) : p.endsWith(".yaml") ? [p] : [];
  });
  for (const f of walk(dir))
    if (!listed.has(f))
      problem(f, "listed by no kustomization.yaml");
  if (n === 0)
    problem(dir, "no Kubernetes object");
  return n;
}

// compose_merge is over merged onto base as compose merges files given with -f: mappings key
// by key, sequences appended, anything else replaced (enough for what the renders merge).
function compose_merge(base, over) {
  if (Array.isArray(base) && Array.isArray(over))
    return [...base, ...over];
  if (base && over && typeof base === "object" && typeof over === "object" &&
    !Array.isArray(base) && !Array.isArray(over)) {
    const out = { ...base };
    for (const [k, v] of Object.entries(over))
      out[k] = k in base ? compose_merge(base[k], v) : v;
    return out;
  }
  return over;
}

// compose validates dir/compose.yml against the Compose specification; and where the render
// made one, dir/compose.postgres.yml, alone and merged over compose.yml, which must then run
// the same containers plus the database (it adds to them, never one of its own).
function compose(dir, req, YAML) {
  const Ajv = req("ajv");
  const schema = JSON.parse(fs.readFileSync(path.join(
    path.dirname(req.resolve("dclint/package.json")), "schemas", "compose.schema.json")));
  delete schema.$schema; /* draft-07, ajv's own, named by an address ajv does not know */
  const ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true });
  const valid = ajv.compile(schema);
  const check = (what, doc) => {
    if (!valid(doc))
      for (const e of valid.errors)
        problem(`${what}: compose file`, ajv_problem(e));
  };
  const one = (file) => {
    const docs = documents(file, YAML);
    if (docs.length !== 1)
      problem(file, `${docs.length} YAML documents, not 1`);
    docs.forEach((doc) => check(file, doc));
    return docs;
  };
  const file = path.join(dir, "compose.yml");
  const base = one(file);
  const over_file = path.join(dir, "compose.postgres.yml");
  if (!fs.existsSync(over_file))
    return base.length;
  const over = one(over_file);
  if (base.length !== 1 || over.length !== 1)
    return base.length + over.length;
  const merged = compose_merge(base[0], over[0]);
  check(`${file} + ${over_file} (merged)`, merged);
  for (const name of Object.keys(over[0].services || {}))
    if (!(name in (base[0].services || {})) && !over[0].services[name].image)
      problem(over_file, `service ${name} is in no compose.yml and has no image`);
  return base.length + over.length + 1;
}

// ecs validates dir/template.yml, read as CloudFormation reads YAML (version 1.1), against the
// CloudFormation resource specification.
function ecs(dir, req, YAML) {
  const file = path.join(dir, "template.yml");
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"), { version: "1.1" });
  if (docs.length !== 1)
    return problem(file, `${docs.length} YAML documents, not 1`), 0;
  for (const e of docs[0].errors)
    problem(file, `YAML: ${e.message}`);
  if (docs[0].errors.length > 0)
    return 0;
  return cloudformation(file, docs[0].toJS(), req("@aws-cdk/cfnspec").specification(), problem);
}

const args = process.argv.slice(2);
const targets = { kubernetes, compose, ecs };
if (args.length === 0 || args.length % 2 !== 0 ||
  args.some((a, i) => i % 2 === 0 && !(a in targets)))
  give_up(2, "usage: node validate.mjs kubernetes|compose|ecs DIR [kubernetes|compose|ecs DIR...]");
const dir = cache_dir();
install(dir);
const req = createRequire(path.join(dir, "package.json"));
const YAML = req("yaml");
for (let i = 0; i < args.length; i += 2) {
  const n = targets[args[i]](args[i + 1], req, YAML);
  console.log(`validate: ${args[i]} ${args[i + 1]}: ${n} ${args[i] === "ecs" ? "resource" : "document"}(s) checked`);
}
strict_fields(dir, req);
for (const p of problems)
  console.log(p);
if (problems.length > 0)
  give_up(1, `validate: ${problems.length} problem(s)`);
console.log("validate: every document is valid");
